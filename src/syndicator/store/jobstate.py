"""Small named values the jobs keep between runs (the immediate mails' cursor, where `serve` linked)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from syndicator.store.database import upsert
from syndicator.store.schema import job_state


def set_state(conn: Connection, name: str, value: str, now: datetime) -> None:
    upsert(conn, job_state, [{"name": name, "value": value, "updated_at": now}], "name")


def get_state(conn: Connection, name: str) -> str | None:
    value: str | None = conn.execute(select(job_state.c.value).where(job_state.c.name == name)).scalar()
    return value
