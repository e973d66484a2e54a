"""Who holds an outbox claim, whether that holder still runs, and the lease a live holder renews.

Each delivery pass marks the rows it claims with its claimant: the machine (kernel boot and PID
namespace), the process (pid and start time, so a reused pid is not taken for it) and the pass. While
the pass runs it renews the lease of every row it holds. A row goes back to the queue only when its
lease ran out, or when its claimant was a process of this machine that no longer runs (a killed
`digest send` started again at once): never while a live sender may still be sending it, whatever
happened to the leadership meanwhile. Leases are times of the injected clock; machines sharing a
database need clocks within a few seconds of each other (NTP), far below LEASE.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from syndicator.clock import Clock

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
# a pass renews its leases this often; a sender stops taking mails out of its claims once two
# renewals in a row failed, well before anyone else may take them (LEASE after the last renewal)
RENEW_SECONDS = 20.0
_STOP_BEFORE_EXPIRY = timedelta(seconds=20)


@dataclass(frozen=True, slots=True)
class Claimant:
    machine: str  # "" where it cannot be told (no /proc): such a claimant is judged by its lease only
    pid: int
    started: str  # the process's start, in clock ticks after boot (/proc/PID/stat, field 22)
    pass_id: str

    def __str__(self) -> str:
        return f"{self.machine}:{self.pid}:{self.started}:{self.pass_id}"

    @classmethod
    def parse(cls, text: str) -> Claimant | None:
        fields = text.split(":")
        if len(fields) != 4 or not fields[1].isdigit():
            return None
        return cls(fields[0], int(fields[1]), fields[2], fields[3])


def new_pass() -> Claimant:
    """The claimant of a delivery pass starting now in this process."""
    pid = os.getpid()
    return Claimant(_machine(), pid, _started(pid) or "", secrets.token_hex(4))


def gone(claimed_by: str | None) -> bool:
    """True only when the claimant was a process of this machine that no longer runs."""
    claimant = Claimant.parse(claimed_by or "")
    if claimant is None or not claimant.started or claimant.machine != _machine():
        return False  # another machine's, or unknown: its lease decides
    return _started(claimant.pid) != claimant.started


@functools.cache
def _machine() -> str:
    """This kernel's boot and this PID namespace: where a pid means the same process as here."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            identity = boot.read().strip() + os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def _started(pid: int) -> str | None:
    """The start time of process `pid`, or None when no such process runs."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: count from the last ')'
    after_name = text[text.rfind(b")") + 2 :].split()
    return after_name[19].decode() if len(after_name) > 19 else None


class Lease:
    """The lease of one delivery pass, renewed in the background for as long as the pass runs."""

    def __init__(self, clock: Clock, renew: Callable[[str, datetime], object]) -> None:
        self.claimant = str(new_pass())
        self._clock = clock
        self._renew = renew
        # every row this pass holds has a lease ending at least LEASE after this moment
        self._renewed = clock()

    def until(self) -> datetime:
        """The lease of a row claimed now."""
        return self._clock() + LEASE

    def valid(self) -> bool:
        """False once renewals failed for so long that the rows may soon be taken by another sender."""
        return self._clock() < self._renewed + LEASE - _STOP_BEFORE_EXPIRY

    @contextmanager
    def kept(self) -> Iterator[Lease]:
        done = threading.Event()
        renewer = threading.Thread(target=self._keep, args=(done,), name="lease-renewer", daemon=True)
        renewer.start()
        try:
            yield self
        finally:
            done.set()
            renewer.join()

    def _keep(self, done: threading.Event) -> None:
        wait = RENEW_SECONDS
        while not done.wait(wait):
            at = self._clock()
            try:
                self._renew(self.claimant, at + LEASE)
            except Exception as error:  # noqa: BLE001 - the database may be away: try again soon
                log.warning("outbox: cannot renew the lease of the mails being sent: %s", error)
                wait = RENEW_SECONDS / 4
                continue
            self._renewed = at
            wait = RENEW_SECONDS
