"""Shared fixtures: real databases (a SQLite file, a fresh PostgreSQL schema), a fixed clock, settings.

PostgreSQL and Chromium tests skip with a reason when the machine lacks them, except under CI=true,
where a missing one fails the run (CI must run everything).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndicator.config import Settings, load_settings
from syndicator.store import Store
from tests.factories import FakeClock
from tests.processes import Processes

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "portal-export"
DATA = Path(__file__).resolve().parent / "data"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("SYNDICATOR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2021, 3, 10, 3, 0, tzinfo=UTC)  # 10:00 in Thọ Xuân, after every sample article


def _pg_problem() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means "not here"
        return f"PostgreSQL not reachable at {PG_URL}: {error}"
    return None


_PG_PROBLEM: str | bool | None = False  # False: not probed yet


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true nothing skips: a skipped test fails, naming why it wanted to skip."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"CI must run every test; this one skipped: {report.longrepr}"


def require_postgres() -> None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _pg_problem()
    if isinstance(_PG_PROBLEM, str):
        if IN_CI:
            pytest.fail(f"CI must run the PostgreSQL tests: {_PG_PROBLEM}")
        pytest.skip(_PG_PROBLEM)


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if IN_CI:
            pytest.fail("CI must run the browser tests: no chromium on PATH (apt-get install chromium)")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return found


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's SYNDICATOR_* variables or the repository's var/."""
    for name in list(os.environ):
        if name.startswith("SYNDICATOR_") and name != "SYNDICATOR_TEST_PG_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    require_postgres()
    yield from postgres_schema_url()


def postgres_schema_url() -> Iterator[str]:
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    plain = PG_URL.replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        articles_dir=tmp_path / "drop",
        secret_key="test-secret-key-0123456789",
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store.open(settings.database_url, settings.categories)
    yield opened
    opened.close()


@pytest.fixture
def pg_store() -> Iterator[Store]:
    """A store on PostgreSQL alone, for races SQLite cannot have (it runs one writer at a time)."""
    require_postgres()
    for url in postgres_schema_url():
        opened = Store.open(url)
        try:
            yield opened
        finally:
            opened.close()


@pytest.fixture
def processes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Processes]:
    """Real syndicator processes started by the test, stopped (and their logs shown on failure) after."""
    started = Processes(tmp_path, request.node if isinstance(request.node, pytest.Item) else None)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def clock(now: datetime) -> FakeClock:
    """A clock at `now` that moves only when the test moves it."""
    return FakeClock(now)


@pytest.fixture
def mail_settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings of the mail tests (tests/mailkit.make_settings) on each database."""
    from tests.mailkit import make_settings

    return make_settings(database_url, tmp_path)


@pytest.fixture
def mail_store(mail_settings: Settings) -> Iterator[Store]:
    store = Store.open(mail_settings.database_url, mail_settings.categories)
    yield store
    store.close()
