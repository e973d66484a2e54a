"""APScheduler wiring only: each job is one call into the functions the CLI and the web use."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from syndicator.service import Service

log = logging.getLogger(__name__)

STORE_WATCH_SECONDS = 1.0


def refresh_feeds(service: Service) -> None:
    """The store watch: re-render the feeds whose content changed (new, edited, withdrawn, due)."""
    try:
        report = service.services.builder.refresh(service.services.clock())
    except Exception as error:  # noqa: BLE001 - one clear line, and the next tick tries again
        log.error("store watch failed: %s: %s", type(error).__name__, error)
        return
    if report.rendered or report.gone:
        log.info("feeds: %d rendered, %d gone", len(report.rendered), len(report.gone))


def start(service: Service) -> BackgroundScheduler:
    settings = service.services.settings
    scheduler = BackgroundScheduler(
        timezone=settings.tz,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    scheduler.add_job(refresh_feeds, "interval", args=[service], seconds=STORE_WATCH_SECONDS, id="store-watch")
    scheduler.start()
    return scheduler
