"""Where article writes meet digest runs, so that no article misses every digest.

A run's news is what became available in its window (store/digestruns.news). An article written by a
transaction that read its clock before a window ended but committed after that window's run read the
news would be dated inside a window already sent: no later run would carry it. So:

- a write dates a new (or newly available) article no earlier than just after the latest window that
  has a run (`floor`): arriving after that run was made, it is news in the next window;
- on PostgreSQL, writes hold a shared transaction lock and creating a run takes it exclusively, so a
  run is made only between writes: every write either committed before it (and is in its news) or
  reads the new run's end afterwards. A write takes its lock before any row lock, so a run waiting
  for the lock never waits on a write that waits on it. SQLite runs one writer at a time (BEGIN
  IMMEDIATE), which gives the same order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select, text

from syndicator.store.schema import digest_runs

_LOCK = 0x5E1D_0E75  # PostgreSQL advisory lock key shared by article writes and digest runs
AFTER = timedelta(microseconds=1)  # both databases keep microseconds


def floor(conn: Connection) -> datetime | None:
    """Just after the latest window end that has a run: the earliest a newly available article may be
    dated. None before the first run."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": _LOCK})
    latest: datetime | None = conn.execute(select(func.max(digest_runs.c.window_end))).scalar()
    return latest + AFTER if latest is not None else None


def exclusive(conn: Connection) -> None:
    """Called before a run is created: waits for the article writes in flight to commit."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
