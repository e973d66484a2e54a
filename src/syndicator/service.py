"""Assembling the running service from settings: one place that wires store, cache, builder, jobs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from syndicator import clock as clocks
from syndicator.clock import Clock
from syndicator.config import Settings
from syndicator.publish.builder import FeedBuilder
from syndicator.publish.cache import FeedCache
from syndicator.publish.websub import WebSubPinger
from syndicator.store import Store
from syndicator.web.app import Services

log = logging.getLogger(__name__)


@dataclass
class Service:
    services: Services
    pinger: WebSubPinger | None

    def close(self) -> None:
        if self.pinger is not None:
            self.pinger.stop()
        self.services.store.close()


def assemble(settings: Settings, store: Store, clock: Clock = clocks.utcnow) -> Service:
    """Everything the web app and the jobs share. Loads the kept feeds and brings them up to date."""
    cache = FeedCache()
    pinger = WebSubPinger(settings.websub_hub) if settings.websub_hub else None
    builder = FeedBuilder(
        store, settings, cache, on_changed=pinger.publish if pinger is not None else lambda urls: None
    )
    kept = builder.load_kept()
    report = builder.refresh(clock())
    log.info("feeds: %d kept, %d rendered at start", kept, len(report.rendered))
    return Service(Services(settings, store, cache, builder, clock), pinger)
