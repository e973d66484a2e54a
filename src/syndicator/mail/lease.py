"""Who holds an outbox claim, whether that holder still runs, and the lease a live holder renews.

Each delivery pass marks the rows it claims with its claimant: the machine (kernel boot and PID
namespace), the process (pid and start time, so a reused pid is not taken for it) and the pass. While
the pass runs it renews the lease of every row it holds. A row goes back to the queue only when its
lease ran out, or when its claimant was a process of this machine that no longer runs (a killed
`digest send` started again at once): never while a live sender may still be sending it, whatever
happened to the leadership meanwhile. Leases are times of the injected clock; machines sharing a
database need clocks within a few seconds of each other (NTP), far below LEASE.

A pass that was frozen or cut off past its lease (SIGSTOP, a dead network path) may find its rows
taken by another instance when it wakes: it is then lost for good. Its lease is never valid again
(a late renewal does not revive it), a renewal that finds rows gone it still thought it held says so
at once, and every write it makes to a row is conditional on still holding it (store/mailqueue.py).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import secrets
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
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


class RenewalFailed(Exception):
    """The renewal could not reach the database, and the outage was logged already."""


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
    """The lease of one delivery pass, renewed in the background for as long as the pass runs.

    `renew(claimant, until)` extends the lease of the claimant's rows and returns the ids it still
    holds. The pass tells the lease which rows it holds (`hold`) and lets go of each one before it
    settles or hands it back (`let_go`), so that a renewal can tell a row taken by another sender from
    one this pass settled meanwhile."""

    def __init__(self, clock: Clock, renew: Callable[[str, datetime], Collection[int]]) -> None:
        self.claimant = str(new_pass())
        self._clock = clock
        self._renew = renew
        # every row this pass holds has a lease ending at least LEASE after this moment
        self._renewed = clock()
        self._lock = threading.Lock()
        self._held: set[int] = set()
        self._lost: str | None = None  # why this pass's claims cannot be trusted any more

    def until(self) -> datetime:
        """The lease of a row claimed now."""
        return self._clock() + LEASE

    def valid(self) -> bool:
        """False once renewals failed for so long that the rows may soon be taken by another sender, or
        once rows were found taken; for good, either way."""
        if self._lost is not None:
            return False
        if self._clock() < self._renewed + LEASE - _STOP_BEFORE_EXPIRY:
            return True
        self.lose("the lease of the mails being sent could not be renewed in time")
        return False

    def lose(self, why: str) -> None:
        """This pass's claims are not to be trusted any more: it sends nothing more (logged once)."""
        with self._lock:
            if self._lost is not None:
                return
            self._lost = why
        log.error("outbox: %s: this sender stops", why)

    def hold(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._held.update(ids)

    def let_go(self, ids: Iterable[int]) -> None:
        """Before settling or handing back rows: from now on their absence is this pass's doing."""
        with self._lock:
            self._held.difference_update(ids)

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
            # checked before renewing: a pass that wakes past its lease (frozen, cut off) must not be
            # made valid again by the rows it happens to still hold
            self.valid()
            at = self._clock()
            with self._lock:
                thought = set(self._held)
            try:
                still = self._renew(self.claimant, at + LEASE)
            except RenewalFailed:
                wait = RENEW_SECONDS / 4
                continue
            except Exception as error:  # noqa: BLE001 - the database may be away: try again soon
                log.warning("outbox: cannot renew the lease of the mails being sent: %s", one_line(error))
                wait = RENEW_SECONDS / 4
                continue
            with self._lock:
                # let go of since the snapshot: settled by this pass; still held now: taken by another
                taken = (thought - set(still)) & self._held
            if taken:
                self.lose(
                    f"{len(taken)} of the {len(thought)} mails this pass held were taken by another sender"
                )
            self._renewed = at
            wait = RENEW_SECONDS


def one_line(error: BaseException) -> str:
    """A driver's own words on one line, without SQLAlchemy's SQL and help link."""
    return " ".join(str(getattr(error, "orig", None) or error).split())
