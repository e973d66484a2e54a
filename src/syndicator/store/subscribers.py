"""Subscribers and their choices (categories, frequency)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from syndicator.mail.addresses import key as address_key
from syndicator.model import ALL_CATEGORIES, Frequency, Source, Subscriber, SubscriberStatus
from syndicator.store.schema import outbox, subscribers


def encode_categories(categories: Iterable[str] | None) -> str:
    return ALL_CATEGORIES if categories is None else ",".join(sorted(set(categories)))


def decode_categories(value: str) -> frozenset[str] | None:
    return None if value == ALL_CATEGORIES else frozenset(c for c in value.split(",") if c)


def to_subscriber(row: Row[Any]) -> Subscriber:
    return Subscriber(
        id=row.id,
        email=row.email,
        name=row.name,
        status=SubscriberStatus(row.status),
        source=Source(row.source),
        categories=decode_categories(row.categories),
        frequency=Frequency(row.frequency),
        hard_bounces=row.hard_bounces,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
        confirmed_ip=row.confirmed_ip,
        unsubscribed_at=row.unsubscribed_at,
    )


def by_email(conn: Connection, email: str) -> Subscriber | None:
    row = conn.execute(select(subscribers).where(subscribers.c.email_key == address_key(email))).first()
    return to_subscriber(row) if row else None


def by_id(conn: Connection, subscriber_id: int) -> Subscriber | None:
    row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
    return to_subscriber(row) if row else None


def save(
    conn: Connection,
    email: str,
    *,
    name: str | None,
    categories: Iterable[str] | None,
    frequency: Frequency,
    status: SubscriberStatus,
    source: Source,
    now: datetime,
    confirmed_ip: str | None = None,
    keep_source: bool = False,
) -> tuple[Subscriber, bool]:
    """Create, or update the existing row of this address; returns (subscriber, created)."""
    values: dict[str, Any] = {
        "email": email,
        "name": name,
        "categories": encode_categories(categories),
        "frequency": frequency.value,
        "status": status.value,
        "source": source.value,
        "updated_at": now,
    }
    if status is SubscriberStatus.CONFIRMED:
        values["confirmed_at"] = now
        values["confirmed_ip"] = confirmed_ip
        values["unsubscribed_at"] = None
        values["hard_bounces"] = 0
    existing = by_email(conn, email)
    if existing is None:
        conn.execute(
            subscribers.insert().values(
                **{"hard_bounces": 0, **values}, email_key=address_key(email), created_at=now
            )
        )
    else:
        if existing.status is SubscriberStatus.CONFIRMED and status is SubscriberStatus.CONFIRMED:
            # re-confirming keeps the first confirmation on record
            values.pop("confirmed_at")
            values.pop("confirmed_ip")
        if keep_source:
            values.pop("source")  # an official confirming on the web stays the office's
        conn.execute(update(subscribers).where(subscribers.c.id == existing.id).values(**values))
    found = by_email(conn, email)
    assert found is not None
    return found, existing is None


def set_status(conn: Connection, subscriber_id: int, status: SubscriberStatus, now: datetime) -> None:
    values: dict[str, Any] = {"status": status.value, "updated_at": now}
    if status is SubscriberStatus.UNSUBSCRIBED:
        values["unsubscribed_at"] = now
    conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(**values))
    if status in (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED):
        cancel_queued(conn, [subscriber_id])


def cancel_queued(conn: Connection, subscriber_ids: Sequence[int]) -> int:
    """Mail already queued for these subscribers is not sent (a claimed mail may still go out)."""
    if not subscriber_ids:
        return 0
    result = conn.execute(
        update(outbox)
        .where(outbox.c.subscriber_id.in_(list(subscriber_ids)), outbox.c.status == "pending")
        .values(status="cancelled", last_error="unsubscribed")
    )
    return int(result.rowcount or 0)


def listing(conn: Connection, *, status: SubscriberStatus | None = None) -> list[Subscriber]:
    query = select(subscribers).order_by(subscribers.c.email_key)
    if status is not None:
        query = query.where(subscribers.c.status == status.value)
    return [to_subscriber(row) for row in conn.execute(query)]


def recipients(conn: Connection, frequency: Frequency) -> Iterable[Subscriber]:
    """Confirmed subscribers of one frequency, streamed (20,000 rows need not sit in memory at once)."""
    query = (
        select(subscribers)
        .where(
            subscribers.c.status == SubscriberStatus.CONFIRMED.value,
            subscribers.c.frequency == frequency.value,
        )
        .order_by(subscribers.c.id)
        .execution_options(yield_per=1000)
    )
    for row in conn.execute(query):
        yield to_subscriber(row)


def record_hard_bounce(conn: Connection, subscriber_id: int, limit: int, now: datetime) -> bool:
    """Count a permanent failure; True when the subscriber is now marked bounced."""
    conn.execute(
        update(subscribers)
        .where(subscribers.c.id == subscriber_id)
        .values(hard_bounces=subscribers.c.hard_bounces + 1, updated_at=now)
    )
    current = by_id(conn, subscriber_id)
    if current is not None and current.hard_bounces >= limit and current.status is SubscriberStatus.CONFIRMED:
        set_status(conn, subscriber_id, SubscriberStatus.BOUNCED, now)
        return True
    return False


def remove(conn: Connection, subscriber_id: int, now: datetime) -> None:
    """Ends the subscription; the row stays (with its history) so the address is not mailed again."""
    set_status(conn, subscriber_id, SubscriberStatus.UNSUBSCRIBED, now)
