"""Subscribers' status history (issue 14, the console): table subscriber_events.

Existing subscribers get the history their row still tells: a first status when created (confirmed when
confirmed at once, else pending), their confirmation, and the status they stand in now when that is
neither (unsubscribed at unsubscribed_at, bounced or pending again at their last change). Downgrade
drops the table (the history is lost; older code keeps none).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syndicator.store.schema import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# the status the first two backfilled events leave a row in
_AFTER_CONFIRMATION = "CASE WHEN confirmed_at IS NOT NULL THEN 'confirmed' ELSE 'pending' END"


def upgrade() -> None:
    op.create_table(
        "subscriber_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cause", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscriber_events"),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscribers.id"], name="fk_subscriber_events_subscriber_id_subscribers"
        ),
    )
    op.create_index("ix_subscriber_events_subscriber_id_at", "subscriber_events", ["subscriber_id", "at"])
    op.create_index("ix_subscriber_events_at", "subscriber_events", ["at"])
    # three passes in time order, so that events of one moment keep this order by id
    op.execute(
        "INSERT INTO subscriber_events (subscriber_id, at, status, cause) "
        "SELECT id, created_at, CASE WHEN confirmed_at IS NOT NULL AND confirmed_at <= created_at "
        "THEN 'confirmed' ELSE 'pending' END, source FROM subscribers ORDER BY id"
    )
    op.execute(
        "INSERT INTO subscriber_events (subscriber_id, at, status, cause) "
        "SELECT id, confirmed_at, 'confirmed', source FROM subscribers "
        "WHERE confirmed_at IS NOT NULL AND confirmed_at > created_at ORDER BY id"
    )
    op.execute(
        "INSERT INTO subscriber_events (subscriber_id, at, status, cause) "
        "SELECT id, CASE WHEN status = 'unsubscribed' THEN COALESCE(unsubscribed_at, updated_at) "
        "ELSE updated_at END, status, "
        "CASE status WHEN 'unsubscribed' THEN 'unsubscribe' WHEN 'bounced' THEN 'bounce' ELSE source END "
        f"FROM subscribers WHERE status <> {_AFTER_CONFIRMATION} ORDER BY id"
    )


def downgrade() -> None:
    op.drop_table("subscriber_events")
