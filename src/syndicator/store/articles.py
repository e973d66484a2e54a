"""Articles: writes (idempotent, batched) and reads, with the visibility rule of store/query.py."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, not_, or_, select, update

from syndicator.model import Article, ArticleInput, Day, Status, Visibility, WriteOutcome
from syndicator.store import newsgate
from syndicator.store.categories import count_spellings, ensure_categories, touch
from syndicator.store.query import article_select, to_article, visible
from syndicator.store.schema import articles
from syndicator.text import category_slug


def write_batch(conn: Connection, batch: Sequence[ArticleInput], now: datetime) -> list[WriteOutcome]:
    """Create or update each article; ids must be unique within the batch. Caller owns the transaction."""
    # first, before any row lock: a run waiting for this lock must never wait on a write that waits
    # for it (store/newsgate.py)
    earliest = newsgate.floor(conn)  # an article that arrives now is news after the latest run made
    ids = [item.id for item in batch]
    existing = {
        row.id: row
        for row in conn.execute(
            select(
                articles.c.id,
                articles.c.content_hash,
                articles.c.category_slug,
                articles.c.category_name,
                articles.c.status,
                articles.c.created_at,
                articles.c.available_at,
            ).where(articles.c.id.in_(ids))
        )
    }
    slugs = [category_slug(item.category_name) for item in batch]  # item.category_slug, once each
    first_names: dict[str, str] = {}
    for item, slug in zip(batch, slugs, strict=True):
        first_names.setdefault(slug, item.category_name)  # a new category's name until counted
    ensure_categories(conn, first_names, now)
    spellings: Counter[tuple[str, str]] = Counter()

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    spelled: list[dict[str, Any]] = []  # unchanged articles whose own spelling was never stored
    outcomes: list[WriteOutcome] = []
    touched: set[str] = set()
    for item, slug in zip(batch, slugs, strict=True):
        digest = item.content_hash()
        old = existing.get(item.id)
        if old is not None and old.content_hash == digest:
            if old.category_name != item.category_name:
                spelled.append(_respelled(old, item, spellings))
            outcomes.append(WriteOutcome.UNCHANGED)
            continue
        values = _row_values(item, slug, digest)
        values["changed_at"] = now
        touched.add(slug)
        # an article counts for its category's spelling while it is not withdrawn
        if old is not None and old.status != Status.WITHDRAWN.value:
            spellings[(old.category_slug, old.category_name)] -= 1
        if item.status is not Status.WITHDRAWN:
            spellings[(slug, item.category_name)] += 1
        if old is not None:
            touched.add(old.category_slug)  # an article moved out of a category changes that one too
        if old is None:
            values["updated_at"] = item.updated_at or item.published_at
            values["created_at"] = now
            values["available_at"] = _available(now, item.published_at, earliest)
            inserts.append(values)
            outcomes.append(WriteOutcome.CREATED)
        else:
            # Without an edit time from the source, the edit happened now (never before publication).
            values["updated_at"] = item.updated_at or max(now, item.published_at)
            values["available_at"] = _available_again(old, item, now, earliest)
            values["b_id"] = values.pop("id")
            updates.append(values)
            outcomes.append(WriteOutcome.UPDATED)
    if inserts:
        conn.execute(articles.insert(), inserts)
    if updates:
        conn.execute(
            update(articles).where(articles.c.id == bindparam("b_id")),
            updates,
        )
    if spelled:  # the article's content (and so its feeds' entries and changed_at) did not change
        conn.execute(
            update(articles)
            .where(articles.c.id == bindparam("b_id"))
            .values(category_name=bindparam("name")),
            spelled,
        )
    touched |= count_spellings(conn, spellings)  # a renamed category's feeds show its new name
    touch(conn, touched, now)
    return outcomes


def _respelled(old: Any, item: ArticleInput, spellings: Counter[tuple[str, str]]) -> dict[str, Any]:
    """An unchanged article stored under another spelling of its category: only a row backfilled by
    migration 0010, which knew the category's name of that time and not the article's own (the content
    hash includes the spelling, so an equal hash means the source spells it as `item` does). Its spelling
    is corrected and counted, so re-importing the same files gives the category its best name."""
    if old.status != Status.WITHDRAWN.value:  # imported as withdrawn: corrected, counted nowhere
        spellings[(old.category_slug, old.category_name)] -= 1
        spellings[(old.category_slug, item.category_name)] += 1
    return {"b_id": item.id, "name": item.category_name}


def _row_values(item: ArticleInput, slug: str, digest: str) -> dict[str, Any]:
    return {
        "id": item.id,
        "category_slug": slug,
        "category_name": item.category_name,
        "title": item.title,
        "published_at": item.published_at,
        "author": item.author,
        "office": item.office,
        "summary": item.summary,
        "body_html": item.body_html,
        "url": item.url,
        "status": item.status.value,
        "content_hash": digest,
        "source": item.source,
    }


def _available(now: datetime, published_at: datetime, earliest: datetime | None) -> datetime:
    """When readers can first see an article written now: its publication time, never before now
    nor before `earliest` (store/newsgate.py)."""
    return max(now, published_at, earliest or now)


def _available_again(old: Any, item: ArticleInput, now: datetime, earliest: datetime | None) -> datetime:
    """An edited article's availability. One readers could already see stays news of the window it
    appeared in (an edit is no news); one they could not (scheduled, withdrawn, or moved to a time
    still ahead) is dated as if it arrived now: dated by its publication time alone, an article
    moved to an earlier time would fall into a window already sent and miss every digest."""
    seen: datetime = old.available_at
    if item.published_at <= now and old.status == Status.PUBLISHED.value and seen <= now:
        return seen
    return _available(now, item.published_at, earliest)


def withdraw(conn: Connection, article_id: str, now: datetime) -> bool:
    """Mark withdrawn (it stays in the store). False when there is no such published article."""
    found = conn.execute(
        select(articles.c.category_slug, articles.c.category_name).where(
            articles.c.id == article_id, articles.c.status != Status.WITHDRAWN.value
        )
    ).first()
    if found is None:
        return False
    slug = found.category_slug
    # The hash is reset so that the same content imported again publishes the article anew.
    conn.execute(
        update(articles)
        .where(articles.c.id == article_id)
        .values(status=Status.WITHDRAWN.value, changed_at=now, content_hash="withdrawn")
    )
    renamed = count_spellings(conn, {(slug, found.category_name): -1})
    touch(conn, {slug} | renamed, now)
    return True


def get(conn: Connection, article_id: str) -> Article | None:
    row = conn.execute(article_select().where(articles.c.id == article_id)).first()
    return to_article(row) if row else None


def listing(
    conn: Connection,
    *,
    now: datetime,
    category: str | None = None,
    visible_only: bool = True,
    limit: int | None = None,
    offset: int = 0,
) -> list[Article]:
    """Newest first (ties broken by id so pages are stable)."""
    query = article_select()
    if visible_only:
        query = query.where(visible(now))
    if category is not None:
        query = query.where(articles.c.category_slug == category)
    query = query.order_by(articles.c.published_at.desc(), articles.c.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [to_article(row) for row in conn.execute(query)]


def count_visible(conn: Connection, now: datetime, category: str | None = None) -> int:
    query = select(func.count()).select_from(articles).where(visible(now))
    if category is not None:
        query = query.where(articles.c.category_slug == category)
    return int(conn.execute(query).scalar_one())


def restore(conn: Connection, article_id: str, now: datetime) -> bool:
    """Publish a withdrawn article again, as the console's "restore" does: the reverse of `withdraw`,
    and what importing its content again would do (dated as if it arrived now, so it is news of the
    next digest, never of a window already sent). False when there is no such withdrawn article."""
    earliest = newsgate.floor(conn)  # first, before any row lock, as write_batch does
    found = conn.execute(
        select(articles.c.category_slug, articles.c.category_name, articles.c.published_at).where(
            articles.c.id == article_id, articles.c.status == Status.WITHDRAWN.value
        )
    ).first()
    if found is None:
        return False
    # Not the content's hash (the source's own edit time is not kept): the same content imported
    # again is then an update with equal values, which publishes nothing new.
    conn.execute(
        update(articles)
        .where(articles.c.id == article_id)
        .values(
            status=Status.PUBLISHED.value,
            changed_at=now,
            content_hash="restored",
            available_at=_available(now, found.published_at, earliest),
        )
    )
    renamed = count_spellings(conn, {(found.category_slug, found.category_name): 1})
    touch(conn, {found.category_slug} | renamed, now)
    return True


def _matching(now: datetime, text: str, category: str | None, state: Visibility | None) -> list[Any]:
    """The conditions of a console search: `text` a substring of the title or the id (its LIKE
    wildcards taken as themselves), a category by slug, a state by the one visibility rule."""
    conditions: list[Any] = []
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            or_(articles.c.title.ilike(pattern, escape="\\"), articles.c.id.ilike(pattern, escape="\\"))
        )
    if category is not None:
        conditions.append(articles.c.category_slug == category)
    if state is Visibility.PUBLISHED:
        conditions.append(visible(now))
    elif state is Visibility.SCHEDULED:
        conditions.append(and_(articles.c.status == Status.PUBLISHED.value, not_(visible(now))))
    elif state is Visibility.WITHDRAWN:
        conditions.append(articles.c.status == Status.WITHDRAWN.value)
    return conditions


def search(
    conn: Connection,
    now: datetime,
    *,
    text: str = "",
    category: str | None = None,
    state: Visibility | None = None,
    limit: int,
    offset: int = 0,
) -> tuple[list[Article], int]:
    """A page of the articles matching (newest first, ties by id), and how many match in all."""
    conditions = _matching(now, text, category, state)
    total = conn.execute(select(func.count()).select_from(articles).where(*conditions)).scalar_one()
    rows = conn.execute(
        article_select()
        .where(*conditions)
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [to_article(row) for row in rows], int(total)


def published_by_day(conn: Connection, now: datetime, days: Sequence[Day]) -> list[dict[str, int]]:
    """Per day (oldest first), the articles visible now that were published that day, by category
    slug. One read of the span, counted here: the days' bounds are the site's, not the database's."""
    if not days:
        return []
    rows = conn.execute(
        select(articles.c.category_slug, articles.c.published_at).where(
            visible(now), articles.c.published_at >= days[0].start, articles.c.published_at < days[-1].end
        )
    )
    counts: list[Counter[str]] = [Counter() for _ in days]
    starts = [d.start for d in days]
    for slug, published_at in rows:
        counts[bisect_right(starts, published_at) - 1][slug] += 1
    return [dict(c) for c in counts]
