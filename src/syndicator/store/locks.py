"""PostgreSQL session advisory locks, held on a connection kept for them (leader.py's election).

A session lock lives as long as its connection: the server releases it the moment that connection
dies, which is what lets another instance take over. Each call commits at once, so the kept
connection never sits idle in a transaction.
"""

from __future__ import annotations

from sqlalchemy import Connection, text


def try_lock(conn: Connection, key: int) -> bool:
    """Take the session lock `key` without waiting; False when another session holds it. Keyed by
    schema too: deployments sharing a database in separate schemas each have their own."""
    got = conn.execute(
        text("SELECT pg_try_advisory_lock(:k, hashtext(current_schema()))"), {"k": key}
    ).scalar()
    conn.commit()
    return bool(got)


def check_alive(conn: Connection) -> None:
    """Raises when the session that holds the locks is gone (and its locks with it)."""
    conn.execute(text("SELECT 1"))
    conn.commit()


def unlock_all(conn: Connection) -> None:
    """Let every session lock go now: the server would see a closed socket only later."""
    conn.execute(text("SELECT pg_advisory_unlock_all()"))
    conn.commit()
