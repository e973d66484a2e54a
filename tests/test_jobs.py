"""The scheduled jobs, run by hand with an injected clock, and the real APScheduler wiring.

What is shown: the store watch publishes what any route wrote (another process included) and articles
whose time came; the drop-folder job publishes at once; only the leading instance runs a job, and a new
leader carries on from what is in the database; a failing job logs one line and the next run tries
again; runs never overlap and missed runs coalesce; the feed cache of the leading instance never goes
back to an older feed because its follower read the database halfway through a rebuild.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from sqlalchemy.exc import DataError, OperationalError

from syndicator import jobs
from syndicator.config import Settings
from syndicator.ingest.dropfolder import DropReport
from syndicator.jobs import Jobs
from syndicator.leader import Leadership
from syndicator.mail.delivery import deliver_once
from syndicator.mail.sender import Sender
from syndicator.publish.builder import BuildReport
from syndicator.publish.cache import FeedCache
from syndicator.publish.follower import CacheFollower
from syndicator.service import Service, assemble
from syndicator.store import Store, mailqueue
from tests.factories import FakeClock, article_input, article_json, publish
from tests.mailkit import IN_WINDOW, RUN_AT, THONG_BAO, queue_daily, statuses, subscribers_with_news
from tests.processes import eventually

BASE = "http://127.0.0.1:8000/a/"  # the settings' default base URL: the feeds' entry ids start so


@dataclass
class Cluster:
    """Instances of the service on one database, each with its own engine, as separate processes."""

    settings: Settings
    clock: FakeClock
    made: list[tuple[Store, Service]] = field(default_factory=list)

    def instance(self) -> Service:
        store = Store.open(self.settings.database_url, self.settings.categories)
        service = assemble(self.settings, store, self.clock)
        self.made.append((store, service))
        return service

    def close(self) -> None:
        for store, service in self.made:
            service.close()
            store.close()


@pytest.fixture
def cluster(settings: Settings, clock: FakeClock) -> Iterator[Cluster]:
    made = Cluster(settings, clock)
    yield made
    made.close()


@pytest.fixture
def service(cluster: Cluster) -> Service:
    return cluster.instance()


def feed_ids(cache: FeedCache, key: str = "all") -> set[str]:
    doc = cache.get(f"/feeds/{key}.json")
    if doc is None:
        return set()
    return {item["id"].removeprefix(BASE) for item in json.loads(doc.body)["items"]}


def drop(folder: Path, name: str, *articles: dict[str, Any], age: float = 10.0) -> Path:
    """A finished export: written, then left alone for `age` seconds (its mtime says so)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles), encoding="utf-8")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def job_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "syndicator.jobs" and r.levelno >= logging.ERROR
    ]


# -- the store watch ---------------------------------------------------------------------------------


def test_store_watch_publishes_what_another_process_wrote_and_withdrew(
    cluster: Cluster, service: Service, clock: FakeClock
) -> None:
    other = Store.open(cluster.settings.database_url)  # `syndicator import`, or the API of another instance
    try:
        cache = service.services.cache
        other.write([article_input("tu-noi-khac", published=clock.now - timedelta(hours=1))], clock.now)
        Jobs(service).store_watch()
        assert "tu-noi-khac" in feed_ids(cache) and "tu-noi-khac" in feed_ids(cache, "thong-bao")

        # what the leader rendered is in the database, for every other instance to serve
        follower_cache = FeedCache()
        CacheFollower(other, follower_cache).sync(clock.now)
        assert follower_cache.get("/feeds/all.json") == cache.get("/feeds/all.json")

        clock.advance(seconds=5)
        assert other.withdraw("tu-noi-khac", clock.now)
        Jobs(service).store_watch()
        assert "tu-noi-khac" not in feed_ids(cache)
        assert cache.is_gone("/feeds/thong-bao.rss")  # its only article: the category feed is 410 now
    finally:
        other.close()


def test_due_article_is_published_when_its_time_comes_and_not_before(
    service: Service, clock: FakeClock
) -> None:
    store, cache = service.services.store, service.services.cache
    store.write([article_input("da-dang", published=clock.now - timedelta(days=1))], clock.now)
    due = clock.now + timedelta(seconds=60)
    store.write([article_input("hen-gio", published=due)], clock.now)
    watch = Jobs(service)
    watch.store_watch()
    assert feed_ids(cache) == {"da-dang"}

    clock.advance(seconds=59.999)
    watch.store_watch()
    assert "hen-gio" not in feed_ids(cache) and "hen-gio" not in feed_ids(cache, "thong-bao")

    clock.advance(seconds=0.001)  # no write at all: only the clock moved
    report = service.services.builder.refresh(clock.now)
    assert "/feeds/thong-bao.rss" in report.rendered
    assert feed_ids(cache) == {"da-dang", "hen-gio"} == feed_ids(cache, "thong-bao")


def test_store_watch_pings_the_hub_for_the_feeds_it_changed(
    service: Service, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The builder's `on_changed` is the WebSub pinger's `publish` where a hub is configured."""
    pinged: list[list[str]] = []
    monkeypatch.setattr(service.services.builder, "on_changed", pinged.append)
    store, watch = service.services.store, Jobs(service)
    store.write(
        [article_input("ngay-mai", published=clock.now + timedelta(seconds=30), category="Y tế")], clock.now
    )
    watch.store_watch()
    pinged.clear()

    watch.store_watch()  # an idle tick: nothing rendered, nobody pinged
    assert pinged == []
    clock.advance(seconds=30)  # the scheduled article comes due: its feeds change with no write
    watch.store_watch()
    base = "http://127.0.0.1:8000/feeds/"
    (urls,) = pinged  # one batch: the documents of both channels (the OPML is no feed)
    wanted = [f"{base}{key}.{kind}" for key in ("all", "y-te") for kind in ("atom", "json", "rss")]
    assert sorted(urls) == sorted(wanted)


def test_drop_folder_job_publishes_at_once(service: Service, settings: Settings, clock: FakeClock) -> None:
    drop(settings.articles_dir, "moi.jsonl", article_json("tu-thu-muc", clock.now - timedelta(hours=1)))
    Jobs(service).drop_folder()  # no store-watch tick needed
    assert "tu-thu-muc" in feed_ids(service.services.cache, "thong-bao")


# -- failures --------------------------------------------------------------------------------------


def _database_error() -> OperationalError:
    # what a database going away looks like: SQLAlchemy's message spans lines (SQL, help link)
    driver_error = Exception("connection to server failed\n\tIs the server running?")
    return OperationalError("SELECT categories.slug FROM categories", {}, driver_error)


def _query_error() -> DataError:
    # a fault in one query (not an outage): SQLAlchemy's message spans lines too
    driver_error = Exception("value too long for type character varying(300)\nCONTEXT: row 7")
    return DataError("INSERT INTO articles ...", {}, driver_error)


def test_a_failing_job_logs_one_line_and_the_next_run_tries_again(
    service: Service, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    builder = service.services.builder
    service.services.store.write(
        [article_input("sau-loi", published=clock.now - timedelta(hours=1))], clock.now
    )
    watch = Jobs(service)
    with monkeypatch.context() as patched, caplog.at_level(logging.INFO):
        patched.setattr(builder, "refresh", lambda now: (_ for _ in ()).throw(_query_error()))
        watch.store_watch()  # no exception escapes: the scheduler thread carries on
        watch.store_watch()
    lines = job_lines(caplog)
    assert len(lines) == 2  # one line per failed run, not a traceback
    for text in lines:
        assert "\n" not in text
        assert text.startswith("job store-watch failed: DataError: ")
        assert "value too long" in text and "[SQL:" not in text
    assert not any(r.exc_info for r in caplog.records)

    caplog.clear()
    watch.store_watch()  # the fault is gone: the next run does the work
    assert "sau-loi" in feed_ids(service.services.cache)
    assert job_lines(caplog) == []


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_an_outage_met_by_every_job_and_the_election_is_logged_once(
    service: Service, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = Jobs(service)
    with monkeypatch.context() as patched, caplog.at_level(logging.INFO):
        # the outage is faked: any real query that succeeds (the leader's check, the sender's) ends it
        patched.setattr(service.leadership, "acquire", lambda: True)
        patched.setattr(
            service.services.builder, "refresh", lambda now: (_ for _ in ()).throw(_database_error())
        )
        for _ in range(3):
            jobs.store_watch()
        patched.setattr(service.leadership, "acquire", lambda: (_ for _ in ()).throw(_database_error()))
        patched.setattr(service.sender, "deliver", lambda leading: (_ for _ in ()).throw(_database_error()))
        for _ in range(3):
            jobs.store_watch()
            jobs.deliver()
    (line,) = outage_lines(caplog)
    assert line.startswith("database unavailable: OperationalError: connection to server failed")
    assert "\n" not in line and not any(r.exc_info for r in caplog.records)


def test_a_failing_drop_folder_job_logs_one_line(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unreadable(now: datetime) -> None:
        raise PermissionError(13, "Permission denied", "/srv/drop")

    monkeypatch.setattr(service.drop_folder, "scan", unreadable)
    Jobs(service).drop_folder()
    assert job_lines(caplog) == [
        "job drop-folder failed: PermissionError: [Errno 13] Permission denied: '/srv/drop'"
    ]


def test_database_down_at_election_is_an_outage_and_runs_nothing(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[datetime] = []
    monkeypatch.setattr(service.leadership, "acquire", lambda: (_ for _ in ()).throw(_database_error()))
    monkeypatch.setattr(service.services.builder, "refresh", ran.append)
    Jobs(service).store_watch()
    assert ran == []
    (text,) = outage_lines(caplog)
    assert text.startswith("database unavailable: ") and "\n" not in text


def test_an_election_that_fails_otherwise_logs_one_line(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(service.leadership, "acquire", lambda: (_ for _ in ()).throw(_query_error()))
    Jobs(service).store_watch()
    (text,) = job_lines(caplog)
    assert text.startswith("cannot reach the database to elect a leader: ") and "\n" not in text


# -- several instances ----------------------------------------------------------------------------


def test_only_the_leading_instance_runs_jobs_and_a_new_leader_carries_on(
    cluster: Cluster,
    settings: Settings,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = cluster.instance(), cluster.instance()
    first_jobs, second_jobs = Jobs(first), Jobs(second)
    published = clock.now - timedelta(hours=1)
    one = drop(settings.articles_dir, "mot.jsonl", article_json("bai-mot", published))
    caplog.set_level(logging.INFO)

    first_jobs.drop_folder()
    assert "bai-mot" in feed_ids(first.services.cache)
    scanned: list[datetime] = []
    rendered: list[datetime] = []
    real_scan, real_refresh = second.drop_folder.scan, second.services.builder.refresh

    def scan(now: datetime) -> DropReport:
        scanned.append(now)
        return real_scan(now)

    def refresh(now: datetime) -> BuildReport:
        rendered.append(now)
        return real_refresh(now)

    monkeypatch.setattr(second.drop_folder, "scan", scan)
    monkeypatch.setattr(second.services.builder, "refresh", refresh)
    second_jobs.drop_folder()
    second_jobs.store_watch()
    assert scanned == [] and rendered == []  # not the leader: it did nothing

    first.leadership.release()  # the leader stops
    caplog.clear()
    second_jobs.drop_folder()  # takes over at its next tick
    assert len(scanned) == 1
    assert not any(" read, " in r.getMessage() for r in caplog.records)  # mot.jsonl was read already
    two = drop(settings.articles_dir, "hai.jsonl", article_json("bai-hai", published))
    second_jobs.drop_folder()
    assert "bai-hai" in feed_ids(second.services.cache)

    second.leadership.release()
    caplog.clear()
    first_jobs.drop_folder()  # the first one leads again: what the second read is in the database
    assert not any(" read, " in r.getMessage() for r in caplog.records)
    one.unlink()
    two.unlink()
    first_jobs.drop_folder()
    assert feed_ids(first.services.cache) == set()
    assert {a.id: a.status.value for a in first.services.store.articles(clock.now, visible_only=False)} == {
        "bai-mot": "withdrawn",
        "bai-hai": "withdrawn",
    }


def test_taking_over_is_done_once_before_any_job_runs(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs on several scheduler threads win the election at once: one recovers, the others wait for it."""
    recovering, may_finish = threading.Event(), threading.Event()
    recovered: list[int] = []

    def slow_recover() -> int:
        recovered.append(1)
        recovering.set()
        may_finish.wait(10)
        return 0

    monkeypatch.setattr(service.sender, "recover", slow_recover)
    watch = Jobs(service)
    answers: list[bool] = []
    first = threading.Thread(target=lambda: answers.append(watch.lead()))
    first.start()
    assert recovering.wait(10)
    second = threading.Thread(target=lambda: answers.append(watch.lead()))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # it waits: its job must not run before the recovery is done
    may_finish.set()
    first.join(10)
    second.join(10)
    assert answers == [True, True] and len(recovered) == 1


def test_leading_instance_never_serves_an_older_feed_than_it_rendered(
    service: Service, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its follower (every web instance runs one) must not copy rows the builder is about to replace."""
    builder, cache, store = service.services.builder, service.services.cache, service.services.store
    follower = service.services.follower
    assert follower is not None
    store.write([article_input("cu", published=clock.now - timedelta(hours=2))], clock.now)
    builder.refresh(clock.now)
    follower.sync(clock.now)

    real_persist = builder.persist
    finished = threading.Event()

    def persist_while_the_follower_looks(report: BuildReport, now: datetime) -> None:
        # the follower's tick lands between the new feed going into the cache and into the database
        def look_up() -> None:
            follower.sync(now)
            finished.set()

        look = threading.Thread(target=look_up)
        look.start()
        look.join(0.5)  # with the fix it waits for the rebuild to finish
        real_persist(report, now)
        threads.append(look)

    threads: list[threading.Thread] = []
    monkeypatch.setattr(builder, "persist", persist_while_the_follower_looks)
    clock.advance(seconds=5)
    store.write([article_input("moi", published=clock.now - timedelta(hours=1))], clock.now)
    builder.refresh(clock.now)
    for look in threads:
        look.join(10)
    assert finished.is_set()
    assert feed_ids(cache) == {"cu", "moi"}


# -- delivery: one pass for the deliver job and `digest send` ----------------------------------------

GONE = "0123456789abcdef:4242:99:01020304"  # a sender on another machine


def _mails_due(store: Store, settings: Settings, count: int, *, left_in_flight: int = 0) -> None:
    """A daily run queued; `left_in_flight` of its mails claimed by a sender gone with its lease."""
    publish(store, "tb-1", THONG_BAO, IN_WINDOW)
    subscribers_with_news(store, count)
    queue_daily(store, settings)
    with store.writing() as conn:
        mailqueue.claim(conn, RUN_AT, left_in_flight, GONE, RUN_AT - timedelta(seconds=1))


def test_a_pass_that_wins_the_lead_queues_a_gone_senders_mails_again_before_it_counts(
    mail_store: Store, mail_settings: Settings
) -> None:
    """`digest send` with no scheduler running: what it counts before sending (its progress bar)
    includes the mails a killed sender left in flight."""
    _mails_due(mail_store, mail_settings, 5, left_in_flight=2)
    leadership = Leadership(mail_store.engine, mail_settings.var_dir)
    ready: list[dict[str, int]] = []
    try:
        report = deliver_once(
            Sender(mail_store, mail_settings, clock=FakeClock(RUN_AT)),
            leadership,
            on_ready=lambda: ready.append(statuses(mail_store)),
        )
        assert leadership.held  # it leads until its caller lets go
    finally:
        leadership.release()
    assert ready == [{"pending": 5}]
    assert report.sent == 5 and statuses(mail_store) == {"sent": 5}


def test_a_pass_beside_the_leader_sends_too_and_leaves_it_the_lead(
    mail_store: Store, mail_settings: Settings
) -> None:
    """`digest send` beside a running scheduler: it sends its run (claims never overlap) and the
    scheduler keeps the lead."""
    _mails_due(mail_store, mail_settings, 5)
    leader = Leadership(mail_store.engine, mail_settings.var_dir)
    beside = Leadership(mail_store.engine, mail_settings.var_dir)
    try:
        assert leader.acquire()
        report = deliver_once(Sender(mail_store, mail_settings, clock=FakeClock(RUN_AT)), beside)
        assert leader.held and not beside.held
    finally:
        beside.release()
        leader.release()
    assert report.sent == 5 and statuses(mail_store) == {"sent": 5}


# -- the real scheduler -----------------------------------------------------------------------------


@pytest.fixture
def fast_ticks(monkeypatch: pytest.MonkeyPatch) -> float:
    interval = 0.05
    monkeypatch.setattr(jobs, "STORE_WATCH_SECONDS", interval)
    monkeypatch.setattr(jobs, "DROP_FOLDER_SECONDS", 3600)
    return interval


def test_scheduler_never_overlaps_runs_and_a_failure_does_not_stop_it(
    service: Service, fast_ticks: float, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    lock = threading.Lock()
    state = {"running": 0, "most": 0, "calls": 0}
    first_run_may_end = threading.Event()

    def slow_then_failing(now: datetime) -> BuildReport:
        with lock:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
            state["calls"] += 1
            call = state["calls"]
        try:
            if call == 1:
                first_run_may_end.wait(10)  # several ticks come and go meanwhile
            if call % 2 == 0:
                raise RuntimeError("render failed")
            return BuildReport()
        finally:
            with lock:
                state["running"] -= 1

    monkeypatch.setattr(service.services.builder, "refresh", slow_then_failing)
    caplog.set_level(logging.INFO)
    scheduler = jobs.start(service)
    try:
        job = scheduler.get_job("store-watch")
        assert job.max_instances == 1 and job.coalesce is True

        def skipped() -> int:
            return sum(
                1
                for r in caplog.records
                if "store_watch" in r.getMessage() and "maximum number of running instances" in r.getMessage()
            )

        # the first run may take a while to reach refresh (the election, the takeover): ticks skipped
        # before it got there prove nothing, so count only those skipped while it waits
        eventually(lambda: state["calls"] == 1, "the first run to start")
        before = skipped()
        eventually(lambda: skipped() > before, "a tick to be skipped")
        assert state["calls"] == 1  # the skipped ticks did not start a second run
        first_run_may_end.set()
        eventually(lambda: state["calls"] >= 6, "runs to go on after failures")
        assert scheduler.running
    finally:
        scheduler.shutdown(wait=True)
    assert state["most"] == 1
    failures = [t for t in job_lines(caplog) if t.startswith("job store-watch failed")]
    assert failures and all(t == "job store-watch failed: RuntimeError: render failed" for t in failures)


def test_missed_runs_coalesce_into_one(service: Service, fast_ticks: float) -> None:
    submitted: list[JobSubmissionEvent] = []
    scheduler = jobs.start(service)
    try:
        scheduler.add_listener(
            lambda event: submitted.append(event) if event.job_id == "store-watch" else None,
            EVENT_JOB_SUBMITTED,
        )
        eventually(lambda: submitted, "a first run")
        scheduler.pause()  # as if the process had been stopped, or the machine suspended
        paused_at = datetime.now(submitted[0].scheduled_run_times[0].tzinfo)
        time.sleep(10 * fast_ticks)  # ten ticks are missed (not an assertion on time: a pause)
        submitted.clear()
        scheduler.resume()
        first = eventually(lambda: submitted[:1], "a run after the pause")[0]
    finally:
        scheduler.shutdown(wait=True)
    (run_time,) = first.scheduled_run_times  # one run, not one per missed tick
    assert run_time >= paused_at + timedelta(seconds=5 * fast_ticks)  # and it stands for the latest one
