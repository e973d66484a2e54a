"""What the benchmarks share: the machine's facts, the commit measured, PostgreSQL (is it there, a
fresh schema of one's own, the server's version)."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the PostgreSQL server the benchmarks use (each in a fresh schema of its own)
PG_URL = os.environ.get("SYNDICATOR_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


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


def git_revision() -> str:
    """The commit measured, noting uncommitted changes in src/."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "src")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" +uncommitted changes in src/" if dirty else "")


def machine() -> dict[str, object]:
    """What docs/benchmarks.md states about the machine."""
    memory = 0
    try:
        with open("/proc/meminfo") as meminfo:
            memory = int(meminfo.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "nproc": os.cpu_count(),
        "ram_mb": memory,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_1min": round(os.getloadavg()[0], 2),  # other work on the machine skews the figures
        "code": git_revision(),
    }
