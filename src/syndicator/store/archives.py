"""RFC 5005 archive pages as stored assignments: which page of a channel each archived article is on.

A channel (a category's slug, or ALL) shows its newest unarchived articles in its subscription feed;
an article that leaves the feed is put on the channel's newest archive page while that page has room,
else on a new page, and stays there. So a full page never changes its set of articles (a withdrawn
one leaves it shorter), a late article with an old date goes to the newest page instead of shifting
the older ones, and the feed and the pages together hold every visible article exactly once.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, exists, func, select
from sqlalchemy.dialects import sqlite

from syndicator.model import Article
from syndicator.store.channels import ALL
from syndicator.store.database import insert_ignore
from syndicator.store.query import article_select, is_visible, to_article, visible
from syndicator.store.schema import archive_entries, articles

CHUNK = 5000  # rows per INSERT: the first build after the upgrade archives a whole store


def _scoped(query: Select[Any], key: str) -> Select[Any]:
    return query if key == ALL else query.where(articles.c.category_slug == key)


def _not_archived(key: str) -> Any:
    return ~exists().where(archive_entries.c.feed_key == key, archive_entries.c.article_id == articles.c.id)


def unarchived(
    conn: Connection, key: str, now: datetime, *, since: datetime | None, known: Sequence[str] = ()
) -> list[str]:
    """The ids of the channel's visible articles on no archive page, newest first (the feeds' order).

    since=None looks at every article of the channel. Otherwise only where an unarchived one can have
    come from since then: the `known` ids (the feed as last built), articles written since (changed_at)
    and scheduled ones that came due since (published_at), each read on its own index.
    """
    if since is None:
        query = select(articles.c.id).where(visible(now), _not_archived(key))
        return list(conn.execute(_newest_first(_scoped(query, key))).scalars())
    columns = select(articles.c.id, articles.c.published_at, articles.c.status, articles.c.category_slug)
    queries = [
        _scoped(columns.where(articles.c.changed_at > since), key),
        _scoped(columns.where(articles.c.published_at > since, articles.c.published_at <= now), key),
    ]
    if known:  # by id alone: with the category in the WHERE, SQLite reads the whole category instead
        queries.append(columns.where(articles.c.id.in_(list(known))))
    found = {
        row.id
        for query in queries
        for row in conn.execute(query)
        if is_visible(row.status, row.published_at, now) and key in (ALL, row.category_slug)
    }
    found -= _archived(conn, key, sorted(found))
    if not found:
        return []
    # ordered by the database, as the full look above is: both agree on ties of published_at
    ordered = select(articles.c.id).where(articles.c.id.in_(sorted(found)))
    return list(conn.execute(_newest_first(ordered)).scalars())


def _newest_first(query: Select[Any]) -> Select[Any]:
    return query.order_by(articles.c.published_at.desc(), articles.c.id.desc())


def _archived(conn: Connection, key: str, ids: list[str]) -> set[str]:
    archived: set[str] = set()
    for start in range(0, len(ids), 500):
        query = select(archive_entries.c.article_id).where(
            archive_entries.c.feed_key == key, archive_entries.c.article_id.in_(ids[start : start + 500])
        )
        archived.update(conn.execute(query).scalars())
    return archived


def last_page(conn: Connection, key: str) -> int:
    """The channel's newest archive page (0: none yet)."""
    found = conn.execute(select(func.max(archive_entries.c.page)).where(archive_entries.c.feed_key == key))
    return int(found.scalar() or 0)


def archive(conn: Connection, key: str, oldest_first: Sequence[str], size: int) -> int:
    """Put these articles, in this order, on the channel's newest page while it has fewer than `size`,
    then on new pages; returns the newest page. An article another instance archived meanwhile keeps
    the page it got there (the key is (channel, article))."""
    page = last_page(conn, key)
    on_page = 0
    if page:
        on_it = and_(archive_entries.c.feed_key == key, archive_entries.c.page == page)
        counted = select(func.count()).where(on_it)
        on_page = int(conn.execute(counted).scalar_one())
    rows: list[dict[str, Any]] = []
    for article_id in oldest_first:
        if page == 0 or on_page >= size:
            page, on_page = page + 1, 0
        rows.append({"feed_key": key, "article_id": article_id, "page": page})
        on_page += 1
        if len(rows) == CHUNK:
            _insert_new(conn, rows)
            rows = []
    _insert_new(conn, rows)
    return last_page(conn, key)


def _insert_new(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert, leaving alone a row another instance inserted first."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        insert_ignore(conn, archive_entries, rows)  # one array per column: fast on PostgreSQL
        return
    conn.execute(sqlite.insert(archive_entries).on_conflict_do_nothing(), rows)


def _page_select(key: str, now: datetime) -> Select[Any]:
    joined = article_select().join(
        archive_entries,
        and_(archive_entries.c.article_id == articles.c.id, archive_entries.c.feed_key == key),
    )
    return _scoped(joined.where(visible(now)), key)


def page(conn: Connection, key: str, number: int, now: datetime) -> list[Article]:
    """The visible articles of one archive page, oldest first.

    The page's ids first, then their rows: as one join, SQLite walked every visible article by the
    visibility index to find a page's fifty (200 ms per page of `all` at 100,000 articles)."""
    on_page = select(archive_entries.c.article_id).where(
        archive_entries.c.feed_key == key, archive_entries.c.page == number
    )
    found = by_ids(conn, list(conn.execute(on_page).scalars())).values()
    # the visibility rule applied to the rows read (is_visible): in the WHERE, it would lead SQLite
    # back onto the status index for the whole table
    shown = [
        a
        for a in found
        if is_visible(a.status.value, a.published_at, now) and key in (ALL, a.category.slug)  # moved away
    ]
    return sorted(shown, key=lambda a: (a.published_at, a.id))


def stream_pages(conn: Connection, key: str, now: datetime) -> Generator[tuple[int, Article], None, None]:
    """Every archived visible article of the channel with its page, page by page, oldest first, read
    once (a server-side cursor on PostgreSQL)."""
    query = (
        _page_select(key, now)
        .add_columns(archive_entries.c.page.label("archive_page"))
        .order_by(archive_entries.c.page, articles.c.published_at.asc(), articles.c.id.asc())
        .execution_options(yield_per=500)
    )
    result = conn.execute(query)
    try:
        for row in result:
            yield row.archive_page, to_article(row)
    finally:
        result.close()


def by_ids(conn: Connection, ids: Sequence[str]) -> dict[str, Article]:
    """Articles by id (the feed's entries, once the feed's ids are known)."""
    if not ids:
        return {}
    rows = conn.execute(article_select().where(articles.c.id.in_(list(ids))))
    return {row.id: to_article(row) for row in rows}
