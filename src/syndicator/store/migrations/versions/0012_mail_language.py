"""A subscriber has a language, the catalogue their mail is written in; a stored mail body says which
language it is in (a digest's count, "3 new articles", is filled per recipient in that language).

Existing rows get 'vi': every install so far is Vietnamese (its residents signed up on Vietnamese
pages and were mailed in Vietnamese), and every body stored so far was written in Vietnamese.
Downgrade drops both columns: older code mails everyone in Vietnamese.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


TABLES = ("subscribers", "mail_bodies")


def upgrade() -> None:
    # a column with a constant default is added in place on both databases (no table copy)
    for table in TABLES:
        op.add_column(table, sa.Column("language", sa.String(8), nullable=False, server_default="vi"))


def downgrade() -> None:
    # in place too (SQLite 3.35+): a batch copy would drop `subscribers`, which outbox and officials
    # point at, and SQLite's foreign keys refuse that
    for table in TABLES:
        op.drop_column(table, "language")
