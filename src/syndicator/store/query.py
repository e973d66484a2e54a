"""The one visibility rule and the one way an article is read, shared by every store module that
reads articles (articles, categories, archives, digest runs, tallies)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, select

from syndicator.model import Article, Category, Status
from syndicator.store.schema import articles, categories


def visible(now: datetime) -> ColumnElement[bool]:
    """THE rule: published and due. Scheduled and withdrawn articles appear nowhere public."""
    return and_(articles.c.status == Status.PUBLISHED.value, articles.c.published_at <= now)


def is_visible(status: str, published_at: datetime, now: datetime) -> bool:
    """The same rule for a row already read: a query that selects by another index (changed_at)
    applies it here, since `visible` in its WHERE would lead the planner onto the status index."""
    return status == Status.PUBLISHED.value and published_at <= now


ARTICLE_COLUMNS = (
    articles.c.id,
    articles.c.title,
    articles.c.category_slug,
    categories.c.name.label("category_name"),
    articles.c.published_at,
    articles.c.updated_at,
    articles.c.body_html,
    articles.c.summary,
    articles.c.author,
    articles.c.office,
    articles.c.url,
    articles.c.status,
    articles.c.changed_at,
    articles.c.available_at,
)


def article_select() -> Any:
    """Every column `to_article` reads, the category's shown name joined in."""
    return select(*ARTICLE_COLUMNS).join(categories, categories.c.slug == articles.c.category_slug)


def to_article(row: Row[Any]) -> Article:
    return Article(
        id=row.id,
        title=row.title,
        category=Category(row.category_slug, row.category_name),
        published_at=row.published_at,
        updated_at=row.updated_at,
        body_html=row.body_html,
        summary=row.summary,
        author=row.author,
        office=row.office,
        url=row.url,
        status=Status(row.status),
        changed_at=row.changed_at,
        available_at=row.available_at,
    )
