"""Drop folder bookkeeping.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syndicator.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drop_files",
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("article_ids", sa.Text(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("path", name="pk_drop_files"),
    )
    op.create_index("ix_rendered_feeds_built_at", "rendered_feeds", ["built_at"])


def downgrade() -> None:
    op.drop_index("ix_rendered_feeds_built_at", "rendered_feeds")
    op.drop_table("drop_files")
