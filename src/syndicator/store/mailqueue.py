"""The outbox: every mail is a row before it is sent; rows are claimed, then marked sent or failed.

Claims take rows under a row lock (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite has one writer at a
time) and mark them `sending` with their claimant and a lease, so parallel senders never take the same
row. A live sender renews the lease of what it holds; `recover` puts back only rows whose lease ran out
or whose claimant is known to be gone (mail/lease.py), and only those may go out twice.

Every write a sender makes to a row it claimed holds only while the row is still `sending` under its
claim: a sender whose lease lapsed (frozen, cut off) must not mark sent, queue again or fail a row
another sender has re-claimed or sent since. Those writes return whether the claim was still held.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError

from syndicator.model import Day, OutboxEntry, OutboxKind, OutboxStatus, SubscriberStatus
from syndicator.store.database import insert_ignore
from syndicator.store.schema import (
    MAIL_REPLY_CHARS,
    digest_parts,
    mail_attempts,
    mail_bodies,
    outbox,
    subscribers,
)
from syndicator.store.schema import TOKEN_CHARS as TOKEN_CHARS  # what outbox.token holds


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    kind: OutboxKind
    subscriber_id: int
    email: str
    name: str | None
    body_id: int
    token: str | None
    attempts: int
    parts: tuple[str, ...] | None = None  # a digest's categories (slugs of its parts), in order


@dataclass(frozen=True, slots=True)
class Part:
    articles: int
    text_qp: bytes
    html_qp: bytes


class Outcome(StrEnum):
    """What one delivery attempt came to (mail_attempts.outcome)."""

    SENT = "sent"  # the server took it
    RETRY = "retry"  # refused for now (4xx, a timeout, a dropped connection): tried again later
    FAILED = "failed"  # refused for good, not for its recipient, or given up after the last attempt
    BOUNCED = "bounced"  # its recipient refused for good (5xx to RCPT): a hard bounce


@dataclass(frozen=True, slots=True)
class Attempt:
    outbox_id: int
    at: datetime
    outcome: Outcome
    code: int | None
    reply: str | None
    claimant: str | None


def store_parts(conn: Connection, body_id: int, parts: Mapping[str, Part]) -> None:
    """A digest's per-category parts by slug (kept from the first rendering, like the frame)."""
    rows = [
        {"body_id": body_id, "slug": slug, "articles": p.articles, "text_qp": p.text_qp, "html_qp": p.html_qp}
        for slug, p in parts.items()
    ]
    insert_ignore(conn, digest_parts, rows)


def load_parts(conn: Connection, body_id: int) -> dict[str, Part]:
    rows = conn.execute(select(digest_parts).where(digest_parts.c.body_id == body_id))
    return {row.slug: Part(row.articles, bytes(row.text_qp), bytes(row.html_qp)) for row in rows}


def subject_and_language(conn: Connection, body_id: int) -> tuple[str, str]:
    """A body's subject and the language it is written in (a digest's count is filled in it per recipient)."""
    row = conn.execute(
        select(mail_bodies.c.subject, mail_bodies.c.language).where(mail_bodies.c.id == body_id)
    ).one()
    return str(row.subject), str(row.language)


def body_id(
    conn: Connection, key: str, subject: str, mime: bytes, now: datetime, *, language: str = "vi"
) -> int:
    """The id of the shared body with this key, stored once (the first rendering wins)."""
    existing = conn.execute(select(mail_bodies.c.id).where(mail_bodies.c.key == key)).scalar()
    if existing is not None:
        return int(existing)
    row = {"key": key, "subject": subject, "mime": mime, "created_at": now, "language": language}
    insert_ignore(conn, mail_bodies, [row])
    return int(conn.execute(select(mail_bodies.c.id).where(mail_bodies.c.key == key)).scalar_one())


def body(conn: Connection, body_id: int) -> bytes:
    return bytes(conn.execute(select(mail_bodies.c.mime).where(mail_bodies.c.id == body_id)).scalar_one())


def enqueue(conn: Connection, entries: Sequence[OutboxEntry], now: datetime) -> int:
    """Queue mails; one that exists already (same subscriber and run, article or token) is kept.
    Returns how many went in."""
    if not entries:
        return 0
    return insert_ignore(conn, outbox, [_queued(entry, now) for entry in entries])


def _queued(entry: OutboxEntry, now: datetime) -> dict[str, Any]:
    return {
        "subscriber_id": entry.subscriber_id,
        "kind": entry.kind.value,
        "body_id": entry.body_id,
        "run_id": entry.run_id,
        "article_id": entry.article_id,
        "token": entry.token,
        "parts": None if entry.parts is None else ",".join(entry.parts),
        "claimed_at": None,
        "claimed_by": None,
        "lease_until": None,
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "created_at": now,
        "sent_at": None,
    }


def claim(conn: Connection, now: datetime, limit: int, claimant: str, lease_until: datetime) -> list[Claimed]:
    """Take up to `limit` due rows for sending. The caller's transaction holds the locks until commit."""
    held = {
        "status": OutboxStatus.SENDING.value,
        "claimed_at": now,
        "claimed_by": claimant,
        "lease_until": lease_until,
    }
    due = (
        select(outbox.c.id)
        .where(outbox.c.status == OutboxStatus.PENDING.value, outbox.c.next_attempt_at <= now)
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(limit)
    )
    columns = (
        outbox.c.id,
        outbox.c.kind,
        outbox.c.subscriber_id,
        outbox.c.body_id,
        outbox.c.token,
        outbox.c.attempts,
        outbox.c.parts,
        subscribers.c.email,
        subscribers.c.name,
        subscribers.c.status,
    )
    if conn.dialect.name == "postgresql":
        # one statement: lock and mark due rows no other sender holds, return them with their address
        taken = (
            update(outbox)
            .where(outbox.c.id.in_(due.with_for_update(skip_locked=True).scalar_subquery()))
            .where(subscribers.c.id == outbox.c.subscriber_id)
            .values(**held)
            .returning(*columns)
        )
        rows = sorted(conn.execute(taken).all(), key=lambda row: row.id)
    else:
        ids = list(conn.execute(due).scalars())
        if not ids:
            return []
        conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(**held))
        rows = list(
            conn.execute(
                select(*columns)
                .join(subscribers, subscribers.c.id == outbox.c.subscriber_id)
                .where(outbox.c.id.in_(ids))
                .order_by(outbox.c.id)
            )
        )
    claimed: list[Claimed] = []
    stale: list[int] = []
    for row in rows:
        # unsubscribed or bounced since it was queued: it must not go out (a confirmation request
        # goes whatever the status: the person has just asked for it)
        if row.kind != OutboxKind.CONFIRM.value and row.status != SubscriberStatus.CONFIRMED.value:
            stale.append(row.id)
            continue
        claimed.append(
            Claimed(
                row.id,
                OutboxKind(row.kind),
                row.subscriber_id,
                row.email,
                row.name,
                row.body_id,
                row.token,
                row.attempts,
                None if row.parts is None else tuple(row.parts.split(",")),
            )
        )
    if stale:
        cancel(conn, stale, "not subscribed", claimant)
    return claimed


def _held(claimant: str, *outbox_ids: int) -> ColumnElement[bool]:
    """These rows, only while `claimant` still holds them."""
    row = outbox.c.id == outbox_ids[0] if len(outbox_ids) == 1 else outbox.c.id.in_(outbox_ids)
    return and_(row, outbox.c.status == OutboxStatus.SENDING.value, outbox.c.claimed_by == claimant)


def _changed(conn: Connection, claimant: str, outbox_ids: Sequence[int], **values: Any) -> int:
    if not outbox_ids:
        return 0
    result = conn.execute(update(outbox).where(_held(claimant, *outbox_ids)).values(**values))
    return int(result.rowcount or 0)


def cancel(conn: Connection, outbox_ids: Sequence[int], why: str, claimant: str) -> int:
    """These mails `claimant` holds will not go (their subscriber left or bounced)."""
    return _changed(conn, claimant, outbox_ids, status=OutboxStatus.CANCELLED.value, last_error=why)


def mark_sent(conn: Connection, outbox_id: int, now: datetime, claimant: str) -> bool:
    return bool(
        _changed(
            conn,
            claimant,
            [outbox_id],
            status=OutboxStatus.SENT.value,
            sent_at=now,
            attempts=outbox.c.attempts + 1,
            last_error=None,
        )
    )


_MARK_SENT = (
    f"UPDATE outbox SET status = '{OutboxStatus.SENT.value}', sent_at = {{p}}, attempts = attempts + 1, "
    f"last_error = NULL WHERE id = {{p}} AND status = '{OutboxStatus.SENDING.value}' AND claimed_by = {{p}}"
)
_SENT_ATTEMPT = (
    "INSERT INTO mail_attempts (outbox_id, at, outcome, code, reply, claimant) "
    f"VALUES ({{p}}, {{p}}, '{Outcome.SENT.value}', {{p}}, {{p}}, {{p}})"
)
# PostgreSQL: the mark and its attempt in one statement (one round trip), the attempt written only
# when the mark changed the row
_MARK_SENT_PG = (
    f"WITH marked AS ({_MARK_SENT.format(p='%s')} RETURNING id) "
    "INSERT INTO mail_attempts (outbox_id, at, outcome, code, reply, claimant) "
    f"SELECT id, %s, '{Outcome.SENT.value}', %s, %s, %s FROM marked"
)


def mark_sent_now(
    conn: Connection,
    outbox_id: int,
    now: datetime,
    claimant: str,
    *,
    code: int | None = None,
    reply: str | None = None,
) -> bool:
    """mark_sent in a transaction of its own, committed at once, on `conn` outside any transaction:
    the hot path of delivery, so it goes straight to the driver (SQLAlchemy's per-statement work
    capped the mails per second). The attempt (the server's `code` and `reply`) is written in the same
    transaction. False when `claimant` no longer held the row (then no attempt is written). A driver
    error comes as SQLAlchemy's DBAPIError, with connection_invalidated when the connection died."""
    dialect = conn.dialect
    raw = None
    try:
        raw = conn.connection.dbapi_connection
        return _mark_sent_raw(raw, dialect.name, outbox_id, now, claimant, code, _reply(reply))
    except dialect.loaded_dbapi.Error as error:  # the driver's own: told apart as SQLAlchemy's are
        dead = dialect.is_disconnect(error, raw, None)
        raise DBAPIError.instance(
            None, None, error, dialect.loaded_dbapi.Error, connection_invalidated=dead
        ) from error


def _mark_sent_raw(
    raw: Any, dialect: str, outbox_id: int, now: datetime, claimant: str, code: int | None, reply: str | None
) -> bool:
    """mark_sent through the DB-API connection itself (same row, same values, same condition), with
    its attempt."""
    if dialect == "sqlite":
        # the text form SQLAlchemy's SQLite DateTime stores (naive UTC), so reads see the same value
        at: Any = now.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        cursor = raw.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                cursor.execute(_MARK_SENT.format(p="?"), (at, outbox_id, claimant))
                changed = cursor.rowcount
                if changed:
                    cursor.execute(_SENT_ATTEMPT.format(p="?"), (outbox_id, at, code, reply, claimant))
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        finally:
            cursor.close()
        return bool(changed)
    # one statement in autocommit: one round trip to the server instead of three (BEGIN, UPDATE, COMMIT)
    raw.autocommit = True
    try:
        with raw.cursor() as cursor:
            at = now.astimezone(UTC)
            cursor.execute(_MARK_SENT_PG, (at, outbox_id, claimant, at, code, reply, claimant))
            return bool(cursor.rowcount)
    finally:
        raw.autocommit = False


def mark_retry(conn: Connection, outbox_id: int, error: str, at: datetime, claimant: str) -> bool:
    return bool(
        _changed(
            conn,
            claimant,
            [outbox_id],
            status=OutboxStatus.PENDING.value,
            next_attempt_at=at,
            attempts=outbox.c.attempts + 1,
            last_error=error[:2000],
        )
    )


def mark_failed(conn: Connection, outbox_id: int, error: str, claimant: str) -> bool:
    values = {
        "status": OutboxStatus.FAILED.value,
        "attempts": outbox.c.attempts + 1,
        "last_error": error[:2000],
    }
    return bool(_changed(conn, claimant, [outbox_id], **values))


def renew(conn: Connection, claimant: str, lease_until: datetime) -> set[int]:
    """Extend the lease of every row `claimant` still holds; returns the ids it still holds (a row
    missing that the sender thinks it holds was taken: the sender's lease had lapsed)."""
    held = select(outbox.c.id).where(
        outbox.c.status == OutboxStatus.SENDING.value, outbox.c.claimed_by == claimant
    )
    locked = held
    if conn.dialect.name == "postgresql":
        # a row locked now is being settled or handed back (or was claimed this instant): it needs no
        # renewal, and waiting for it could deadlock with a sender releasing several rows
        locked = held.with_for_update(skip_locked=True)
    conn.execute(
        update(outbox).where(outbox.c.id.in_(locked.scalar_subquery())).values(lease_until=lease_until)
    )
    # read without locks: the rows skipped above are still this claimant's
    return set(conn.execute(held).scalars())


def has_work(conn: Connection, now: datetime) -> bool:
    """Whether a sending pass has anything to do: a mail due, or one in flight (whose sender may be
    gone). Two indexed looks: an idle leader's pass every 2 s costs this, not a claim per thread."""
    due = select(outbox.c.id).where(
        outbox.c.status == OutboxStatus.PENDING.value, outbox.c.next_attempt_at <= now
    )
    sending = select(outbox.c.id).where(outbox.c.status == OutboxStatus.SENDING.value)
    return bool(conn.execute(select(or_(due.exists(), sending.exists()))).scalar())


def claimants(conn: Connection, now: datetime) -> list[str]:
    """Who holds `sending` rows under a lease still running (the caller judges which are gone)."""
    query = (
        select(outbox.c.claimed_by)
        .where(
            outbox.c.status == OutboxStatus.SENDING.value,
            outbox.c.lease_until >= now,
            outbox.c.claimed_by.is_not(None),
        )
        .distinct()
    )
    return [str(claimant) for claimant in conn.execute(query).scalars()]


def recover(conn: Connection, now: datetime, gone: Sequence[str] = ()) -> int:
    """Queue again the rows whose sender is gone: lease run out (or none, from an older version), or
    claimed by one of `gone`. They were in flight: only these may go out twice."""
    lapsed = or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now)
    if gone:
        lapsed = or_(lapsed, outbox.c.claimed_by.in_(list(gone)))
    sending = outbox.c.status == OutboxStatus.SENDING.value
    result = conn.execute(update(outbox).where(sending, lapsed).values(status=OutboxStatus.PENDING.value))
    return int(result.rowcount or 0)


def release(conn: Connection, outbox_ids: Sequence[int], claimant: str) -> int:
    """Claimed but not sent (the sender was asked to stop): due again at once. Returns how many
    `claimant` still held."""
    return _changed(conn, claimant, outbox_ids, status=OutboxStatus.PENDING.value)


def postpone(conn: Connection, outbox_ids: Sequence[int], at: datetime, error: str, claimant: str) -> int:
    """Claimed but not sent because the server could not be used: due again at `at`, no attempt charged.
    Returns how many `claimant` still held."""
    values = {"status": OutboxStatus.PENDING.value, "next_attempt_at": at, "last_error": error[:2000]}
    return _changed(conn, claimant, outbox_ids, **values)


def purge(conn: Connection, before: datetime) -> int:
    """Forget mails queued before `before` that are done with (sent, failed, cancelled), then the
    bodies and digest parts no mail points at any more; returns how many mails went.

    Nothing relies on old rows to avoid sending twice: digest runs are queued once, and immediate
    mails are only ever queued for articles of the last day."""
    done = (OutboxStatus.SENT.value, OutboxStatus.FAILED.value, OutboxStatus.CANCELLED.value)
    result = conn.execute(delete(outbox).where(outbox.c.created_at < before, outbox.c.status.in_(done)))
    unused = (
        select(mail_bodies.c.id)
        .where(mail_bodies.c.created_at < before)
        .where(~exists().where(outbox.c.body_id == mail_bodies.c.id))
    )
    gone = list(conn.execute(unused).scalars())
    for start in range(0, len(gone), 500):
        chunk = gone[start : start + 500]
        conn.execute(delete(digest_parts).where(digest_parts.c.body_id.in_(chunk)))
        conn.execute(delete(mail_bodies).where(mail_bodies.c.id.in_(chunk)))
    return int(result.rowcount or 0)


def counts(conn: Connection, *, run_id: int | None = None) -> dict[OutboxStatus, int]:
    """Mails by status: all of them, or those of one digest run."""
    query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
    if run_id is not None:
        query = query.where(outbox.c.run_id == run_id)
    return {OutboxStatus(status): int(number) for status, number in conn.execute(query)}


def counts_by_run(conn: Connection, run_ids: Sequence[int]) -> dict[int, dict[OutboxStatus, int]]:
    """Mails by status for each of these digest runs, in one query (a page of runs)."""
    found: dict[int, dict[OutboxStatus, int]] = {run_id: {} for run_id in run_ids}
    if run_ids:
        query = (
            select(outbox.c.run_id, outbox.c.status, func.count())
            .where(outbox.c.run_id.in_(list(run_ids)))
            .group_by(outbox.c.run_id, outbox.c.status)
        )
        for run_id, status, number in conn.execute(query):
            found[run_id][OutboxStatus(status)] = int(number)
    return found


def recent_confirmations(conn: Connection, subscriber_id: int, since: datetime) -> list[datetime]:
    """When confirmation mails were queued for this subscriber since `since` (oldest first)."""
    return list(
        conn.execute(
            select(outbox.c.created_at)
            .where(
                outbox.c.subscriber_id == subscriber_id,
                outbox.c.kind == OutboxKind.CONFIRM.value,
                outbox.c.created_at > since,
            )
            .order_by(outbox.c.created_at)
        ).scalars()
    )


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A subscriber's latest confirmation mail: its token (the choices its link confirms, and until
    when), when it was queued, and whether it went or may still go (`live`: not failed or cancelled)."""

    subscriber_id: int
    token: str | None
    queued_at: datetime
    live: bool


_DEAD = (OutboxStatus.FAILED.value, OutboxStatus.CANCELLED.value)
IDS_PER_QUERY = 1000


def latest_confirmations(conn: Connection, subscriber_ids: Sequence[int]) -> dict[int, Confirmation]:
    """The latest confirmation mail (of any status) of each of these subscribers that has one, by
    subscriber id: one query per 1,000 ids, never one per subscriber."""
    found: dict[int, Confirmation] = {}
    ids = sorted(set(subscriber_ids))
    for start in range(0, len(ids), IDS_PER_QUERY):
        latest = (
            select(func.max(outbox.c.id))
            .where(outbox.c.kind == OutboxKind.CONFIRM.value)
            .where(outbox.c.subscriber_id.in_(ids[start : start + IDS_PER_QUERY]))
            .group_by(outbox.c.subscriber_id)
        )
        rows = conn.execute(
            select(outbox.c.subscriber_id, outbox.c.token, outbox.c.created_at, outbox.c.status).where(
                outbox.c.id.in_(latest.scalar_subquery())
            )
        )
        for row in rows:
            found[row.subscriber_id] = Confirmation(
                row.subscriber_id, row.token, row.created_at, row.status not in _DEAD
            )
    return found


# -- attempts -------------------------------------------------------------------------------------------


def _reply(reply: str | None) -> str | None:
    return None if reply is None else reply[:MAIL_REPLY_CHARS]


def record_attempt(
    conn: Connection,
    outbox_id: int,
    now: datetime,
    outcome: Outcome,
    claimant: str | None,
    *,
    code: int | None = None,
    reply: str | None = None,
) -> None:
    """One attempt at a mail; written by the sender in the transaction that marks the row."""
    conn.execute(
        insert(mail_attempts).values(
            outbox_id=outbox_id,
            at=now,
            outcome=outcome.value,
            code=code,
            reply=_reply(reply),
            claimant=None if claimant is None else claimant[:128],
        )
    )


def attempts_of(conn: Connection, outbox_id: int) -> list[Attempt]:
    """Every attempt at one mail, oldest first."""
    rows = conn.execute(
        select(mail_attempts)
        .where(mail_attempts.c.outbox_id == outbox_id)
        .order_by(mail_attempts.c.at, mail_attempts.c.id)
    )
    return [Attempt(r.outbox_id, r.at, Outcome(r.outcome), r.code, r.reply, r.claimant) for r in rows]


# what the dashboard's series calls each outcome: mails that were retried, not attempts that were
_SERIES = {
    Outcome.SENT: "sent",
    Outcome.RETRY: "retried",
    Outcome.FAILED: "failed",
    Outcome.BOUNCED: "bounced",
}


def outcomes_by_day(conn: Connection, days: Sequence[Day]) -> list[dict[str, int]]:
    """Mails per day by the outcome of their attempts that day: {"sent", "retried", "failed",
    "bounced"} for each of `days`. A mail retried three times in a day counts once in "retried".
    Attempts are kept as long as their mail (mail.keep_days, then purged)."""
    found: list[dict[str, int]] = []
    for day in days:
        query = (
            select(mail_attempts.c.outcome, func.count(mail_attempts.c.outbox_id.distinct()))
            .where(mail_attempts.c.at >= day.start, mail_attempts.c.at < day.end)
            .group_by(mail_attempts.c.outcome)
        )
        counted = dict.fromkeys(_SERIES.values(), 0)
        for outcome, number in conn.execute(query):
            counted[_SERIES[Outcome(outcome)]] = int(number)
        found.append(counted)
    return found


# Delivery runs every few seconds, and a large digest at the configured rate takes minutes: a mail due
# longer ago than this is stuck (no deliver job runs, or the SMTP server has been unusable for that long).
STUCK_AFTER = timedelta(minutes=15)


def _stuck(now: datetime) -> ColumnElement[bool]:
    overdue = and_(
        outbox.c.status == OutboxStatus.PENDING.value, outbox.c.next_attempt_at < now - STUCK_AFTER
    )
    lapsed = and_(
        outbox.c.status == OutboxStatus.SENDING.value,
        or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
    )
    return or_(overdue, lapsed)


def stuck(conn: Connection, now: datetime) -> int:
    """Mail that should have gone and has not: pending more than STUCK_AFTER past its next attempt, or
    held by a sender whose lease ran out (it is gone; the next delivery pass queues it again)."""
    return int(conn.execute(select(func.count()).select_from(outbox).where(_stuck(now))).scalar_one())


def bounced_since(conn: Connection, since: datetime) -> int:
    """Mails whose recipient was refused for good since `since` (hard bounces)."""
    query = (
        select(func.count())
        .select_from(mail_attempts)
        .where(mail_attempts.c.outcome == Outcome.BOUNCED.value, mail_attempts.c.at >= since)
    )
    return int(conn.execute(query).scalar_one())


# -- the console's outbox -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filter:
    """Which mails the console lists; None: any. `address`: part of the recipient's address."""

    status: OutboxStatus | None = None
    kind: OutboxKind | None = None
    address: str | None = None
    run_id: int | None = None


@dataclass(frozen=True, slots=True)
class Mail:
    """A mail as the console shows it (`subject` as stored: a digest's count is still its slot)."""

    id: int
    kind: OutboxKind
    status: OutboxStatus
    subscriber_id: int
    email: str
    subject: str
    language: str
    run_id: int | None
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
    claimed_by: str | None
    lease_until: datetime | None


_MAIL_COLUMNS = (
    outbox.c.id,
    outbox.c.kind,
    outbox.c.status,
    outbox.c.subscriber_id,
    subscribers.c.email,
    mail_bodies.c.subject,
    mail_bodies.c.language,
    outbox.c.run_id,
    outbox.c.attempts,
    outbox.c.next_attempt_at,
    outbox.c.created_at,
    outbox.c.sent_at,
    outbox.c.last_error,
    outbox.c.claimed_by,
    outbox.c.lease_until,
)


def _mail(row: Any) -> Mail:
    return Mail(
        row.id,
        OutboxKind(row.kind),
        OutboxStatus(row.status),
        row.subscriber_id,
        row.email,
        row.subject,
        row.language,
        row.run_id,
        row.attempts,
        row.next_attempt_at,
        row.created_at,
        row.sent_at,
        row.last_error,
        row.claimed_by,
        row.lease_until,
    )


def _filtered(query: Any, chosen: Filter) -> Any:
    if chosen.status is not None:
        query = query.where(outbox.c.status == chosen.status.value)
    if chosen.kind is not None:
        query = query.where(outbox.c.kind == chosen.kind.value)
    if chosen.run_id is not None:
        query = query.where(outbox.c.run_id == chosen.run_id)
    if chosen.address:
        query = query.where(subscribers.c.email_key.contains(chosen.address.casefold(), autoescape=True))
    return query


def mails(conn: Connection, chosen: Filter, *, limit: int, offset: int = 0) -> tuple[list[Mail], int]:
    """A page of the outbox, newest first, and how many mails the filter matches in all."""
    joined = outbox.join(subscribers, subscribers.c.id == outbox.c.subscriber_id).join(
        mail_bodies, mail_bodies.c.id == outbox.c.body_id
    )
    rows = conn.execute(
        _filtered(select(*_MAIL_COLUMNS).select_from(joined), chosen)
        .order_by(outbox.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    counted = _filtered(
        select(func.count()).select_from(
            outbox.join(subscribers, subscribers.c.id == outbox.c.subscriber_id)
        ),
        chosen,
    )
    return [_mail(row) for row in rows], int(conn.execute(counted).scalar_one())


def mail(conn: Connection, outbox_id: int) -> Mail | None:
    row = conn.execute(
        select(*_MAIL_COLUMNS)
        .join(subscribers, subscribers.c.id == outbox.c.subscriber_id)
        .join(mail_bodies, mail_bodies.c.id == outbox.c.body_id)
        .where(outbox.c.id == outbox_id)
    ).first()
    return None if row is None else _mail(row)


RETRYABLE = (OutboxStatus.PENDING, OutboxStatus.FAILED)
CANCELLABLE = (OutboxStatus.PENDING,)


def retry_now(conn: Connection, outbox_id: int, seen: OutboxStatus, now: datetime) -> bool:
    """A pending mail due now, or a failed one back in the queue, due now; only while it is still as
    the person saw it (`seen`). False when it moved meanwhile (or cannot be retried)."""
    if seen not in RETRYABLE:
        return False
    result = conn.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id, outbox.c.status == seen.value)
        .values(status=OutboxStatus.PENDING.value, next_attempt_at=now)
    )
    return bool(result.rowcount)


def cancel_now(conn: Connection, outbox_id: int, seen: OutboxStatus, why: str) -> bool:
    """A pending mail (queued, or waiting for its next attempt) will not go. A mail being sent cannot be
    cancelled: the server may have it already. False when it moved meanwhile (or cannot be cancelled)."""
    if seen not in CANCELLABLE:
        return False
    result = conn.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id, outbox.c.status == seen.value)
        .values(status=OutboxStatus.CANCELLED.value, last_error=why)
    )
    return bool(result.rowcount)
