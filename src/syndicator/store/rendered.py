"""Rendered documents kept in the database: a restart, or another instance, serves the same bytes and
ETags; a row marked gone stands for a 410 so that every instance answers it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from syndicator.documents import RenderedFeed
from syndicator.store import notices
from syndicator.store.database import upsert
from syndicator.store.schema import rendered_feeds

GONE = "gone"  # media_type of a kept row standing for a 410
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # stands for "no entries" in the NOT NULL column


@dataclass(frozen=True, slots=True)
class Head:
    path: str
    etag: str
    gone: bool


def keep(conn: Connection, docs: Sequence[RenderedFeed], gone: Sequence[str], now: datetime) -> None:
    rows = [_row(doc, now) for doc in docs] + [_gone_row(path, now) for path in gone]
    if rows:
        upsert(conn, rendered_feeds, rows, "path")
        notices.notify(conn, notices.FEEDS)  # other instances' caches load them right after the commit


def heads(conn: Connection, since: datetime | None) -> list[Head]:
    """Path and ETag of the documents kept after `since` (all when None): a follower's idle look is this
    one small query."""
    query = select(rendered_feeds.c.path, rendered_feeds.c.etag, rendered_feeds.c.media_type)
    if since is not None:
        query = query.where(rendered_feeds.c.built_at > since)
    return [Head(row.path, row.etag, row.media_type == GONE) for row in conn.execute(query)]


def documents(conn: Connection, paths: Sequence[str]) -> list[RenderedFeed]:
    found: list[RenderedFeed] = []
    for start in range(0, len(paths), 200):
        chunk = list(paths[start : start + 200])
        for row in conn.execute(select(rendered_feeds).where(rendered_feeds.c.path.in_(chunk))):
            found.append(
                RenderedFeed(
                    path=row.path,
                    media_type=row.media_type,
                    body=row.body,
                    body_gzip=row.body_gzip,
                    etag=row.etag,
                    last_modified=None if row.last_modified == _EPOCH else row.last_modified,
                    fingerprint=row.fingerprint,
                )
            )
    return found


def _row(doc: RenderedFeed, now: datetime) -> dict[str, Any]:
    return {
        "path": doc.path,
        "fingerprint": doc.fingerprint,
        "etag": doc.etag,
        "last_modified": doc.last_modified or _EPOCH,
        "media_type": doc.media_type,
        "body": doc.body,
        "body_gzip": doc.body_gzip,
        "built_at": now,
        "generation": 0,
    }


def _gone_row(path: str, now: datetime) -> dict[str, Any]:
    return _row(RenderedFeed(path, GONE, b"", b"", "", None, ""), now)
