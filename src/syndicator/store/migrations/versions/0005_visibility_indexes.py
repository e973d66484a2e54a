"""Indexes that cover the visibility rule in feed order; a revision counter per category.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("categories") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_articles_status_published_at_id", "articles", ["status", "published_at", "id"])
    op.create_index(
        "ix_articles_status_category_slug_published_at_id",
        "articles",
        ["status", "category_slug", "published_at", "id"],
    )


def downgrade() -> None:
    with op.batch_alter_table("categories") as batch:
        batch.drop_column("revision")
    op.drop_index("ix_articles_status_category_slug_published_at_id", "articles")
    op.drop_index("ix_articles_status_published_at_id", "articles")
