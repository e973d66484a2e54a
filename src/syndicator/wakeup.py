"""Wake-ups between threads: a write wakes the store watch, a rendered feed wakes the feed cache's
follower, a file renamed into the drop folder wakes its scan, instead of each polling every second.

A wake-up is a hint, never the only way: every waiter also wakes on its own after a fallback interval,
so a lost notification only delays, never loses, a publish.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Signal:
    """Calls every subscriber on `notify`, from the notifying thread: subscribers only set an event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[], object]] = []

    def subscribe(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Call `callback` at every notify, until the returned function is called."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def notify(self) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback()


class Waiter:
    """One consumer's view of some signals: `wait` returns at the first notify since the last wait, or
    after `timeout` seconds (True when woken by a signal)."""

    def __init__(self, *signals: Signal) -> None:
        self._event = threading.Event()
        self._unsubscribe = [signal.subscribe(self._event.set) for signal in signals]

    def wait(self, timeout: float | None) -> bool:
        woken = self._event.wait(timeout)
        self._event.clear()  # before the work it wakes: a notify during that work wakes the next wait
        return woken

    def set(self) -> None:
        self._event.set()

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._event.set()
