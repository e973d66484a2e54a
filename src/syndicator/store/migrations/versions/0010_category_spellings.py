"""A category's shown name is the best spelling its articles carry, not the first one seen: each article
keeps its own spelling (articles.category_name), and category_spellings counts the articles (not
withdrawn) behind each spelling.

Backfill: articles imported before this revision never had their own spelling stored, only their
category's first name. They count under that name until imported again: an unchanged article whose
stored spelling differs from the one it arrives with gets its own back (store/articles.py). Names do
not change here; the next articles with another spelling decide (store/categories.py).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("category_name", sa.String(200)))
    op.execute(
        "UPDATE articles SET category_name = "
        "(SELECT categories.name FROM categories WHERE categories.slug = articles.category_slug)"
    )
    with op.batch_alter_table("articles") as batch:
        batch.alter_column("category_name", existing_type=sa.String(200), nullable=False)
    op.create_table(
        "category_spellings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("slug", sa.String(80), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("articles", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["slug"], ["categories.slug"], name="fk_category_spellings_slug_categories"),
        sa.PrimaryKeyConstraint("id", name="pk_category_spellings"),
        sa.UniqueConstraint("slug", "name", name="uq_category_spellings_slug_name"),
    )
    # every category gets its row, an emptied one (all withdrawn) at zero
    op.execute(
        "INSERT INTO category_spellings (slug, name, articles) "
        "SELECT categories.slug, categories.name, "
        "(SELECT COUNT(*) FROM articles WHERE articles.category_slug = categories.slug "
        "AND articles.status <> 'withdrawn') "
        "FROM categories ORDER BY categories.created_at, categories.slug"
    )


def downgrade() -> None:
    op.drop_table("category_spellings")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("category_name")
