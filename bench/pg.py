"""PostgreSQL for the benchmarks: is it there, a fresh schema of one's own, the server's version."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_problem(url: str) -> str | None:
    """Why PostgreSQL cannot be used at `url`, or None when it can."""
    try:
        import psycopg

        with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means "not here"
        return f"{type(error).__name__}: {error}".strip()
    return None


@contextmanager
def postgres_schema(url: str, prefix: str = "bench") -> Iterator[str]:
    """A fresh schema of its own, dropped afterwards; yields the URL that uses it."""
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    plain = url.replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"
