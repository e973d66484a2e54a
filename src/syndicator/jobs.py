"""APScheduler wiring only: each job is one call into the functions the CLI and the web use.

Jobs run only in the leading instance (see leader.py); a failing run logs one line and the next
tick tries again. Runs of one job never overlap (max_instances=1) and missed runs coalesce. The one
exception is `readership`, which every instance with a scheduler runs: it writes the feed polls that
instance counted. Each run is noted for the console (`RunLog`, written through store/jobruns.py).

The store watch and the drop folder's scan are also run the moment something happens (`Wakers`): an
article written (Store.articles_changed: by this process, or on PostgreSQL by any instance, through
LISTEN/NOTIFY), a file arriving in the drop folder (inotify, ingest/watch.py). Their interval runs stay
as the fallback for a missed notice, for scheduled articles coming due, and for writes by other
processes on SQLite; the drop folder's interval is longer while the inotify watch runs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.background import BackgroundScheduler

from syndicator import clock as clocks
from syndicator.ingest.watch import FolderWatch
from syndicator.mail.delivery import deliver_once
from syndicator.mail.digests import queue_immediate, run_due
from syndicator.mail.optin import purge_unconfirmed
from syndicator.mail.sender import purge_outbox
from syndicator.service import Service
from syndicator.store import jobruns, readership
from syndicator.store.database import Availability, is_unavailable
from syndicator.text import counted
from syndicator.wakeup import Signal, Waiter

log = logging.getLogger(__name__)

STORE_WATCH_SECONDS = 1.0
DROP_FOLDER_SECONDS = 0.5  # without the folder's inotify watch; with it, imports.rescan_seconds
DIGEST_CHECK_SECONDS = 30
DELIVER_SECONDS = 2
OFFICIALS_SECONDS = 5
OUTBOX_PURGE_SECONDS = 3600
READERSHIP_SECONDS = 5  # feed polls counted in memory, written this often (web/app.py, without us)
RECORD_SECONDS = 10  # job runs are written this often at most, unless something worth seeing happened
QUIET_LOOK_EVERY = timedelta(seconds=10)  # the store watch's full look on SQLite while nothing changed
SLOW_SECONDS = 5.0  # a run this long is written at once
KEEP_INSTANCES = timedelta(days=2)  # an instance not seen for this long leaves the console's jobs page
SCHEDULED_AS = {"purge": "digests"}  # a run named apart from the scheduler's job that makes it


def instance_name() -> str:
    """This process as the console names it: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class _Runs:
    runs: int = 0
    failures: int = 0
    started: datetime | None = None
    seconds: float | None = None
    ok: bool | None = None
    error: str | None = None
    error_at: datetime | None = None


class RunLog:
    """Each job's runs in this instance, kept in memory and written to the store (store/jobruns.py) at
    most every RECORD_SECONDS, or at the next run's end when something worth seeing happened: a job
    failed or recovered, a run was slow, a job ran for the first time, this instance began to lead. An
    idle leader's store watch runs every second: a write per run would be its main cost."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self._lock = threading.Lock()  # jobs end on several scheduler threads
        self._runs: dict[str, _Runs] = {}
        self._urgent = True  # the first write says at once that this instance runs the jobs
        self._dirty = False
        self._written = 0.0  # time.monotonic() of the last write
        self.leading_since: datetime | None = None
        self._pruned = False  # instances gone for long are forgotten at this one's first write
        self.scheduler: BackgroundScheduler | None = None  # for each job's next run

    def ran(self, name: str, started: datetime, seconds: float, error: BaseException | None) -> None:
        with self._lock:
            runs = self._runs.get(name)
            if runs is None:
                runs = self._runs[name] = _Runs()
                self._urgent = True
            runs.runs += 1
            runs.started, runs.seconds = started, seconds
            ok = error is None
            if runs.ok is not ok or seconds >= SLOW_SECONDS:
                self._urgent = True
            runs.ok = ok
            if error is not None:
                runs.failures += 1
                runs.error, runs.error_at = f"{type(error).__name__}: {one_line(error)}", started
            self._dirty = True

    def leads(self, since: datetime | None) -> None:
        """This instance leads since `since`, or (None) no longer leads."""
        with self._lock:
            self.leading_since = since
            self._urgent = self._dirty = True

    def due(self) -> bool:
        """Whether a write is due: something urgent, or what changed waited long enough."""
        return self._urgent or (self._dirty and time.monotonic() - self._written >= RECORD_SECONDS)

    def write(self, service: Service, now: datetime) -> None:
        """Writes every job's runs and this instance's lead; on failure the next run tries again."""
        next_runs = self._next_runs()
        with self._lock:
            runs = [
                jobruns.JobRun(
                    job=name,
                    instance=self.instance,
                    runs=r.runs,
                    failures=r.failures,
                    last_started_at=r.started,
                    last_seconds=r.seconds,
                    last_ok=r.ok,
                    last_error=r.error,
                    last_error_at=r.error_at,
                    next_run_at=next_runs.get(SCHEDULED_AS.get(name, name)),
                    updated_at=now,
                )
                for name, r in self._runs.items()
            ]
            self._urgent = self._dirty = False
            self._written = time.monotonic()
        try:
            with service.services.store.writing() as conn:
                if not self._pruned:
                    jobruns.prune(conn, now - KEEP_INSTANCES)
                jobruns.record(conn, runs)
                jobruns.leads(conn, self.instance, self.leading_since, now)
            self._pruned = True
        except Exception:
            with self._lock:
                self._urgent = True
            raise

    def _next_runs(self) -> dict[str, datetime]:
        if self.scheduler is None:
            return {}
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs() if job.next_run_time}


def one_line(error: BaseException) -> str:
    """The error as one log line: a driver's own words, without SQLAlchemy's SQL and help link."""
    reason = getattr(error, "orig", None) or error
    return " ".join(str(reason).split())


class Jobs:
    def __init__(self, service: Service) -> None:
        self.service = service
        self._term = 0  # the leadership term this instance last acted in
        self._takeover = threading.Lock()  # jobs on several scheduler threads may win it at once
        self.log = RunLog(instance_name())
        # a run woken by a signal (Wakers) and one of the scheduler's never overlap
        self._serial = {"store-watch": threading.Lock(), "drop-folder": threading.Lock()}
        self.drop_waiting = 0  # files the last scan saw unsettled: looked at again after the settle time
        # SQLite's data_version at the store watch's last look, and when that look was
        self._watched: tuple[int, datetime] | None = None
        self._watch_after_scan = False  # a woken store watch was left to the drop folder's scan's end

    def lead(self) -> bool:
        """Whether this instance leads now; on winning a new term it first takes over (the drop
        folder read again, lapsed claims recovered, the officials file re-applied). Every job asks."""
        try:
            leading = self.service.leadership.acquire()
        except Exception as error:  # noqa: BLE001 - the database may be down: try at the next tick
            if not self._outage(error):
                log.error("cannot reach the database to elect a leader: %s", one_line(error))
            leading = False
        if leading and self.service.leadership.term != self._term:
            with self._takeover:
                if self.service.leadership.term != self._term:  # not done by another thread meanwhile
                    # taking over: what another instance did meanwhile is only in the database, and mails
                    # of a sender that is gone are queued again (the only ones that may go out twice; a
                    # live sender's, this one's or another instance's, keep their lease)
                    self.service.drop_folder.reset()
                    try:
                        self.service.sender.recover()
                    except Exception as error:  # noqa: BLE001 - logged; the next election tries again
                        log.error("outbox recovery failed: %s", one_line(error))
                    try:  # the office's file holds, whatever another instance did to the officials
                        self.service.officials.reapply(self._now())
                    except Exception as error:  # noqa: BLE001 - logged; the officials job tries again
                        log.error("officials file not applied: %s", one_line(error))
                    self._term = self.service.leadership.term
                    self._watched = None  # what changed while another instance led is looked at
                    self.log.leads(self._now())
        if not leading and self.log.leading_since is not None:
            self.log.leads(None)
        return leading

    def _run(self, name: str, job: Callable[[], object]) -> None:
        if not self.lead():
            return
        self._timed(name, job)

    def _timed(self, name: str, job: Callable[[], object]) -> None:
        """Runs `job`, logs a failure in one line, and notes the run for the console (RunLog)."""
        started, clock = self._now(), time.perf_counter()
        failure: BaseException | None = None
        try:
            job()
        except Exception as error:  # noqa: BLE001 - one clear line, and the next tick tries again
            failure = error
            if not self._outage(error):
                log.error("job %s failed: %s: %s", name, type(error).__name__, one_line(error))
        self.log.ran(name, started, time.perf_counter() - clock, failure)
        # a run that met an outage is written by the first run after it: the write would only wait
        # on the same database (and a fake outage in the tests would see it answer)
        if self.log.due() and (failure is None or not is_unavailable(failure)):
            try:
                self.log.write(self.service, self._now())
            except Exception as error:  # noqa: BLE001 - the runs stay in memory for the next write
                if not self._outage(error):
                    log.error("job runs not recorded: %s", one_line(error))

    def _outage(self, error: BaseException) -> bool:
        """An unreachable database is one outage, logged once by the process (with the web's requests
        that meet it), not a line per job per tick: seven jobs would log dozens of lines a minute."""
        if not is_unavailable(error):
            return False
        Availability.of(self.service.services.store.engine).failed(error)
        return True

    def store_watch(self) -> None:
        """New, edited, withdrawn and due articles -> re-render the feeds they change, ping the hub."""

        def run() -> None:
            version = self._quiet()
            if version is None:
                return  # still a run, for the console: it looked, cheaply
            services = self.service.services
            now = services.clock()
            report = services.builder.refresh(now)
            if version >= 0:
                self._watched = (version, now)
            if report.rendered or report.gone:
                log.info(
                    "feeds: %s rendered, %d gone", counted(len(report.rendered), "document"), len(report.gone)
                )

        with self._serial["store-watch"]:
            self._run("store-watch", run)

    def store_watch_woken(self) -> None:
        """The store watch, woken by a write. Not while the drop folder's scan runs: it renders at its
        end what its import wrote, and a render after each of an import's batches would slow it."""
        if self._serial["drop-folder"].locked():
            self._watch_after_scan = True
            return
        self.store_watch()

    def _quiet(self) -> int | None:
        """None when the store watch's look can be left out: on SQLite, nothing committed since the
        last look (data_version, microseconds), no scheduled article come due, and a full look made
        within QUIET_LOOK_EVERY. Else the data_version to note after the look (-1: none)."""
        services = self.service.services
        version = services.store.data_version()
        if version is None:
            return -1  # PostgreSQL: the look is one query; a change other than an article has no notice
        now = services.clock()
        due = services.builder.next_due
        if (
            self._watched is not None
            and self._watched[0] == version
            and now - self._watched[1] < QUIET_LOOK_EVERY
            and (due is None or due > now)
        ):
            return None
        return version

    def drop_folder(self) -> None:
        def run() -> None:
            services = self.service.services
            report = self.service.drop_folder.scan(services.clock())
            self.drop_waiting = report.waiting
            if report.imported or report.withdrawn:
                # publish now rather than at the store watch's next tick
                services.builder.refresh(services.clock())
                log.info(
                    "drop folder: %s read, %d failed, %s withdrawn",
                    counted(len(report.imported), "file"),
                    report.failures,
                    counted(len(report.withdrawn), "article"),
                )

        with self._serial["drop-folder"]:
            self._run("drop-folder", run)
        if self._watch_after_scan:  # a write came during the scan, from elsewhere (the API) maybe
            self._watch_after_scan = False
            self.store_watch()

    def digests(self) -> None:
        """Daily and weekly runs that are due (including one missed while the service was down)."""
        self._run("digests", lambda: run_due(self.service.services.store, self.service.composer, self._now()))
        self._run(
            "purge",
            lambda: purge_unconfirmed(
                self.service.services.store, self._now(), self.service.settings.subscribe.confirm_days + 1
            ),
        )

    def immediate(self) -> None:
        self._run(
            "immediate",
            lambda: queue_immediate(self.service.services.store, self.service.composer, self._now()),
        )

    def deliver(self) -> None:
        # the pass `digest send` makes too; an instance that lost the lead mid-pass sends what it holds
        # and claims no more
        self._run("deliver", lambda: deliver_once(self.service.sender, self.service.leadership))

    def outbox_purge(self) -> None:
        keep = self.service.settings.mail.keep_days
        self._run("outbox-purge", lambda: purge_outbox(self.service.services.store, self._now(), keep))

    def officials(self) -> None:
        self._run("officials", lambda: self.service.officials.check(self._now()))

    def readership(self) -> None:
        """Writes the feed polls this instance counted. Every instance with a scheduler writes its own,
        leading or not (not through `_run`): the counts are in its memory; the rows add up
        (store/readership.add)."""
        services = self.service.services
        self._timed(
            "readership",
            lambda: readership.flush(services.store, services.readership, self._now(), services.settings.tz),
        )

    def _now(self) -> datetime:
        return self.service.services.clock()


class Wakers:
    """Threads that run a job as soon as one of its signals fires (the scheduler's interval run of the
    same job stays, as the fallback): an article written through this process (Store.write), or on
    PostgreSQL through any instance, wakes the store watch; a file arriving in the drop folder wakes
    its scan."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._waiters: list[Waiter] = []
        self._threads: list[threading.Thread] = []

    def add(
        self, name: str, waiter: Waiter, job: Callable[[], object], timeout: Callable[[], float | None]
    ) -> None:
        def loop() -> None:
            while True:
                waiter.wait(timeout())
                if self._stopping.is_set():
                    return
                try:
                    job()
                except Exception:  # a job logs its own failures: this is for a bug, and the thread lives on
                    log.exception("%s woken run failed", name)

        self._waiters.append(waiter)
        thread = threading.Thread(target=loop, name=f"wake-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for waiter in self._waiters:
            waiter.close()
        for thread in self._threads:
            thread.join(5)


def start(service: Service) -> BackgroundScheduler:
    jobs = Jobs(service)
    store = service.services.store
    store.listen()  # on PostgreSQL, another instance's write wakes the store watch too
    wakers = Wakers()
    wakers.add("store-watch", Waiter(store.articles_changed), jobs.store_watch_woken, lambda: None)
    drop_changed = Signal()
    watch = _watch(service, drop_changed)
    drop_every = service.settings.imports.rescan_seconds if watch is not None else DROP_FOLDER_SECONDS
    settle = service.drop_folder.settle
    # a file seen unsettled is looked at again once settled, not at the next fallback scan
    wakers.add(
        "drop-folder", Waiter(drop_changed), jobs.drop_folder, lambda: settle if jobs.drop_waiting else None
    )
    service.services.readership.flushed_by_scheduler = True  # the web app leaves flushing to the job
    scheduler = BackgroundScheduler(
        timezone=service.settings.tz,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    scheduler.add_job(jobs.store_watch, "interval", seconds=STORE_WATCH_SECONDS, id="store-watch")
    # the first scan at once: files that came while no instance ran are not left for the first interval
    scheduler.add_job(
        jobs.drop_folder,
        "interval",
        seconds=drop_every,
        id="drop-folder",
        next_run_time=clocks.utcnow(),
    )
    scheduler.add_job(jobs.officials, "interval", seconds=OFFICIALS_SECONDS, id="officials")
    scheduler.add_job(jobs.digests, "interval", seconds=DIGEST_CHECK_SECONDS, id="digests")
    scheduler.add_job(
        jobs.immediate, "interval", seconds=service.settings.digest.immediate_every_seconds, id="immediate"
    )
    scheduler.add_job(jobs.deliver, "interval", seconds=DELIVER_SECONDS, id="deliver")
    scheduler.add_job(jobs.outbox_purge, "interval", seconds=OUTBOX_PURGE_SECONDS, id="outbox-purge")
    scheduler.add_job(jobs.readership, "interval", seconds=READERSHIP_SECONDS, id="readership")
    jobs.log.scheduler = scheduler
    scheduler.start()
    if watch is not None:
        watch.on_lost = lambda: scheduler.reschedule_job(
            "drop-folder", trigger="interval", seconds=DROP_FOLDER_SECONDS
        )

    def stopped(event: object) -> None:
        wakers.stop()
        if watch is not None:
            watch.stop()

    scheduler.add_listener(stopped, EVENT_SCHEDULER_SHUTDOWN)
    return scheduler


def _watch(service: Service, changed: Signal) -> FolderWatch | None:
    """The drop folder's inotify watch, or None (not wanted, or unavailable: the scans are then
    every DROP_FOLDER_SECONDS, as before)."""
    if not service.settings.imports.watch:
        return None
    folder = service.drop_folder.folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        watch = FolderWatch(folder, changed.notify)
    except (OSError, ImportError) as error:
        log.warning("drop folder: not watched (%s); scanning every %s s", error, DROP_FOLDER_SECONDS)
        return None
    service.drop_folder.watch = watch
    return watch
