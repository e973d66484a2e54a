"""The officials file's entries apart from residents' own subscriptions (table officials).

Addresses the office lists today (subscribers with source "config" that are not unsubscribed) become
listed entries with no own subscription: what a resident had chosen before was overwritten already.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syndicator.store.schema import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "officials",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("listed_at", UTCDateTime(), nullable=False),
        sa.Column("own_status", sa.String(16)),
        sa.Column("own_source", sa.String(16)),
        sa.Column("own_name", sa.String(200)),
        sa.Column("own_categories", sa.Text()),
        sa.Column("own_frequency", sa.String(16)),
        sa.Column("own_confirmed_at", UTCDateTime()),
        sa.Column("own_confirmed_ip", sa.String(64)),
        sa.Column("own_unsubscribed_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("subscriber_id", name="pk_officials"),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscribers.id"], name="fk_officials_subscriber_id_subscribers"
        ),
    )
    op.execute(
        "INSERT INTO officials (subscriber_id, listed_at) "
        "SELECT id, updated_at FROM subscribers WHERE source = 'config' AND status <> 'unsubscribed'"
    )


def downgrade() -> None:
    # the rows keep the office's entries (as before this revision); residents' own choices are lost
    op.drop_table("officials")
