"""Leader election: one instance among all those sharing a database runs the scheduled jobs.

Each `Leadership` below has an engine of its own, as separate processes would. PostgreSQL holds a
session advisory lock, SQLite an flock beside the database file; both are let go by the system when
the holder dies, so the others take over.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from syndicator.leader import Leadership
from syndicator.store import Store
from syndicator.store.database import create_store_engine
from tests.conftest import postgres_schema_url, require_postgres
from tests.leaderkit import terminate_leader_lock
from tests.processes import eventually


class Instances:
    """Leaderships of separate 'instances' of one database; disposed at the end."""

    def __init__(self, url: str, var_dir: Path) -> None:
        self.url = url
        self.var_dir = var_dir
        self.made: list[Leadership] = []

    def new(self) -> Leadership:
        leadership = Leadership(create_store_engine(self.url), self.var_dir)
        self.made.append(leadership)
        return leadership

    def close(self) -> None:
        for leadership in self.made:
            leadership.release()
            leadership.engine.dispose()


@pytest.fixture
def instances(database_url: str, tmp_path: Path) -> Iterator[Instances]:
    Store.open(database_url).close()  # the schema, as `serve` makes it before electing
    made = Instances(database_url, tmp_path / "var")
    yield made
    made.close()


def test_exactly_one_instance_leads(instances: Instances) -> None:
    first, second, third = instances.new(), instances.new(), instances.new()
    assert [first.acquire(), second.acquire(), third.acquire()] == [True, False, False]
    for _ in range(3):  # asked at every tick: the answer holds
        assert [first.acquire(), second.acquire(), third.acquire()] == [True, False, False]
    assert first.held and not second.held and not third.held


def test_release_hands_the_lead_to_another_instance(instances: Instances) -> None:
    first, second = instances.new(), instances.new()
    assert first.acquire() and not second.acquire()
    first.release()  # a graceful shutdown
    assert not first.held
    assert second.acquire()
    assert not first.acquire()


def test_an_instance_killed_while_leading_is_replaced(instances: Instances, tmp_path: Path) -> None:
    """SIGKILL runs no shutdown code: the system must free the lock (connection closed, flock dropped)."""
    program = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from syndicator.leader import Leadership
        from syndicator.store.database import create_store_engine
        leadership = Leadership(create_store_engine({instances.url!r}), Path({str(instances.var_dir)!r}))
        print("leading" if leadership.acquire() else "not leading", flush=True)
        time.sleep(120)
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "leading", holder.stderr.read() if holder.stderr else ""
        ours = instances.new()
        assert not ours.acquire()
        holder.kill()
        holder.wait(10)
        eventually(ours.acquire, "the survivor to take the lead", timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(10)
        for stream in (holder.stdout, holder.stderr):
            if stream is not None:
                stream.close()


def test_sqlite_lock_file_is_beside_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'store.db'}"
    instances = Instances(url, tmp_path / "var")
    try:
        assert instances.new().acquire()
        assert (tmp_path / "data" / "store.db.leader").is_file()
    finally:
        instances.close()


# -- PostgreSQL only ------------------------------------------------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    require_postgres()
    yield from postgres_schema_url()


@pytest.mark.postgres
def test_postgres_leader_whose_connection_dies_steps_down(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    instances = Instances(pg_url, tmp_path / "var")
    try:
        first, second = instances.new(), instances.new()
        assert first.acquire() and not second.acquire()
        terminate_leader_lock(first.engine)
        # the server let the lock go with the session: another instance leads, and the old one says so
        eventually(second.acquire, "the second instance to take the lead")
        with caplog.at_level(logging.WARNING, logger="syndicator.leader"):
            assert not first.acquire()
        assert any("lost the leader connection" in r.getMessage() for r in caplog.records)
    finally:
        instances.close()


@pytest.mark.postgres
def test_postgres_deployments_in_separate_schemas_each_have_a_leader(pg_url: str, tmp_path: Path) -> None:
    """The lock is per schema: another deployment in the same database must not block this one."""
    with contextmanager(postgres_schema_url)() as other_url:
        Store.open(pg_url).close()
        Store.open(other_url).close()
        here, there = Instances(pg_url, tmp_path / "a"), Instances(other_url, tmp_path / "b")
        try:
            assert here.new().acquire()
            assert there.new().acquire()
            assert not here.new().acquire() and not there.new().acquire()
        finally:
            here.close()
            there.close()
