"""What an operator watches (/metrics): rows counted by state, with the store's one visibility rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from syndicator.model import OutboxStatus, Status, SubscriberStatus, Visibility
from syndicator.store.query import visible
from syndicator.store.schema import articles, outbox, subscribers


@dataclass(frozen=True, slots=True)
class Tallies:
    articles: dict[Visibility, int]  # published (visible now), scheduled, withdrawn
    outbox: dict[OutboxStatus, int]
    subscribers: dict[SubscriberStatus, int]


def _by(conn: Connection, column: Any) -> dict[str, int]:
    return {str(key): int(n) for key, n in conn.execute(select(column, func.count()).group_by(column))}


def tallies(conn: Connection, now: datetime) -> Tallies:
    by_status = _by(conn, articles.c.status)
    shown = int(conn.execute(select(func.count()).where(visible(now))).scalar_one())
    published = by_status.get(Status.PUBLISHED.value, 0)
    states = {
        Visibility.PUBLISHED: shown,
        Visibility.SCHEDULED: published - shown,
        Visibility.WITHDRAWN: by_status.get(Status.WITHDRAWN.value, 0),
    }
    mails = {OutboxStatus(s): n for s, n in _by(conn, outbox.c.status).items()}
    people = {SubscriberStatus(s): n for s, n in _by(conn, subscribers.c.status).items()}
    return Tallies(states, mails, people)
