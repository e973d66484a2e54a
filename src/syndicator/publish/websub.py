"""WebSub publish pings (hub.mode=publish), sent from a background thread with retries.

A ping never blocks a request or a rebuild: `publish` only queues. A failed ping is retried with
exponential backoff; a URL already waiting is not queued twice (the hub fetches the latest anyway).
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable

from syndicator.text import counted

log = logging.getLogger(__name__)


class WebSubPinger:
    def __init__(
        self,
        hub: str,
        *,
        attempts: int = 6,
        first_delay: float = 2.0,
        timeout: float = 10.0,
        user_agent: str = "syndicator (WebSub publisher)",
    ) -> None:
        self.hub = hub
        self.attempts = attempts
        self.first_delay = first_delay
        self.timeout = timeout
        self.user_agent = user_agent
        self._queue: list[tuple[float, int, str]] = []  # (due, attempt, url)
        self._waiting: set[str] = set()
        self._wake = threading.Condition()
        self._stopping = False
        self.sent = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="websub-pinger", daemon=True)
        self._thread.start()

    def publish(self, urls: Iterable[str]) -> None:
        with self._wake:
            now = time.monotonic()
            for url in urls:
                if url not in self._waiting:
                    self._waiting.add(url)
                    heapq.heappush(self._queue, (now, 1, url))
            self._wake.notify()

    def pending(self) -> int:
        with self._wake:
            return len(self._waiting)

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=self.timeout + 1)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (not self._queue or self._queue[0][0] > time.monotonic()):
                    timeout = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._wake.wait(timeout)
                if self._stopping:
                    return
                _, attempt, url = heapq.heappop(self._queue)
            ok, reason = self._ping(url)
            with self._wake:
                if ok:
                    self.sent += 1
                    self._waiting.discard(url)
                elif attempt < self.attempts:
                    delay = self.first_delay * 2 ** (attempt - 1)
                    log.warning(
                        "WebSub ping for %s failed (%s); retry %d in %.0fs", url, reason, attempt, delay
                    )
                    heapq.heappush(self._queue, (time.monotonic() + delay, attempt + 1, url))
                else:
                    self.failed += 1
                    self._waiting.discard(url)
                    log.error(
                        "WebSub ping for %s failed %s (%s); giving up", url, counted(attempt, "time"), reason
                    )

    def _ping(self, url: str) -> tuple[bool, str]:
        data = urllib.parse.urlencode({"hub.mode": "publish", "hub.url": url}).encode()
        request = urllib.request.Request(
            self.hub,
            data=data,
            headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": self.user_agent},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return 200 <= response.status < 300, f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            return False, f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            return False, str(getattr(error, "reason", error))
