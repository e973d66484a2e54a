"""Digest runs: one row per (frequency, window end), whichever instance or command gets there first;
the articles that are news in a run's window; and, for a preview, every article since a date."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select, update
from sqlalchemy.exc import IntegrityError

from syndicator.model import Article, DigestRun, DigestRunStatus, Frequency
from syndicator.store import newsgate
from syndicator.store.query import article_select, to_article, visible
from syndicator.store.schema import articles, digest_runs


def previous_end(conn: Connection, frequency: Frequency, end: datetime) -> datetime | None:
    """Where the latest run of this frequency before `end` ended."""
    found: datetime | None = conn.execute(
        select(digest_runs.c.window_end)
        .where(digest_runs.c.frequency == frequency.value, digest_runs.c.window_end < end)
        .order_by(digest_runs.c.window_end.desc())
        .limit(1)
    ).scalar()
    return found


def find(conn: Connection, frequency: Frequency, end: datetime) -> DigestRun | None:
    row = conn.execute(
        select(digest_runs).where(digest_runs.c.frequency == frequency.value, digest_runs.c.window_end == end)
    ).first()
    return _run(row) if row is not None else None


def create(
    conn: Connection, frequency: Frequency, start: datetime, end: datetime, now: datetime
) -> DigestRun:
    """The run of this window, created unless another instance created it a moment ago (the same run).

    Made only between article writes (store/newsgate.py): each one is in this run's news or after it."""
    newsgate.exclusive(conn)
    try:
        with conn.begin_nested():
            conn.execute(
                digest_runs.insert().values(
                    frequency=frequency.value,
                    window_start=start,
                    window_end=end,
                    status=DigestRunStatus.QUEUING.value,
                    created_at=now,
                    mails=0,
                )
            )
    except IntegrityError:
        pass
    made = find(conn, frequency, end)
    assert made is not None
    return made


def mark_queued(conn: Connection, run_id: int, mails: int, now: datetime) -> None:
    conn.execute(
        update(digest_runs)
        .where(digest_runs.c.id == run_id)
        .values(status=DigestRunStatus.QUEUED.value, queued_at=now, mails=digest_runs.c.mails + mails)
    )


def news(conn: Connection, start: datetime, end: datetime) -> list[Article]:
    """What is news in (start, end]: became visible in the window and was published recently.

    An article imported late still counts (it became visible in the window), but an old article
    imported today does not (a first import of the archive must not become one giant digest).
    """
    span = end - start
    query = (
        article_select()
        .where(
            visible(end),
            articles.c.available_at > start,
            articles.c.available_at <= end,
            articles.c.published_at > start - span,
        )
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
    )
    return [to_article(row) for row in conn.execute(query)]


def published_since(conn: Connection, since: datetime, now: datetime) -> list[Article]:
    """Every article visible at `now` and published at or after `since`, newest first: what a
    preview of the articles at hand shows (no run's news: see `news`)."""
    query = (
        article_select()
        .where(visible(now), articles.c.published_at >= since)
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
    )
    return [to_article(row) for row in conn.execute(query)]


def _run(row: Row[Any]) -> DigestRun:
    return DigestRun(
        id=row.id,
        frequency=Frequency(row.frequency),
        window_start=row.window_start,
        window_end=row.window_end,
        status=DigestRunStatus(row.status),
        mails=row.mails,
    )


def runs(conn: Connection, *, limit: int, offset: int = 0) -> tuple[list[DigestRun], int]:
    """A page of digest runs, the latest window first, and how many runs there are (the console)."""
    rows = conn.execute(
        select(digest_runs)
        .order_by(digest_runs.c.window_end.desc(), digest_runs.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    total = conn.execute(select(func.count()).select_from(digest_runs)).scalar_one()
    return [_run(row) for row in rows], int(total)
