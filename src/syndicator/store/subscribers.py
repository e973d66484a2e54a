"""Subscribers and their choices (categories, frequency)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Row,
    String,
    Table,
    any_,
    bindparam,
    cast,
    delete,
    func,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import NullType

from syndicator.addresses import key as address_key
from syndicator.model import (
    ALL_CATEGORIES,
    Day,
    Frequency,
    OutboxStatus,
    OwnChoice,
    Source,
    Subscriber,
    SubscriberStatus,
)
from syndicator.store.schema import UTCDateTime, officials, outbox, subscriber_events, subscribers

# What moved a subscriber to a status (subscriber_events.cause), besides a subscription's source
# (model.Source: config, cli, import, web, as `save` was given it).
UNSUBSCRIBE = "unsubscribe"
BOUNCE = "bounce"
UNLIST = "unlist"  # the office took the address out of its officials file


def encode_categories(categories: Iterable[str] | None) -> str:
    return ALL_CATEGORIES if categories is None else ",".join(sorted(set(categories)))


@lru_cache(maxsize=1024)  # a few lists of categories recur across every subscriber
def decode_categories(value: str) -> frozenset[str] | None:
    return None if value == ALL_CATEGORIES else frozenset(c for c in value.split(",") if c)


# the enums by value, looked up faster than by calling them (a bulk import makes 100,000 subscribers)
_STATUSES = {status.value: status for status in SubscriberStatus}
_SOURCES = {source.value: source for source in Source}
_FREQUENCIES = {frequency.value: frequency for frequency in Frequency}


def of_columns(row: Mapping[Any, Any]) -> Subscriber:
    """The subscriber a row's columns (by name) describe."""
    return Subscriber(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        status=_STATUSES[row["status"]],
        source=_SOURCES[row["source"]],
        categories=decode_categories(row["categories"]),
        frequency=_FREQUENCIES[row["frequency"]],
        hard_bounces=row["hard_bounces"],
        created_at=row["created_at"],
        confirmed_at=row["confirmed_at"],
        confirmed_ip=row["confirmed_ip"],
        unsubscribed_at=row["unsubscribed_at"],
        language=row["language"],
    )


def to_subscriber(row: Row[Any]) -> Subscriber:
    return of_columns(row._mapping)


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
    language: str | None = None,
    default_language: str = "vi",
) -> tuple[Subscriber, bool]:
    """Create, or update the existing row of this address; returns (subscriber, created).

    A resident's own choice (any source but config) for an address the office lists is kept apart
    until the office unlists it: the row goes on carrying the office's entry.

    `status` PENDING for an address already confirmed (or whose own choice is): it stays confirmed,
    its source kept, and only its choices change (`_choice`).

    `language` (of their mail) is the person's, never kept apart: None keeps the one they have, and a
    new row gets `default_language`.
    """
    existing = by_email(conn, email)
    if existing is not None and source is not Source.CONFIG:
        entry = _entry(conn, existing.id)
        if entry is not None:
            if language is not None and existing.language != language:
                conn.execute(
                    update(subscribers).where(subscribers.c.id == existing.id).values(language=language)
                )
                existing = replace(existing, language=language)
            before = SubscriberStatus(entry.own_status) if entry.own_status else None
            own = _choice(before, name, categories, frequency, status, source, now, confirmed_ip)
            conn.execute(
                update(officials)
                .where(officials.c.subscriber_id == existing.id)
                .values({f"own_{column}": value for column, value in own.items()})
            )
            return existing, False
    was = existing.status if existing else None
    values = _row_values(was, email, name, categories, frequency, language, status, source, now, confirmed_ip)
    values["updated_at"] = now
    if existing is None:
        conn.execute(
            subscribers.insert().values(
                **{**_new_row(default_language), **values},
                email_key=address_key(email),
                created_at=now,
            )
        )
    else:
        conn.execute(update(subscribers).where(subscribers.c.id == existing.id).values(**values))
    found = by_email(conn, email)
    assert found is not None
    if existing is None or existing.status is not found.status:
        _moved(conn, found.id, found.status, source.value, now)
    return found, existing is None


def _row_values(
    was: SubscriberStatus | None,
    email: str,
    name: str | None,
    categories: Iterable[str] | None,
    frequency: Frequency,
    language: str | None,
    status: SubscriberStatus,
    source: Source,
    now: datetime,
    confirmed_ip: str | None,
) -> dict[str, Any]:
    """The columns one choice sets on a row that stood in status `was` (None: a new row): `save`'s
    rules, which `save_many` applies in memory to a chunk's rows."""
    values = {"email": email, **_choice(was, name, categories, frequency, status, source, now, confirmed_ip)}
    if language is not None:
        values["language"] = language
    if status is SubscriberStatus.CONFIRMED:
        values["hard_bounces"] = 0
    return values


def _new_row(default_language: str) -> dict[str, Any]:
    """What a new row holds besides its choice's columns."""
    return {"hard_bounces": 0, "language": default_language}


@dataclass(frozen=True, slots=True)
class Choice:
    """One address's subscription as `save` takes it (checked: choices.wanted), for `save_many`."""

    email: str
    name: str | None
    categories: frozenset[str] | None
    frequency: Frequency
    language: str | None = None


def save_many(
    conn: Connection,
    wanted: Sequence[Choice],
    *,
    status: SubscriberStatus,
    source: Source,
    now: datetime,
    default_language: str = "vi",
) -> list[tuple[Subscriber, bool]]:
    """`save` of each choice in turn, in a few statements whatever their number (a CSV import's chunk):
    one read of the rows already there, one insert of the new ones, one update of those changed, one
    insert of their status history. Returns, for each choice in order, the subscriber as that choice
    left it and whether it created the row (an address given twice: created, then updated).

    The same rules as `save`, which still serves the addresses the office lists (kept apart, a few)
    and, should another writer add one of these addresses meanwhile, every choice one by one. A row
    that a choice leaves as it was is not written at all: importing the same file again writes
    nothing (its `updated_at` stays that of its last change)."""

    def one_by_one(choices: Iterable[Choice]) -> list[tuple[Subscriber, bool]]:
        return [
            save(
                conn,
                choice.email,
                name=choice.name,
                categories=choice.categories,
                frequency=choice.frequency,
                status=status,
                source=source,
                now=now,
                language=choice.language,
                default_language=default_language,
            )
            for choice in choices
        ]

    keys = [address_key(choice.email) for choice in wanted]
    stored, listed = _stored(conn, keys, source)
    plan = _Plan(stored)
    for key, choice in zip(keys, wanted, strict=True):
        if key not in listed:
            plan.apply(key, choice, status, source, now, default_language)
    try:
        ids = plan.write(conn, source.value, now)
    except IntegrityError:  # another writer added one of these addresses since they were read
        return one_by_one(wanted)
    saved = iter([(of_columns({**columns, "id": ids[key]}), created) for key, columns, created in plan.steps])
    kept_apart = iter(one_by_one(choice for key, choice in zip(keys, wanted, strict=True) if key in listed))
    return [next(kept_apart) if key in listed else next(saved) for key in keys]


def _stored(
    conn: Connection, keys: Sequence[str], source: Source
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The rows of these address keys (their columns by name), and those the office lists (a
    resident's choice for them is kept apart: `save`), in one read."""
    # the times as the driver gives them, each distinct one converted once (an import's rows share theirs)
    times = {
        c.name: c.type.dialect_impl(conn.dialect) for c in subscribers.c if isinstance(c.type, UTCDateTime)
    }
    plain = [type_coerce(c, NullType()).label(c.name) if c.name in times else c for c in subscribers.c]
    query = (
        select(*plain, officials.c.subscriber_id.label("listed"))
        .outerjoin(officials, officials.c.subscriber_id == subscribers.c.id)
        .where(_among(conn, set(keys)))
    )
    convert = {name: _once(kind.result_processor(conn.dialect, None)) for name, kind in times.items()}
    stored: dict[str, dict[str, Any]] = {}
    listed: set[str] = set()
    result = conn.execute(query)
    names = list(result.keys())
    for row in result.all():
        columns = dict(zip(names, row, strict=True))
        for name, converted in convert.items():
            columns[name] = converted(columns[name])
        if columns.pop("listed") is not None and source is not Source.CONFIG:
            listed.add(columns["email_key"])
        stored[columns["email_key"]] = columns
    return stored, listed


def _among(conn: Connection, keys: Collection[str]) -> ColumnElement[bool]:
    """The rows of these address keys. On PostgreSQL `= ANY` of one array: an IN of 5,000 values is a
    statement psycopg parses again each time, which cost more than the read."""
    if conn.dialect.name == "postgresql":
        array = cast(bindparam("keys", list(keys), type_=ARRAY(String)), ARRAY(String))
        return subscribers.c.email_key == any_(array)
    # on SQLite, one JSON array too (json_each): SQLAlchemy renders an IN of 5,000 values afresh each time
    values = func.json_each(bindparam("keys", json.dumps(list(keys)))).table_valued("value")
    return subscribers.c.email_key.in_(select(values.c.value))


def _once(process: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """`process` of a value (None stays None), each distinct value processed once."""
    done: dict[Any, Any] = {None: None}

    def converted(value: Any) -> Any:
        if value not in done:
            done[value] = value if process is None else process(value)
        return done[value]

    return converted


class _Plan:
    """What `save_many` writes, worked out in memory from the rows read: each address's columns as
    the choices leave them, in turn (`save`'s rules), and the status history they add."""

    def __init__(self, stored: dict[str, dict[str, Any]]) -> None:
        self.stored = stored
        self.current = dict(stored)  # by address key
        self.steps: list[tuple[str, dict[str, Any], bool]] = []  # per choice: key, columns after, created
        self.moves: list[tuple[str, str]] = []  # (key, status moved to), in order

    def apply(
        self,
        key: str,
        choice: Choice,
        status: SubscriberStatus,
        source: Source,
        now: datetime,
        default_language: str,
    ) -> None:
        before = self.current.get(key)
        was = _STATUSES[before["status"]] if before else None
        values = _row_values(
            was, choice.email, choice.name, choice.categories, choice.frequency, choice.language,
            status, source, now, None,
        )  # fmt: skip
        if before is None:
            after: dict[str, Any] = {"id": None, **_new_row(default_language)}
            after |= {"confirmed_at": None, "confirmed_ip": None, "unsubscribed_at": None}
            after |= {**values, "email_key": key, "created_at": now, "updated_at": now}
        else:
            after = before | values
            if after != before:
                after["updated_at"] = now
        if before is None or before["status"] != after["status"]:
            self.moves.append((key, str(after["status"])))
        self.current[key] = after
        self.steps.append((key, after, before is None))

    def write(self, conn: Connection, cause: str, now: datetime) -> dict[str, int]:
        """Insert the new rows, update the changed ones, add the history; the ids by address key.
        IntegrityError (another writer's row for a new address) undoes the insert alone."""
        new = [columns for key, columns in self.current.items() if key not in self.stored]
        if new:
            # columns no new row sets are left to their default (NULL): fewer values to convert
            names = [name for name in new[0] if name != "id" and any(c[name] is not None for c in new)]
            with conn.begin_nested():  # a savepoint: a failed insert leaves the transaction usable
                _insert_rows(conn, subscribers, names, new)
        changed = [c for key, c in self.current.items() if key in self.stored and c != self.stored[key]]
        if changed:
            names = [name for name in changed[0] if name not in ("id", "email_key", "created_at")]
            statement = (
                update(subscribers)
                .where(subscribers.c.id == bindparam("row_id"))
                .values({name: bindparam(f"new_{name}") for name in names})  # a column's own name is taken
            )
            conn.execute(
                statement, [{"row_id": c["id"], **{f"new_{n}": c[n] for n in names}} for c in changed]
            )
        ids = {key: int(columns["id"]) for key, columns in self.stored.items()}
        if new:
            keys = [columns["email_key"] for columns in new]
            fresh = select(subscribers.c.email_key, subscribers.c.id).where(_among(conn, keys))
            ids.update({row.email_key: row.id for row in conn.execute(fresh)})
        if self.moves:
            history = [
                {"subscriber_id": ids[key], "at": now, "status": moved, "cause": cause}
                for key, moved in self.moves
            ]
            _insert_rows(conn, subscriber_events, list(history[0]), history)
        return ids


def _insert_rows(
    conn: Connection, table: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """INSERT of these columns of each row, in one statement. On SQLite straight to the driver, each
    column's value converted for it once per distinct value (a bulk import's rows share their `now`):
    SQLAlchemy converts every parameter of every row, which cost more than SQLite's inserts."""
    if conn.dialect.name == "postgresql":
        # one array per column, unnested by the server (as database.insert_ignore does): a multi-row
        # VALUES is a statement psycopg rewrites in Python each time. A column with one value in every
        # row (the time, the status, the source) is one parameter: psycopg dumps arrays in Python.
        first = rows[0]
        varying = [name for name in names if any(row[name] != first[name] for row in rows)] or list(names[:1])
        columns = [
            func.unnest(
                cast(bindparam(f"a_{name}", type_=ARRAY(table.c[name].type)), ARRAY(table.c[name].type))
            )
            if name in varying
            else cast(bindparam(f"a_{name}", type_=table.c[name].type), table.c[name].type)
            for name in names
        ]
        params = {
            f"a_{name}": [row[name] for row in rows] if name in varying else first[name] for name in names
        }
        conn.execute(table.insert().from_select(list(names), select(*columns)), params)
        return
    dialect = conn.dialect
    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    statement = f"INSERT INTO {table.name} ({quoted}) VALUES ({', '.join('?' for _ in names)})"
    converting = []  # (position, converter, what it gave): only the columns whose type converts
    for position, name in enumerate(names):
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            converting.append((position, process, dict[Any, Any]()))
    driver_rows = []
    for row in rows:
        values = [row[name] for name in names]
        for position, process, done in converting:
            value = values[position]
            if value is not None:
                if value not in done:
                    done[value] = process(value)
                values[position] = done[value]
        driver_rows.append(tuple(values))
    conn.exec_driver_sql(statement, driver_rows)


def _choice(
    before: SubscriberStatus | None,
    name: str | None,
    categories: Iterable[str] | None,
    frequency: Frequency,
    status: SubscriberStatus,
    source: Source,
    now: datetime,
    confirmed_ip: str | None,
) -> dict[str, Any]:
    """The columns a subscription choice sets, whether on the row or kept apart (officials.own_*).

    A pending choice for an address that is confirmed (`before`) changes its choices only: it stays
    confirmed, with the source it was confirmed through, and needs no confirmation again (the office's
    `subscribers add` without --confirmed, `import --pending`). Any other address, unsubscribed and
    bounced ones too, takes the status and source given."""
    values: dict[str, Any] = {
        "name": name,
        "categories": encode_categories(categories),
        "frequency": frequency.value,
    }
    if status is SubscriberStatus.PENDING and before is SubscriberStatus.CONFIRMED:
        return values
    values |= {"status": status.value, "source": source.value}
    if status is SubscriberStatus.CONFIRMED:
        if before is not SubscriberStatus.CONFIRMED:  # re-confirming keeps the first confirmation on record
            values["confirmed_at"] = now
            values["confirmed_ip"] = confirmed_ip
        values["unsubscribed_at"] = None
    return values


def set_choice(
    conn: Connection,
    subscriber_id: int,
    categories: Iterable[str] | None,
    frequency: Frequency,
    now: datetime,
    language: str | None = None,
) -> None:
    """Categories and frequency chosen on the preferences page: the resident's own, kept apart while the
    office lists the address. The language of their mail (None: unchanged) is theirs either way."""
    if language is not None:
        conn.execute(
            update(subscribers)
            .where(subscribers.c.id == subscriber_id)
            .values(language=language, updated_at=now)
        )
    values = {"categories": encode_categories(categories), "frequency": frequency.value}
    entry = _entry(conn, subscriber_id)
    if entry is not None:
        own: dict[str, Any] = {f"own_{column}": value for column, value in values.items()}
        if entry.own_status is None:
            # an address the office alone had listed: its owner, who followed the link mailed to it,
            # now subscribes themselves too (the page says this choice takes over when unlisted)
            own |= {
                "own_status": SubscriberStatus.CONFIRMED.value,
                "own_source": Source.WEB.value,
                "own_confirmed_at": now,
            }
        conn.execute(update(officials).where(officials.c.subscriber_id == subscriber_id).values(own))
        return
    conn.execute(
        update(subscribers).where(subscribers.c.id == subscriber_id).values(**values, updated_at=now)
    )


def set_status(
    conn: Connection,
    subscriber_id: int,
    status: SubscriberStatus,
    now: datetime,
    cause: str | None = None,
) -> None:
    """`cause` for the status history (subscriber_events): by default `unsubscribe` or `bounce`, as
    the status says."""
    before = conn.execute(select(subscribers.c.status).where(subscribers.c.id == subscriber_id)).scalar()
    values: dict[str, Any] = {"status": status.value, "updated_at": now}
    if status is SubscriberStatus.UNSUBSCRIBED:
        values["unsubscribed_at"] = now
    conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(**values))
    if before is not None and before != status.value:
        _moved(conn, subscriber_id, status, cause or _CAUSES.get(status, UNSUBSCRIBE), now)
    if status in (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED):
        cancel_queued(conn, [subscriber_id])


def cancel_queued(conn: Connection, subscriber_ids: Sequence[int]) -> int:
    """Mail already queued for these subscribers is not sent (a claimed mail may still go out)."""
    if not subscriber_ids:
        return 0
    result = conn.execute(
        update(outbox)
        .where(
            outbox.c.subscriber_id.in_(list(subscriber_ids)), outbox.c.status == OutboxStatus.PENDING.value
        )
        .values(status=OutboxStatus.CANCELLED.value, last_error="unsubscribed")
    )
    return int(result.rowcount or 0)


def unsubscribe(conn: Connection, subscriber_id: int, now: datetime) -> None:
    """The person asked for no more mail: their own subscription ends too, not only what the office
    listed (which the office's file brings back when it is applied again)."""
    set_status(conn, subscriber_id, SubscriberStatus.UNSUBSCRIBED, now)
    conn.execute(
        update(officials)
        .where(officials.c.subscriber_id == subscriber_id, officials.c.own_status.is_not(None))
        .values(own_status=SubscriberStatus.UNSUBSCRIBED.value, own_unsubscribed_at=now)
    )


def unconfirmed_from_web(conn: Connection, before: datetime) -> list[int]:
    """Addresses typed on the web before `before` and never confirmed."""
    return list(
        conn.execute(
            select(subscribers.c.id).where(
                subscribers.c.status == SubscriberStatus.PENDING.value,
                subscribers.c.source == Source.WEB.value,
                subscribers.c.created_at < before,
            )
        ).scalars()
    )


def forget(conn: Connection, subscriber_ids: Sequence[int]) -> None:
    """Delete these subscribers with everything that points at them (their mail, the office's entry)."""
    ids = list(subscriber_ids)
    if ids:
        conn.execute(delete(outbox).where(outbox.c.subscriber_id.in_(ids)))
        conn.execute(delete(subscriber_events).where(subscriber_events.c.subscriber_id.in_(ids)))
        conn.execute(delete(officials).where(officials.c.subscriber_id.in_(ids)))
        conn.execute(delete(subscribers).where(subscribers.c.id.in_(ids)))


# -- the officials file's entries ------------------------------------------------------------------


def _entry(conn: Connection, subscriber_id: int) -> Row[Any] | None:
    return conn.execute(select(officials).where(officials.c.subscriber_id == subscriber_id)).first()


def own_choice(conn: Connection, subscriber_id: int) -> OwnChoice | None:
    """The resident's own choice while the office lists the address; None when it is not listed."""
    entry = _entry(conn, subscriber_id)
    if entry is None:
        return None
    person = by_id(conn, subscriber_id) if entry.own_frequency is None else None
    return _own_of(entry, person)


def _own_of(entry: Row[Any], person: Subscriber | None) -> OwnChoice:
    """An officials row's own choice; `person` (the row's subscriber) needed when it has none yet."""
    if entry.own_frequency is None:  # nothing of their own yet: the office's entry is the starting point
        assert person is not None
        return OwnChoice(person.categories, person.frequency, subscribed=False)
    return OwnChoice(
        decode_categories(entry.own_categories),
        Frequency(entry.own_frequency),
        subscribed=entry.own_status == SubscriberStatus.CONFIRMED.value,
    )


def own_choices(conn: Connection, people: Sequence[Subscriber]) -> dict[int, OwnChoice]:
    """`own_choice` of each of these subscribers the office lists, by id, in one read (the console's
    officials page); the ones not listed are left out."""
    by_person = {person.id: person for person in people}
    if not by_person:
        return {}
    rows = conn.execute(select(officials).where(officials.c.subscriber_id.in_(list(by_person))))
    return {row.subscriber_id: _own_of(row, by_person[row.subscriber_id]) for row in rows}


def listed_officials(conn: Connection) -> dict[str, int]:
    """Subscriber ids of the addresses the office lists, by address key."""
    rows = conn.execute(
        select(subscribers.c.email_key, subscribers.c.id).join(
            officials, officials.c.subscriber_id == subscribers.c.id
        )
    )
    return {row.email_key: row.id for row in rows}


def list_official(
    conn: Connection,
    email: str,
    *,
    name: str | None,
    categories: frozenset[str] | None,
    frequency: Frequency,
    now: datetime,
    language: str | None = None,
    default_language: str = "vi",
) -> bool:
    """The office lists this address with this entry; True when that changed anything.

    The row carries the entry (confirmed, source config) while listed; a resident's own subscription
    is kept in officials.own_* and put back by unlist_official. `language`: the entry's `language`
    key (None: the person's language stays as it is, `default_language` for a new address).
    """
    existing = by_email(conn, email)
    entry = _entry(conn, existing.id) if existing is not None else None
    status = SubscriberStatus.CONFIRMED
    if existing is not None and entry is not None and existing.status in _HELD:
        # the person unsubscribed from the office's mail, or the address bounced, while listed: that
        # holds until the office takes the entry out of the file and puts it back (not at every restart)
        status = existing.status
    speaks = language or (existing.language if existing is not None else default_language)
    wanted = (status, Source.CONFIG, name, categories, frequency, speaks)
    if existing is not None and entry is not None:
        if (
            existing.status,
            existing.source,
            existing.name,
            existing.categories,
            existing.frequency,
            existing.language,
        ) == wanted:
            return False
    elif existing is not None:
        own = {} if existing.source is Source.CONFIG else _own(existing)  # config: an ended entry, no own
        conn.execute(officials.insert().values(subscriber_id=existing.id, listed_at=now, **own))
    person, _ = save(
        conn,
        email,
        name=name,
        categories=categories,
        frequency=frequency,
        status=status,
        source=Source.CONFIG,
        now=now,
        language=language,
        default_language=default_language,
    )
    if existing is None:
        conn.execute(officials.insert().values(subscriber_id=person.id, listed_at=now))
    return True


_HELD = (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED)


def _own(person: Subscriber) -> dict[str, Any]:
    return {
        "own_status": person.status.value,
        "own_source": person.source.value,
        "own_name": person.name,
        "own_categories": encode_categories(person.categories),
        "own_frequency": person.frequency.value,
        "own_confirmed_at": person.confirmed_at,
        "own_confirmed_ip": person.confirmed_ip,
        "own_unsubscribed_at": person.unsubscribed_at,
    }


def unlist_official(conn: Connection, subscriber_id: int, now: datetime) -> None:
    """The office no longer lists this address: the resident's own subscription comes back as they
    left it; with none of their own, the subscription ends."""
    entry = _entry(conn, subscriber_id)
    if entry is None:
        return
    conn.execute(delete(officials).where(officials.c.subscriber_id == subscriber_id))
    if entry.own_status is None:
        set_status(conn, subscriber_id, SubscriberStatus.UNSUBSCRIBED, now, UNLIST)
        return
    columns = ("status", "source", "name", "categories", "frequency", "confirmed_at", "confirmed_ip")
    restored = {column: getattr(entry, f"own_{column}") for column in (*columns, "unsubscribed_at")}
    before = by_id(conn, subscriber_id)
    conn.execute(
        update(subscribers).where(subscribers.c.id == subscriber_id).values(**restored, updated_at=now)
    )
    if before is not None and before.status.value != entry.own_status:
        _moved(conn, subscriber_id, SubscriberStatus(entry.own_status), UNLIST, now)
    if entry.own_status != SubscriberStatus.CONFIRMED.value:
        cancel_queued(conn, [subscriber_id])


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


# -- status history (subscriber_events) ------------------------------------------------------------

_CAUSES = {SubscriberStatus.UNSUBSCRIBED: UNSUBSCRIBE, SubscriberStatus.BOUNCED: BOUNCE}


def _moved(conn: Connection, subscriber_id: int, status: SubscriberStatus, cause: str, now: datetime) -> None:
    conn.execute(
        subscriber_events.insert().values(
            subscriber_id=subscriber_id, at=now, status=status.value, cause=cause
        )
    )


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """A subscriber moved to `status` at `at`; `cause`: a subscription's source (model.Source's values)
    or UNSUBSCRIBE, BOUNCE, UNLIST."""

    at: datetime
    status: SubscriberStatus
    cause: str


def history(conn: Connection, subscriber_id: int) -> list[StatusEvent]:
    """A subscriber's statuses, oldest first."""
    rows = conn.execute(
        select(subscriber_events.c.at, subscriber_events.c.status, subscriber_events.c.cause)
        .where(subscriber_events.c.subscriber_id == subscriber_id)
        .order_by(subscriber_events.c.at, subscriber_events.c.id)
    )
    return [StatusEvent(row.at, SubscriberStatus(row.status), row.cause) for row in rows]


def status_by_day(conn: Connection, days: Sequence[Day]) -> list[dict[SubscriberStatus, int]]:
    """For each day (in the order given), how many subscribers stood in each status at its end
    (`Day.end`, exclusive); every status is a key. Subscribers deleted since are not counted.

    One pass over the history up to the last day's end, in time order, so 90 days cost one read."""
    if not days:
        return []
    order = sorted(range(len(days)), key=lambda i: days[i].end)
    last = days[order[-1]].end
    query = (
        select(subscriber_events.c.subscriber_id, subscriber_events.c.at, subscriber_events.c.status)
        .where(subscriber_events.c.at < last)
        .order_by(subscriber_events.c.at, subscriber_events.c.id)
        .execution_options(yield_per=5000)
    )
    current: dict[int, str] = {}
    counts: Counter[str] = Counter()
    results: list[dict[SubscriberStatus, int]] = [{} for _ in days]
    at = iter(order)
    index = next(at)
    for subscriber_id, moment, status in conn.execute(query):
        while moment >= days[index].end:
            results[index] = _snapshot(counts)
            index = next(at)
        previous = current.get(subscriber_id)
        if previous is not None:
            counts[previous] -= 1
        counts[status] += 1
        current[subscriber_id] = status
    results[index] = _snapshot(counts)
    for index in at:
        results[index] = _snapshot(counts)
    return results


def _snapshot(counts: Counter[str]) -> dict[SubscriberStatus, int]:
    return {status: counts[status.value] for status in SubscriberStatus}
