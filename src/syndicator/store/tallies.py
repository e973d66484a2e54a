"""What an operator watches (/metrics): rows counted by state, with the store's one visibility rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from syndicator.model import Status
from syndicator.store.query import visible
from syndicator.store.schema import articles, outbox, subscribers


@dataclass(frozen=True, slots=True)
class Tallies:
    articles: dict[str, int]  # published (visible now), scheduled, withdrawn
    outbox: dict[str, int]  # by outbox status
    subscribers: dict[str, int]  # by subscriber status


def _by(conn: Connection, column: Any) -> dict[str, int]:
    return {str(key): int(n) for key, n in conn.execute(select(column, func.count()).group_by(column))}


def tallies(conn: Connection, now: datetime) -> Tallies:
    by_status = _by(conn, articles.c.status)
    shown = int(conn.execute(select(func.count()).where(visible(now))).scalar_one())
    published = by_status.get(Status.PUBLISHED.value, 0)
    states = {
        "published": shown,
        "scheduled": published - shown,
        "withdrawn": by_status.get(Status.WITHDRAWN.value, 0),
    }
    return Tallies(states, _by(conn, outbox.c.status), _by(conn, subscribers.c.status))
