"""Every delivery attempt of a mail, with the server's reply (issue 14, the console).

A new table only: nothing existing changes. Downgrade drops it (the history of attempts is lost; the
outbox keeps each mail's status, attempt count and last error as before).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syndicator.store.schema import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("code", sa.Integer()),
        sa.Column("reply", sa.String(500)),
        sa.Column("claimant", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name="pk_mail_attempts"),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name="fk_mail_attempts_outbox_id_outbox", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_mail_attempts_outbox_id", "mail_attempts", ["outbox_id"])
    op.create_index("ix_mail_attempts_at_outcome", "mail_attempts", ["at", "outcome"])


def downgrade() -> None:
    op.drop_table("mail_attempts")
