"""RFC 5005 archive pages that hold: the page each article of a channel was put on when it left the feed,
and an index on articles (category_slug, changed_at) for the look at what changed in one category.

Filled by the feed builder's first refresh after the upgrade (the full pages come out as they were:
the oldest articles of the channel, in publication order); no data is moved here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_entries",
        sa.Column("feed_key", sa.String(80), nullable=False),
        sa.Column("article_id", sa.String(128), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("feed_key", "article_id", name="pk_archive_entries"),
    )
    op.create_index("ix_archive_entries_feed_key_page", "archive_entries", ["feed_key", "page"])
    op.create_index("ix_articles_category_slug_changed_at", "articles", ["category_slug", "changed_at"])


def downgrade() -> None:
    op.drop_index("ix_articles_category_slug_changed_at", "articles")
    op.drop_index("ix_archive_entries_feed_key_page", "archive_entries")
    op.drop_table("archive_entries")
