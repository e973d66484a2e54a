"""Which instance runs the jobs: one leader among all processes sharing a database.

PostgreSQL: a session advisory lock held on a dedicated connection; it is released by the server the
moment the leader's connection dies, so another instance takes over at its next tick. (APScheduler's
own job stores cannot be shared between schedulers; its FAQ says so.)
SQLite: an exclusive flock on a file beside the database; the kernel releases it when the process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url

from syndicator.store import locks

log = logging.getLogger(__name__)

LEADER_LOCK = 0x5E1D1C01


class Leadership:
    def __init__(self, engine: Engine, var_dir: Path) -> None:
        self.engine = engine
        self.var_dir = var_dir
        self._conn: Connection | None = None
        self._file: IO[bytes] | None = None
        self._lock = threading.Lock()  # jobs on several scheduler threads ask at once
        self.term = 0  # bumped at each election won: another instance may have led in between

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def acquire(self) -> bool:
        """True while this process leads; cheap to call at every tick."""
        with self._lock:
            if self.engine.dialect.name == "postgresql":
                return self._acquire_postgres()
            return self._acquire_file()

    def release(self) -> None:
        with self._lock:
            self._release()

    def _release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                locks.unlock_all(self._conn)
            with contextlib.suppress(Exception):
                # invalidate, not only close: close() would hand the session back to the pool, still
                # holding the lock if the unlock failed, and nobody else could lead
                self._conn.invalidate()
                self._conn.close()
            self._conn = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def _acquire_postgres(self) -> bool:
        if self._conn is not None:
            try:
                locks.check_alive(self._conn)
                return True
            except Exception as error:  # noqa: BLE001 - a dead connection means the lock is gone too
                # its own line even in an outage: the lock may be gone while the database is not
                # (the session terminated, a proxy restarted), and then nothing else would say so
                reason = " ".join(str(getattr(error, "orig", None) or error).split())
                log.warning("lost the leader connection (%s); trying again", reason[:300])
                self._release()
        conn = self.engine.connect()
        try:
            got = locks.try_lock(conn, LEADER_LOCK)
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
            self.term += 1
            log.info("this instance now runs the scheduled jobs")
            return True
        conn.close()
        return False

    def _acquire_file(self) -> bool:
        if self._file is not None:
            return True
        url = make_url(str(self.engine.url))
        base = Path(url.database) if url.database and url.database != ":memory:" else self.var_dir / "memory"
        path = base.with_name(base.name + ".leader")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "ab")  # noqa: SIM115 - held open for the life of the leadership
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        self._file = handle
        self.term += 1
        log.info("this instance now runs the scheduled jobs")
        return True
