"""APScheduler wiring only: each job is one call into the functions the CLI and the web use.

Jobs run only in the leading instance (see leader.py); a failing run logs one line and the next
tick tries again. Runs of one job never overlap (max_instances=1) and missed runs coalesce.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler

from syndicator.mail.delivery import deliver_once
from syndicator.mail.digests import queue_immediate, run_due
from syndicator.mail.optin import purge_unconfirmed
from syndicator.mail.sender import purge_outbox
from syndicator.service import Service
from syndicator.store.database import Availability, is_unavailable
from syndicator.text import counted

log = logging.getLogger(__name__)

STORE_WATCH_SECONDS = 1.0
DROP_FOLDER_SECONDS = 0.5
DIGEST_CHECK_SECONDS = 30
DELIVER_SECONDS = 2
OFFICIALS_SECONDS = 5
OUTBOX_PURGE_SECONDS = 3600


def one_line(error: BaseException) -> str:
    """The error as one log line: a driver's own words, without SQLAlchemy's SQL and help link."""
    reason = getattr(error, "orig", None) or error
    return " ".join(str(reason).split())


class Jobs:
    def __init__(self, service: Service) -> None:
        self.service = service
        self._term = 0  # the leadership term this instance last acted in
        self._takeover = threading.Lock()  # jobs on several scheduler threads may win it at once

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
        return leading

    def _run(self, name: str, job: Callable[[], object]) -> None:
        if not self.lead():
            return
        try:
            job()
        except Exception as error:  # noqa: BLE001 - one clear line, and the next tick tries again
            if not self._outage(error):
                log.error("job %s failed: %s: %s", name, type(error).__name__, one_line(error))

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
            services = self.service.services
            report = services.builder.refresh(services.clock())
            if report.rendered or report.gone:
                log.info(
                    "feeds: %s rendered, %d gone", counted(len(report.rendered), "document"), len(report.gone)
                )

        self._run("store-watch", run)

    def drop_folder(self) -> None:
        def run() -> None:
            services = self.service.services
            report = self.service.drop_folder.scan(services.clock())
            if report.imported or report.withdrawn:
                # publish now rather than at the store watch's next tick
                services.builder.refresh(services.clock())
                log.info(
                    "drop folder: %s read, %d failed, %s withdrawn",
                    counted(len(report.imported), "file"),
                    report.failures,
                    counted(len(report.withdrawn), "article"),
                )

        self._run("drop-folder", run)

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

    def _now(self) -> datetime:
        return self.service.services.clock()


def start(service: Service) -> BackgroundScheduler:
    jobs = Jobs(service)
    scheduler = BackgroundScheduler(
        timezone=service.settings.tz,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    scheduler.add_job(jobs.store_watch, "interval", seconds=STORE_WATCH_SECONDS, id="store-watch")
    scheduler.add_job(jobs.drop_folder, "interval", seconds=DROP_FOLDER_SECONDS, id="drop-folder")
    scheduler.add_job(jobs.officials, "interval", seconds=OFFICIALS_SECONDS, id="officials")
    scheduler.add_job(jobs.digests, "interval", seconds=DIGEST_CHECK_SECONDS, id="digests")
    scheduler.add_job(
        jobs.immediate, "interval", seconds=service.settings.digest.immediate_every_seconds, id="immediate"
    )
    scheduler.add_job(jobs.deliver, "interval", seconds=DELIVER_SECONDS, id="deliver")
    scheduler.add_job(jobs.outbox_purge, "interval", seconds=OUTBOX_PURGE_SECONDS, id="outbox-purge")
    scheduler.start()
    return scheduler
