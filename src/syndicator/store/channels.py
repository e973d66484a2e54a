"""What the feeds need from the store: a channel's newest entries, its archive pages, and which changed.

A channel is one category (by slug) or ALL of them.
"""

from __future__ import annotations

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


def newest(conn: Connection, key: str, now: datetime, limit: int) -> tuple[list[Article], int]:
    """The newest `limit` visible articles of the channel, newest first, and how many are visible."""
    query = (
        article_select()
        .where(visible(now))
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
        .limit(limit)
    )
    rows = conn.execute(_scoped(query, key)).all()  # type: ignore[call-overload]
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


def changed(
    conn: Connection, since: datetime | None, previous_now: datetime | None, now: datetime
) -> set[str]:
    """Channels whose feeds may differ between `previous_now` and `now` (all of them at first)."""
    if since is None or previous_now is None:
        return {ALL, *conn.execute(select(categories.c.slug)).scalars()}
    keys = set(
        conn.execute(select(categories.c.slug).where(categories.c.changed_at > since - LOOKBACK)).scalars()
    )
    # Scheduled articles whose time came since the last look change their feeds with no write at all.
    keys.update(
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
    if keys:
        keys.add(ALL)
    return keys


def latest_change(conn: Connection) -> datetime | None:
    return conn.execute(select(func.max(categories.c.changed_at))).scalar()
