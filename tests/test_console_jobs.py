"""The console's jobs (issue 14): each job's runs, duration, outcome and last error as jobs.py's RunLog
records them, written every few seconds or at once when something worth seeing happens; which instance
leads and since when; the next run APScheduler planned; /admin/jobs through a real server, errors shown
with addresses masked. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from syndicator import jobs
from syndicator.accounts import Role
from syndicator.config import Settings
from syndicator.jobs import Jobs
from syndicator.service import Service, assemble
from syndicator.store import Store, jobruns
from syndicator.web.admin_jobs import masked_text
from tests.consolekit import make_account, signed_in_client
from tests.factories import FakeClock
from tests.subscribekit import Site, running_site


@pytest.fixture
def service(settings: Settings, store: Store, clock: FakeClock) -> Iterator[Service]:
    made = assemble(settings, store, clock)
    yield made
    made.close()


def _runs(store: Store) -> dict[str, jobruns.JobRun]:
    with store.reading() as conn:
        return {r.job: r for r in jobruns.runs(conn)}


def _fail() -> None:
    raise RuntimeError("550 5.1.1 <nguyen.van.a@thoxuan.example>: no such user")


def test_runs_are_recorded_with_duration_outcome_and_error(service: Service, clock: FakeClock) -> None:
    worker = Jobs(service)
    worker.store_watch()  # the first run of a job is written at once
    recorded = _runs(service.services.store)["store-watch"]
    assert (recorded.runs, recorded.failures, recorded.last_ok) == (1, 0, True)
    assert recorded.last_started_at == clock()
    assert recorded.last_seconds is not None and recorded.last_seconds >= 0
    assert recorded.instance == jobs.instance_name()

    clock.advance(timedelta(seconds=1))
    worker._run("deliver-test", _fail)  # a failure is written at once, its error in one line
    failed = _runs(service.services.store)["deliver-test"]
    assert (failed.runs, failed.failures, failed.last_ok) == (1, 1, False)
    assert failed.last_error == "RuntimeError: 550 5.1.1 <nguyen.van.a@thoxuan.example>: no such user"
    assert failed.last_error_at == clock()
    with service.services.store.reading() as conn:
        assert [r.job for r in jobruns.failing(conn)] == ["deliver-test"]

    worker._run("deliver-test", lambda: None)  # recovered: written at once, the last error kept
    recovered = _runs(service.services.store)["deliver-test"]
    assert (recovered.runs, recovered.failures, recovered.last_ok) == (2, 1, True)
    assert recovered.last_error is not None
    with service.services.store.reading() as conn:
        assert jobruns.failing(conn) == []


def test_quiet_runs_wait_for_the_next_write(service: Service) -> None:
    worker = Jobs(service)
    worker.store_watch()
    for _ in range(5):  # nothing new: kept in memory, not a write per run
        worker.store_watch()
    assert _runs(service.services.store)["store-watch"].runs == 1
    worker.log._written -= jobs.RECORD_SECONDS  # as if RECORD_SECONDS had passed
    worker.store_watch()
    assert _runs(service.services.store)["store-watch"].runs == 7


def test_the_leader_and_since_when(service: Service, clock: FakeClock, store: Store) -> None:
    worker = Jobs(service)
    worker.store_watch()
    with store.reading() as conn:
        [me] = jobruns.instances(conn)
    assert (me.instance, me.leading, me.leading_since) == (jobs.instance_name(), True, clock())
    with store.writing() as conn:  # another instance seen earlier, once the leader
        jobruns.leads(conn, "other:1", clock() - timedelta(hours=1), clock() - timedelta(minutes=1))
        jobruns.leads(conn, jobs.instance_name(), clock(), clock())
    with store.reading() as conn:
        found = jobruns.instances(conn)
    assert [(i.instance, i.leading) for i in found] == [(jobs.instance_name(), True), ("other:1", False)]


def test_instances_gone_for_long_are_forgotten_at_a_start(
    service: Service, clock: FakeClock, store: Store
) -> None:
    old = clock() - jobs.KEEP_INSTANCES - timedelta(minutes=1)
    recent = clock() - timedelta(hours=1)
    with store.writing() as conn:
        for name, seen in (("old:1", old), ("recent:2", recent)):
            jobruns.leads(conn, name, None, seen)
            run = jobruns.JobRun("store-watch", name, 5, 0, seen, 0.01, True, None, None, None, seen)
            jobruns.record(conn, [run])
    Jobs(service).store_watch()
    with store.reading() as conn:
        assert {i.instance for i in jobruns.instances(conn)} == {"recent:2", jobs.instance_name()}
        assert {r.instance for r in jobruns.runs(conn)} == {"recent:2", jobs.instance_name()}


def test_next_runs_come_from_the_scheduler(service: Service, clock: FakeClock) -> None:
    worker = Jobs(service)
    scheduler = BackgroundScheduler(timezone=service.settings.tz)
    scheduler.add_job(worker.store_watch, "interval", seconds=60, id="store-watch")
    scheduler.add_job(worker.digests, "interval", seconds=60, id="digests")
    scheduler.start(paused=True)  # planned, never run
    try:
        worker.log.scheduler = scheduler
        worker.store_watch()
        worker.digests()
        runs = _runs(service.services.store)
        planned = {job.id: job.next_run_time for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    assert runs["store-watch"].next_run_at == planned["store-watch"]
    assert runs["purge"].next_run_at == planned["digests"]  # purge runs inside the digests job


def test_masked_text_masks_every_address() -> None:
    text = "550 <nguyen.van.a@thoxuan.example> and bich@gmail.com: refused"
    assert masked_text(text) == "550 <ng***@thoxuan.example> and b***@gmail.com: refused"
    assert masked_text("no address here") == "no address here"
    assert masked_text("@" * 10_000) == "@" * 10_000


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    with running_site(database_url, tmp_path) as running:
        make_account(running.store, "an", Role.ADMIN, running.clock())
        make_account(running.store, "cuong", Role.VIEWER, running.clock())
        yield running


def test_jobs_page_masks_addresses_in_errors(site: Site) -> None:
    worker = Jobs(site.service)
    worker.store_watch()
    worker._run("deliver", _fail)
    viewer = signed_in_client(site, "cuong")
    page = viewer.get("/admin/jobs")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "store-watch" in page.text and "deliver" in page.text
    assert jobs.instance_name() in page.text
    assert "ng***@thoxuan.example" in page.text
    assert "nguyen.van.a@" not in page.text
    admin = signed_in_client(site, "an")  # nor to an admin: the page is no view of personal data
    assert "nguyen.van.a@" not in admin.get("/admin/jobs").text
    with httpx.Client(base_url=site.url) as anonymous:
        assert anonymous.get("/admin/jobs").status_code == 303


def test_jobs_page_before_any_run(site: Site) -> None:
    viewer = signed_in_client(site, "cuong")
    page = viewer.get("/admin/jobs?lang=en")
    assert page.status_code == 200
