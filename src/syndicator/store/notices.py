"""PostgreSQL LISTEN/NOTIFY between instances: a write of articles wakes the leader's store watch, a
rendered feed kept wakes every other instance's feed cache, at once rather than at their next look.

The notice is sent in the writing transaction, so PostgreSQL delivers it at the commit, never before
the rows can be read. Its payload is the schema written to: instances of other schemas on the same
database (tests, benchmarks) ignore it. A notice is only a hint: every waiter still looks on its own
after a fallback interval, and after the listening connection was lost the waiters are woken once,
since notices sent meanwhile are lost. SQLite has no such thing: there, only the writing process's
own signals (Store.articles_changed, feeds_changed) and the intervals wake anyone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from sqlalchemy import Connection, Engine, text

from syndicator.wakeup import Signal

log = logging.getLogger(__name__)

ARTICLES = "syndicator_articles"
FEEDS = "syndicator_feeds"
LISTEN_TIMEOUT = 1.0  # seconds between looks at whether to stop
RETRY_SECONDS = 5.0


def notify(conn: Connection, channel: str) -> None:
    """Send `channel`'s notice at this transaction's commit (nothing on SQLite)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, current_schema())"), {"channel": channel})


class Listener:
    """A thread holding one connection of its own that LISTENs and turns notices into signals."""

    def __init__(self, engine: Engine, signals: Mapping[str, Signal]) -> None:
        self.engine = engine
        self.signals = dict(signals)
        self._stop = threading.Event()
        self._live = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-notices", daemon=True)
        self._thread.start()

    @property
    def live(self) -> bool:
        """Whether notices arrive now: waiters may then look on their own less often."""
        return self._live.is_set()

    def wait_live(self, timeout: float) -> bool:
        return self._live.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(LISTEN_TIMEOUT + 2)

    def _run(self) -> None:
        failed = False
        while not self._stop.is_set():
            try:
                self._listen()
                failed = False
            except Exception as error:  # noqa: BLE001 - the intervals go on; retried after a pause
                if not failed:
                    log.warning("database notices not received (%s); looking every interval", one_line(error))
                failed = True
            self._live.clear()
            self._stop.wait(RETRY_SECONDS)

    def _listen(self) -> None:
        pooled = self.engine.raw_connection()
        conn = pooled.driver_connection  # taken before detach, which lets go of it
        pooled.detach()  # ours for good: the pool must not hand it out while it listens
        try:
            conn.autocommit = True  # type: ignore[union-attr]
            schema = conn.execute("SELECT current_schema()").fetchone()[0]  # type: ignore[union-attr]
            for channel in self.signals:
                conn.execute(f"LISTEN {channel}")  # type: ignore[union-attr]
            self._live.set()
            log.info("database notices: listening (other instances' changes arrive at once)")
            for signal in self.signals.values():
                signal.notify()  # what was sent while nobody listened is looked at now
            while not self._stop.is_set():
                for notice in conn.notifies(timeout=LISTEN_TIMEOUT):  # type: ignore[union-attr]
                    if notice.payload == schema and notice.channel in self.signals:
                        self.signals[notice.channel].notify()
        finally:
            self._live.clear()
            pooled.close()


def one_line(error: BaseException) -> str:
    return " ".join(str(getattr(error, "orig", None) or error).split())[:300]
