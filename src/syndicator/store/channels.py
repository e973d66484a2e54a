"""What the feeds need from the store: a channel's newest entries, its archive pages, and which changed.

A channel is one category (by slug) or ALL of them.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from syndicator.model import Article, Status
from syndicator.store.articles import article_select, to_article, visible
from syndicator.store.schema import articles, categories

ALL = "all"
# Rows committed late can carry a changed_at older than the last look; looking back this far
# (and comparing fingerprints, which makes a second look free) means no change is ever missed.
LOOKBACK = timedelta(seconds=30)


def _scoped(query: object, key: str) -> object:
    return query if key == ALL else query.where(articles.c.category_slug == key)  # type: ignore[attr-defined]


def newest(
    conn: Connection, key: str, now: datetime, limit: int, *, count: bool = True
) -> tuple[list[Article], int]:
    """The newest `limit` visible articles of the channel, newest first, and how many are visible
    (-1 with count=False, for a caller that knows the number already)."""
    query = (
        article_select()
        .where(visible(now))
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
        .limit(limit)
    )
    rows = conn.execute(_scoped(query, key)).all()  # type: ignore[call-overload]
    if not count:
        return [to_article(row) for row in rows], -1
    counted = select(func.count()).select_from(articles).where(visible(now))
    total = int(conn.execute(_scoped(counted, key)).scalar_one())  # type: ignore[call-overload]
    return [to_article(row) for row in rows], total


def oldest_first(conn: Connection, key: str, now: datetime, offset: int, limit: int) -> list[Article]:
    """Visible articles in publication order from the oldest: the stable order of archive pages."""
    query = (
        article_select()
        .where(visible(now))
        .order_by(articles.c.published_at.asc(), articles.c.id.asc())
        .offset(offset)
        .limit(limit)
    )
    return [to_article(row) for row in conn.execute(_scoped(query, key))]  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class Changes:
    """What may have changed since the last look: everything (the first look), or the categories
    touched lately with their change stamps, and those with a scheduled article that came due."""

    everything: bool
    stamps: dict[str, int]  # slug -> revision
    due: set[str]


def changes(
    conn: Connection, since: datetime | None, previous_now: datetime | None, now: datetime
) -> Changes:
    if since is None or previous_now is None:
        return Changes(True, {}, set())
    stamps = {
        slug: int(revision)
        for slug, revision in conn.execute(
            select(categories.c.slug, categories.c.revision).where(categories.c.changed_at > since - LOOKBACK)
        )
    }
    # Scheduled articles whose time came since the last look change their feeds with no write at all.
    due = set(
        conn.execute(
            select(articles.c.category_slug)
            .where(
                articles.c.status == Status.PUBLISHED.value,
                articles.c.published_at > previous_now,
                articles.c.published_at <= now,
            )
            .distinct()
        ).scalars()
    )
    return Changes(False, stamps, due)


def names(conn: Connection) -> dict[str, str]:
    """Every category's stored name by slug (no counting: cheap at any size)."""
    return {slug: name for slug, name in conn.execute(select(categories.c.slug, categories.c.name))}


def stream_oldest_first(conn: Connection, key: str, now: datetime) -> Generator[Article, None, None]:
    """Every visible article of the channel in archive order, read once (no OFFSET per page)."""
    query = (
        article_select()
        .where(visible(now))
        .order_by(articles.c.published_at.asc(), articles.c.id.asc())
        .execution_options(yield_per=500)
    )
    result = conn.execute(_scoped(query, key))  # type: ignore[call-overload]
    try:
        for row in result:
            yield to_article(row)
    finally:
        result.close()  # a server-side cursor on PostgreSQL: closed even when the reader stops early
