"""What the console shows of subscribers (issue 14): a search with filters and pages, the mail sent to
one of them (the outbox, read only), and the state of the officials file's addresses. Reads only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select

from syndicator.addresses import key as address_key
from syndicator.model import (
    ALL_CATEGORIES,
    Frequency,
    OutboxKind,
    OutboxStatus,
    OwnChoice,
    Source,
    Subscriber,
    SubscriberStatus,
)
from syndicator.store.schema import officials, outbox, subscribers
from syndicator.store.subscribers import own_choices, to_subscriber

_KEYS_AT_ONCE = 500  # addresses per IN (...): well under every driver's limit on bound parameters


@dataclass(frozen=True, slots=True)
class Filter:
    """What the list is narrowed to; None: any. `text`: part of the address or of the name, in any case
    (names: ASCII letters only on SQLite, whose lower() knows no others). `category`: subscribers who
    get that category's news, those who chose every category included."""

    text: str | None = None
    status: SubscriberStatus | None = None
    source: Source | None = None
    category: str | None = None
    frequency: Frequency | None = None
    language: str | None = None


def _where(chosen: Filter) -> list[Any]:
    clauses: list[Any] = []
    if chosen.text:
        needle = chosen.text.casefold()
        clauses.append(
            or_(
                subscribers.c.email_key.contains(needle, autoescape=True),
                func.lower(subscribers.c.name).contains(needle, autoescape=True),
                subscribers.c.name.contains(chosen.text, autoescape=True),
            )
        )
    if chosen.status is not None:
        clauses.append(subscribers.c.status == chosen.status.value)
    if chosen.source is not None:
        clauses.append(subscribers.c.source == chosen.source.value)
    if chosen.frequency is not None:
        clauses.append(subscribers.c.frequency == chosen.frequency.value)
    if chosen.language is not None:
        clauses.append(subscribers.c.language == chosen.language)
    if chosen.category is not None:
        listed = ("," + subscribers.c.categories + ",").contains(f",{chosen.category},", autoescape=True)
        clauses.append(or_(subscribers.c.categories == ALL_CATEGORIES, listed))
    return clauses


def search(conn: Connection, chosen: Filter, *, limit: int, offset: int = 0) -> tuple[list[Subscriber], int]:
    """A page of the subscribers `chosen` picks, by address, and how many it picks in all."""
    where = _where(chosen)
    total = int(conn.execute(select(func.count()).select_from(subscribers).where(*where)).scalar_one())
    rows = conn.execute(
        select(subscribers)
        .where(*where)
        .order_by(subscribers.c.email_key, subscribers.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [to_subscriber(row) for row in rows], total


def counts(conn: Connection) -> dict[SubscriberStatus, int]:
    """How many subscribers stand in each status (every status a key)."""
    query = select(subscribers.c.status, func.count()).group_by(subscribers.c.status)
    found = {str(status): int(n) for status, n in conn.execute(query)}
    return {status: found.get(status.value, 0) for status in SubscriberStatus}


def listed(conn: Connection, subscriber_ids: Sequence[int]) -> set[int]:
    """Which of these subscribers the office's officials file lists."""
    if not subscriber_ids:
        return set()
    query = select(officials.c.subscriber_id).where(officials.c.subscriber_id.in_(list(subscriber_ids)))
    return set(conn.execute(query).scalars())


@dataclass(frozen=True, slots=True)
class SubscriberMail:
    """A mail of the outbox to one subscriber, as their page lists it."""

    id: int
    kind: OutboxKind
    status: OutboxStatus
    created_at: datetime
    sent_at: datetime | None
    attempts: int
    last_error: str | None


def mails_of(conn: Connection, subscriber_id: int, limit: int) -> tuple[list[SubscriberMail], int]:
    """The newest `limit` mails queued for this subscriber (sent or not), and how many there are."""
    total = int(
        conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.subscriber_id == subscriber_id)
        ).scalar_one()
    )
    rows = conn.execute(
        select(
            outbox.c.id,
            outbox.c.kind,
            outbox.c.status,
            outbox.c.created_at,
            outbox.c.sent_at,
            outbox.c.attempts,
            outbox.c.last_error,
        )
        .where(outbox.c.subscriber_id == subscriber_id)
        .order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
        .limit(limit)
    )
    mails = [
        SubscriberMail(
            row.id,
            OutboxKind(row.kind),
            OutboxStatus(row.status),
            row.created_at,
            row.sent_at,
            row.attempts,
            row.last_error,
        )
        for row in rows
    ]
    return mails, total


@dataclass(frozen=True, slots=True)
class OfficialState:
    """An address of the officials file as the database holds it."""

    subscriber: Subscriber | None  # None: not applied yet (the file changed since, or it is refused)
    listed: bool  # the office's entry is what the row carries
    own: OwnChoice | None  # the resident's own choice, kept apart while listed
    last_mail: datetime | None  # when the last mail to it was sent


def officials_state(conn: Connection, emails: Sequence[str]) -> dict[str, OfficialState]:
    """The state of each address (keyed as given) of the officials file: a page of it at a time."""
    keys = {address_key(email): email for email in emails}
    people: dict[str, Subscriber] = {}
    key_list = list(keys)
    for start in range(0, len(key_list), _KEYS_AT_ONCE):
        chunk = key_list[start : start + _KEYS_AT_ONCE]
        for row in conn.execute(select(subscribers).where(subscribers.c.email_key.in_(chunk))):
            people[row.email_key] = to_subscriber(row)
    found_people = list(people.values())
    own: dict[int, OwnChoice] = {}
    for start in range(0, len(found_people), _KEYS_AT_ONCE):
        own |= own_choices(conn, found_people[start : start + _KEYS_AT_ONCE])
    last = _last_mails(conn, [person.id for person in found_people])
    found: dict[str, OfficialState] = {}
    for key, email in keys.items():
        person = people.get(key)
        if person is None:
            found[email] = OfficialState(None, False, None, None)
            continue
        found[email] = OfficialState(person, person.id in own, own.get(person.id), last.get(person.id))
    return found


def listed_officials(conn: Connection, *, limit: int, offset: int = 0) -> tuple[list[Subscriber], int]:
    """The addresses the office lists as the database holds them (the file last applied), by address,
    a page at a time, and how many there are: what stays while the file cannot be applied."""
    listed = select(officials.c.subscriber_id)
    where = subscribers.c.id.in_(listed)
    query = select(subscribers).where(where).order_by(subscribers.c.email_key).limit(limit).offset(offset)
    people = [to_subscriber(row) for row in conn.execute(query)]
    total = conn.execute(select(func.count()).select_from(subscribers).where(where)).scalar_one()
    return people, int(total)


def _last_mails(conn: Connection, subscriber_ids: list[int]) -> dict[int, datetime]:
    last: dict[int, datetime] = {}
    for start in range(0, len(subscriber_ids), _KEYS_AT_ONCE):
        chunk = subscriber_ids[start : start + _KEYS_AT_ONCE]
        query = (
            select(outbox.c.subscriber_id, func.max(outbox.c.sent_at))
            .where(outbox.c.subscriber_id.in_(chunk), outbox.c.status == OutboxStatus.SENT.value)
            .group_by(outbox.c.subscriber_id)
        )
        for subscriber_id, sent_at in conn.execute(query):
            if sent_at is not None:
                last[subscriber_id] = sent_at
    return last
