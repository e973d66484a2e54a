"""The audit log: every change made in the console or by the CLI (accounts, subscribers), every view
of subscribers' addresses (a list, an export, a preview as one of them), and every login, failed login
and logout; written in the transaction of the change it records where there is one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, insert, select

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


def entries(conn: Connection, *, limit: int, offset: int = 0) -> list[AuditEntry]:
    """Newest first."""
    rows = conn.execute(
        select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit).offset(offset)
    )
    return [_entry(row) for row in rows]


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
