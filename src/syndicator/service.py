"""Assembling the running service from settings: the one place that wires store, cache, builder, jobs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from syndicator import clock as clocks
from syndicator.clock import Clock
from syndicator.config import Settings
from syndicator.ingest.dropfolder import DropFolder
from syndicator.leader import Leadership
from syndicator.mail.composer import MailComposer
from syndicator.mail.officials import OfficialsWatcher
from syndicator.mail.sender import Sender
from syndicator.publish.builder import FeedBuilder
from syndicator.publish.cache import FeedCache
from syndicator.publish.follower import CacheFollower
from syndicator.publish.websub import WebSubPinger
from syndicator.store import Store, jobstate
from syndicator.text import counted
from syndicator.web.state import Services

log = logging.getLogger(__name__)

# Where the last `serve` that ran the jobs linked to while no base_url was configured: the one-off
# commands and workers on the same database link there too, so that a `build` or a digest sent
# beside a running `serve --port 8080` neither renders its feeds anew for :8000 nor mails dead links.
SERVED_BASE = "serve.base_url"


def record_served_base(store: Store, settings: Settings, now: datetime) -> None:
    """Said by a `serve` running the jobs: its links (base_url configured or not) are the ones to use."""
    with store.writing() as conn:
        if jobstate.get_state(conn, SERVED_BASE) != settings.base_url:
            jobstate.set_state(conn, SERVED_BASE, settings.base_url, now)


def served_base(store: Store) -> str | None:
    """The base the last `serve` running the jobs linked to, if one ran on this database."""
    with store.reading() as conn:
        return jobstate.get_state(conn, SERVED_BASE)


@dataclass
class Service:
    services: Services
    pinger: WebSubPinger | None
    leadership: Leadership
    drop_folder: DropFolder
    composer: MailComposer
    sender: Sender
    officials: OfficialsWatcher

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def close(self) -> None:
        if self.pinger is not None:
            self.pinger.stop()
        self.leadership.release()


def assemble(
    settings: Settings, store: Store, clock: Clock = clocks.utcnow, *, render_now: bool = True
) -> Service:
    """Everything the web app and the jobs share, with the kept feeds loaded into memory.

    `render_now` brings the feeds up to date before the first request (a lone instance, a test);
    instances that follow a leader leave that to the leader's store watch.
    """
    cache = FeedCache()
    pinger = WebSubPinger(settings.websub_hub) if settings.websub_hub else None
    builder = FeedBuilder(
        store, settings, cache, on_changed=pinger.publish if pinger is not None else lambda urls: None
    )
    kept = builder.load_kept()
    # with nothing kept (a first start) there is nothing to serve until the leader's first tick: render
    # now rather than answer 404 for a second (several instances doing so at once is harmless)
    rendered = len(builder.refresh(clock()).rendered) if render_now or kept == 0 else 0
    log.info("feeds: %s kept, %d rendered at start", counted(kept, "document"), rendered)
    drop_folder = DropFolder(
        store, settings.articles_dir, settings.tz, max_bytes=settings.imports.max_file_bytes
    )
    composer = MailComposer(settings)
    return Service(
        Services(settings, store, cache, builder, clock, follower=CacheFollower(store, cache, builder.lock)),
        pinger,
        Leadership(store.engine, settings.var_dir),
        drop_folder,
        composer,
        Sender(store, settings, clock=clock),
        OfficialsWatcher(
            store,
            settings.digest.officials_file,
            settings.categories,
            default_language=settings.site.catalogue,
        ),
    )
