"""`serve --workers N`: N forked processes serving one port, each a whole instance, supervised here.

The parent binds one listening socket per worker, all with SO_REUSEPORT on the same address, before
any worker starts: a port already taken fails the start at once, in one line, and the kernel spreads
new connections evenly over the sockets (one shared socket wakes every worker for each connection and
lets the first awake take most of them). Worker i always serves socket i, which the parent keeps
open: connections that arrive while a worker is being replaced wait in its queue instead of being
refused.

Each worker is a whole instance, as if started alone (its own store pool, feed cache, scheduler): the
leader election of leader.py lets exactly one of them run the jobs and the others follow its renders
(publish/follower.py), as several instances on one database already do. The parent does no work of
its own and holds no database connection or thread: it forks, waits and relays signals.

A worker that dies is restarted: a crash or the OOM killer taking one worker should not take the
site down, and the others serve meanwhile. Only when workers keep dying (RESTART_LIMIT deaths within
RESTART_WINDOW seconds: a broken start, a database refusing every connection) does the whole serve
stop, with one line and exit status 1, rather than loop forever.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from types import FrameType

MAX_WORKERS = 64
RESTART_LIMIT = 5  # deaths ...
RESTART_WINDOW = 60.0  # ... within this many seconds: the workers cannot stay up, stop trying
STOP_SECONDS = 20.0  # a worker's graceful shutdown (uvicorn's 5 s, the readership flush, the jobs)
BACKLOG = 2048  # uvicorn's own default


def default_count() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))
    except AttributeError:  # not Linux
        return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets bound to host:port with SO_REUSEPORT, listening (OSError if the port is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(BACKLOG)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


# a worker's body: (index, its socket) -> exit status; index 0 is the first worker started
Body = Callable[[int, socket.socket], int]


class Supervisor:
    """Forks the workers, restarts one that dies, stops them all on SIGTERM or SIGINT."""

    def __init__(self, sockets: list[socket.socket], body: Body, say: Callable[[str], None]) -> None:
        self.sockets = sockets
        self.body = body
        self.say = say
        self.children: dict[int, int] = {}  # pid -> worker index
        self.deaths: list[float] = []  # time.monotonic() of each unexpected exit
        self.stopping = False
        self.status = 0

    def run(self) -> int:
        """Until every worker has stopped; returns the status for the whole serve."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for index in range(len(self.sockets)):
                self._start(index)
            self._supervise()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for sock in self.sockets:
                sock.close()
        return self.status

    def _start(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the parent's code
            os._exit(_worker(self.body, index, self.sockets[index], os.getppid()))
        self.children[pid] = index

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            self.stopping = True
            self.deadline = time.monotonic() + STOP_SECONDS
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _supervise(self) -> None:
        while self.children:
            if self.stopping:
                self._reap_stopping()
                continue
            try:
                pid, status = os.wait()  # blocks: the parent costs nothing while the workers serve
            except ChildProcessError:
                return
            index = self.children.pop(pid, None)
            if index is None or self.stopping:
                continue
            self._died(pid, index, os.waitstatus_to_exitcode(status))

    def _died(self, pid: int, index: int, code: int) -> None:
        now = time.monotonic()
        self.deaths = [t for t in self.deaths if now - t < RESTART_WINDOW] + [now]
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        if len(self.deaths) >= RESTART_LIMIT:
            self.say(
                f"syndicator: worker {index + 1} (pid {pid}) {how}; {len(self.deaths)} workers died "
                f"within {RESTART_WINDOW:.0f} s: stopping the others and exiting"
            )
            self.status = 1
            self._stop(signal.SIGTERM, None)
            return
        self.say(f"syndicator: worker {index + 1} (pid {pid}) {how}; starting another")
        self._start(index)

    def _reap_stopping(self) -> None:
        """Stopping: wait for each worker's graceful shutdown, SIGKILL any still there at the deadline."""
        while self.children:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid:
                self.children.pop(pid, None)
                continue
            if time.monotonic() > self.deadline:
                for pid in list(self.children):
                    self.say(f"syndicator: worker {self.children[pid] + 1} (pid {pid}) did not stop: killed")
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.deadline = float("inf")
            time.sleep(0.05)


def _worker(body: Body, index: int, sock: socket.socket, parent: int) -> int:
    """In the forked child: default signal handling, die with the parent, run the body."""
    status = 1
    try:
        # SIGTERM ends a worker still starting at once; once serving, uvicorn's handlers take over. A
        # Ctrl-C reaches every process of the terminal's group: the parent turns it into a SIGTERM
        # to each worker, so a worker ignores its own copy (uvicorn would raise it again at its end)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, lambda *_: None)
        _die_with(parent)
        status = body(index, sock)
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child must reach os._exit, whatever happened
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    return status


PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """SIGTERM this worker when the parent dies, however it dies (SIGKILL included): no orphans left
    serving the port with nobody to stop them. Linux only; elsewhere the worker outlives a killed parent."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the line above: nobody would signal us
        raise SystemExit(1)
