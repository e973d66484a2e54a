"""Digests assembled from per-category parts; claim times on outbox rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syndicator.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("parts", sa.Text()))
        batch.add_column(sa.Column("claimed_at", UTCDateTime()))
    op.create_table(
        "digest_parts",
        sa.Column("body_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(80), nullable=False),
        sa.Column("articles", sa.Integer(), nullable=False),
        sa.Column("text_qp", sa.LargeBinary(), nullable=False),
        sa.Column("html_qp", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["body_id"], ["mail_bodies.id"], name="fk_digest_parts_body_id_mail_bodies"),
        sa.PrimaryKeyConstraint("body_id", "slug", name="pk_digest_parts"),
    )


def downgrade() -> None:
    op.drop_table("digest_parts")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_at")
        batch.drop_column("parts")
