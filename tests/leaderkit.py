"""Cutting a PostgreSQL leader off: the server ends the session that holds the leader lock, as when
its connection dies. Shared by the leader and outbox lease tests."""

from __future__ import annotations

import psycopg
from sqlalchemy import Engine, text

from syndicator.leader import LEADER_LOCK
from tests.conftest import PG_URL


def terminate_leader_lock(engine: Engine) -> int:
    """pg_terminate_backend on the session holding the leader lock of this engine's schema; returns
    its pid."""
    with engine.connect() as conn:
        schema_key = int(conn.execute(text("SELECT hashtext(current_schema())")).scalar_one())
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as admin:
        row = admin.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2"
            " AND classid = %s::bigint::oid AND objid = (%s::bigint & 4294967295)::oid"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (LEADER_LOCK, schema_key),
        ).fetchone()
        assert row is not None, "nobody holds the leader lock"
        admin.execute("SELECT pg_terminate_backend(%s)", (row[0],))
    return int(row[0])
