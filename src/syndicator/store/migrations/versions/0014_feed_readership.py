"""Feed readership: polls per feed, day and client family, and what aggregators report (issue 14).

A new table only. Downgrade drops it (the counts are lost; older code keeps none).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syndicator.store.schema import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_readership",
        sa.Column("feed", sa.String(200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("client", sa.String(32), nullable=False),
        sa.Column("polls", sa.BigInteger(), nullable=False),
        sa.Column("not_modified", sa.BigInteger(), nullable=False),
        sa.Column("reported_subscribers", sa.Integer(), nullable=True),
        sa.Column("reported_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("feed", "day", "client", name="pk_feed_readership"),
    )
    op.create_index("ix_feed_readership_day", "feed_readership", ["day"])


def downgrade() -> None:
    op.drop_index("ix_feed_readership_day", table_name="feed_readership")
    op.drop_table("feed_readership")
