"""Articles, categories and rendered feeds.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syndicator.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("slug", sa.String(80), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("slug", name="pk_categories"),
    )
    op.create_index("ix_categories_changed_at", "categories", ["changed_at"])
    op.create_table(
        "articles",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("category_slug", sa.String(80), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("author", sa.Text()),
        sa.Column("office", sa.Text()),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("url", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_slug"], ["categories.slug"], name="fk_articles_category_slug_categories"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
    )
    op.create_index("ix_articles_category_slug_published_at", "articles", ["category_slug", "published_at"])
    op.create_index("ix_articles_published_at", "articles", ["published_at"])
    op.create_index("ix_articles_changed_at", "articles", ["changed_at"])
    op.create_table(
        "rendered_feeds",
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("etag", sa.String(80), nullable=False),
        sa.Column("last_modified", UTCDateTime(), nullable=False),
        sa.Column("media_type", sa.String(80), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("body_gzip", sa.LargeBinary(), nullable=False),
        sa.Column("built_at", UTCDateTime(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("path", name="pk_rendered_feeds"),
    )


def downgrade() -> None:
    op.drop_table("rendered_feeds")
    op.drop_index("ix_articles_changed_at", "articles")
    op.drop_index("ix_articles_published_at", "articles")
    op.drop_index("ix_articles_category_slug_published_at", "articles")
    op.drop_table("articles")
    op.drop_index("ix_categories_changed_at", "categories")
    op.drop_table("categories")
