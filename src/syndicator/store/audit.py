"""The audit log: every change made in the console or by the CLI (accounts, subscribers), every view
of subscribers' addresses (a list, an export, a preview as one of them), and every login, failed login
and logout; written in the transaction of the change it records where there is one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, insert, select, true

from syndicator.accounts import AuditEntry
from syndicator.store.schema import audit_log

ACTOR_CHARS = 100
TARGET_CHARS = 200


def record(conn: Connection, entry: AuditEntry) -> None:
    conn.execute(
        insert(audit_log).values(
            at=entry.at,
            actor=entry.actor[:ACTOR_CHARS],
            action=entry.action,
            target=entry.target[:TARGET_CHARS] if entry.target is not None else None,
            detail=entry.detail,
            address=entry.address[:64] if entry.address is not None else None,
        )
    )


@dataclass(frozen=True, slots=True)
class Filter:
    """Which entries are read; None: any. `actor` and `action` match exactly; `since` is included and
    `until` is not (a half-open range, so days in the site's zone follow one another)."""

    action: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None


EVERY = Filter()


def _where(chosen: Filter) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    if chosen.action is not None:
        clauses.append(audit_log.c.action == chosen.action)
    if chosen.actor is not None:
        clauses.append(audit_log.c.actor == chosen.actor[:ACTOR_CHARS])
    if chosen.since is not None:
        clauses.append(audit_log.c.at >= chosen.since)
    if chosen.until is not None:
        clauses.append(audit_log.c.at < chosen.until)
    return and_(true(), *clauses)


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        detail=row.detail,
        address=row.address,
        id=row.id,
    )


def entries(conn: Connection, *, limit: int, offset: int = 0, chosen: Filter = EVERY) -> list[AuditEntry]:
    """Newest first."""
    query = (
        select(audit_log)
        .where(_where(chosen))
        .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_entry(row) for row in conn.execute(query)]


def count(conn: Connection, chosen: Filter = EVERY) -> int:
    query = select(func.count()).select_from(audit_log).where(_where(chosen))
    return int(conn.execute(query).scalar_one())
