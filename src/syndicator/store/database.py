"""Engine creation and schema upgrades. Both dialects are set up here and nowhere else."""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from sqlalchemy import ARRAY, Engine, bindparam, cast, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_UPGRADE_LOCK = 0x5E1D1CA7  # advisory lock key: one migrating instance at a time
WRITE_OPTION = "syndicator_write"  # execution option marking a connection that will write


class StoreError(Exception):
    """The database cannot be used as it is; the message says why and what to do."""


def is_unavailable(error: BaseException) -> bool:
    """The database cannot be reached now (server down or restarting, file gone, pool exhausted), as
    opposed to a fault in a query: the first passes by itself, the second is a bug to report."""
    if isinstance(error, PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and (
        error.connection_invalidated or isinstance(error, OperationalError)
    )


def connection_lost(error: BaseException) -> bool:
    """The connection a statement ran on died (a server restart, a cut network path, a killed backend),
    which says nothing yet of whether the database answers a new one."""
    return isinstance(error, DBAPIError) and error.connection_invalidated


class Availability:
    """An outage of the database, logged once when it starts and once when it ends instead of a traceback
    per request that meets it. One per engine (`Availability.of`), so that every part of a process that
    reports to it logs the outage once.

    While an outage is known, connecting fails at once (no request waits out a connect timeout against
    a server that accepts and never answers), except for one probe at a time: the first connect after
    the outage began, then at most one per `probe_seconds`. The probe's success ends the outage. So
    does any statement that succeeds, on any connection: a pooled connection that outlived a hang must
    not leave the outage open for good."""

    _of: ClassVar[weakref.WeakKeyDictionary[Engine, Availability]] = weakref.WeakKeyDictionary()
    _of_lock: ClassVar[threading.Lock] = threading.Lock()
    probe_seconds: ClassVar[float] = 3.0

    def __init__(self, engine: Engine) -> None:
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._probing = False
        self._last_probe = 0.0
        self._engine = weakref.ref(engine)  # the registry holds engines weakly: so does their entry
        event.listen(engine, "do_connect", self._admit)
        event.listen(engine, "connect", self._answered)
        event.listen(engine, "after_cursor_execute", self._answered)

    @classmethod
    def of(cls, engine: Engine) -> Availability:
        with cls._of_lock:
            found = cls._of.get(engine)
            if found is None:
                found = cls._of[engine] = cls(engine)
            return found

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def failed(self, error: BaseException) -> None:
        with self._lock:
            if self._down_since is not None:
                return
            # the next connect is a probe at once: one dropped connection (a killed backend, a server
            # restart) costs no request anything; only a failed probe makes the others fail fast
            self._down_since, self._last_probe = time.monotonic(), 0.0
        reason = " ".join(str(getattr(error, "orig", None) or error).split())  # drivers' messages span lines
        log.error("database unavailable: %s: %s", type(error).__name__, reason[:300])
        engine = self._engine()
        if engine is not None:
            # idle pooled connections lead to the same server: a check of each (pre-ping) would wait on a
            # hung one; new connections go through _admit instead
            engine.pool.dispose()

    def _admit(self, dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        with self._lock:
            if self._down_since is None:
                return None  # the usual connect
            now = time.monotonic()
            if self._probing or now - self._last_probe < self.probe_seconds:
                raise dialect.loaded_dbapi.OperationalError(
                    "the database is unavailable (outage under way; it is probed every "
                    f"{self.probe_seconds:g} s)"
                )
            self._probing, self._last_probe = True, now
        try:
            return dialect.connect(*cargs, **cparams)
        finally:
            with self._lock:
                self._probing = False

    def _answered(self, *_args: Any) -> None:
        if self._down_since is None:  # the common case, without the lock: one check per statement
            return
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log.warning("database available again after %.0f s", time.monotonic() - since)


def create_store_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                reason = f"cannot create the folder {folder} for the database: {error.strerror}"
                raise StoreError(reason) from None
        engine = create_engine(url, connect_args={"timeout": 30}, poolclass=NullPool, **kwargs)
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            _open_existing_only(engine, Path(parsed.database))
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling is off (see _sqlite_pragmas); we BEGIN ourselves so that a
        # writer takes the write lock up front (BEGIN IMMEDIATE) instead of failing on upgrade later.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # Each sender thread keeps a connection (mail.connections, up to 64), besides the web and the jobs:
    # SQLAlchemy's default of 15 would leave threads waiting. Connections are opened only when used.
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 80)
    # A server that takes the connection and then never answers (a frozen host, a dead network path) must
    # cost a request seconds and an outage line, not a thread for good: bounded connects, and TCP
    # keepalives so a connection whose peer vanished fails within a minute. Settings in the URL win.
    connect_args = {**_PG_CONNECT_DEFAULTS, **kwargs.pop("connect_args", {})}
    for name in parsed.query:
        connect_args.pop(name, None)
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


_PG_CONNECT_DEFAULTS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def _open_existing_only(engine: Engine, path: Path) -> None:
    """The database file is created here, when the engine is made (start-up, `db upgrade`), and never by
    a later connection: a file moved or deleted under a running server is an outage, not a new empty
    store in its place (sqlite's default is to create what it does not find)."""
    try:
        path.touch(exist_ok=False)  # only when missing: a read-only file is not this function's to touch
    except FileExistsError:
        pass
    except OSError as error:
        raise StoreError(f"cannot create the database {path}: {error.strerror}") from None
    uri = "file:" + quote(str(path.resolve()), safe="/") + "?mode=rw"

    def read_write(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        cargs[:1] = [uri]
        cparams["uri"] = True

    # registered before Availability's do_connect, which may make the connection with these arguments
    event.listen(engine, "do_connect", read_write)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    writing = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def alembic_config(engine: Engine) -> AlembicConfig:
    """Alembic's configuration for this engine: `upgrade` runs to head with it, and the migration
    tests step to a given revision (upgrade or downgrade) with it."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


_REVISION = re.compile(r'^(down_)?revision\b[^=]*= *(?:"([^"]+)"|None)', re.MULTILINE)


@functools.cache  # the scripts are part of the installed code: read once per process
def head_revision() -> str:
    """The newest migration, read from the scripts themselves: every start checks it, and alembic
    takes a tenth of a second to import (tests compare this with alembic's own answer)."""
    parents: dict[str, str | None] = {}
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = {bool(m.group(1)): m.group(2) for m in _REVISION.finditer(script.read_text("utf-8"))}
        if found.get(False):
            parents[found[False]] = found.get(True)
    heads = set(parents) - {parent for parent in parents.values() if parent}
    if len(heads) != 1:
        raise StoreError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def current_revision(engine: Engine) -> str | None:
    """What alembic_version says (None: an empty database), without importing alembic."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; returns (before, after)."""
    from alembic import command

    with _upgrade_lock(engine):
        before = current_revision(engine)
        command.upgrade(alembic_config(engine), "head")
    return before, head_revision()


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse to run on an outdated one."""
    try:
        current = current_revision(engine)
    except DBAPIError as error:  # no server, wrong password, not a database file ...
        reason = " ".join(str(error.orig).split())  # drivers' messages span lines; the operator gets one
        raise StoreError(f"cannot open the database: {reason}") from None
    if current == head_revision():
        return
    if current is None:
        upgrade(engine)
        return
    raise StoreError(
        f"the database schema is at revision {current}, this version needs {head_revision()}: "
        "run `syndicator db upgrade`"
    )


class _upgrade_lock:
    """PostgreSQL advisory lock so that two instances starting at once do not both migrate."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Any = None

    def __enter__(self) -> None:
        if self.engine.dialect.name == "postgresql":
            self.conn = self.engine.connect()
            self.conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _UPGRADE_LOCK})
            self.conn.commit()

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _UPGRADE_LOCK})
            self.conn.commit()
            self.conn.close()


def upsert(conn: Any, table: Any, rows: list[dict[str, Any]], key: str) -> None:
    """Insert rows, replacing any with the same key: safe when two instances write the same row."""
    if not rows:
        return
    dialect_insert = _dialect_insert(conn)
    statement = dialect_insert(table)
    columns = {c: statement.excluded[c] for c in rows[0] if c != key}
    conn.execute(statement.on_conflict_do_update(index_elements=[key], set_=columns), rows)


def insert_ignore(conn: Any, table: Any, rows: list[dict[str, Any]]) -> int:
    """Insert rows, skipping any that collide with a unique constraint; returns how many went in."""
    if not rows:
        return 0
    dialect_insert = _dialect_insert(conn)
    inserted = 0
    # RETURNING counts what went in on both dialects (rowcount is not reliable for executemany)
    key = next(iter(table.primary_key.columns))
    columns = list(rows[0])
    if conn.dialect.name == "postgresql" and len(rows) > 1 and all(list(row) == columns for row in rows):
        # one array per column, unnested by the server: a multi-row VALUES of 1,000 rows is a statement
        # psycopg rewrites in Python each time, which cost more than the inserts themselves
        arrays = [
            func.unnest(
                cast(bindparam(f"a_{name}", type_=ARRAY(table.c[name].type)), ARRAY(table.c[name].type))
            )
            for name in columns
        ]
        statement = dialect_insert(table).from_select(columns, select(*arrays))
        statement = statement.on_conflict_do_nothing().returning(key)
        for start in range(0, len(rows), 5000):
            chunk = rows[start : start + 5000]
            params = {f"a_{name}": [row[name] for row in chunk] for name in columns}
            inserted += len(conn.execute(statement, params).all())
        return inserted
    statement = dialect_insert(table).on_conflict_do_nothing().returning(key)
    for start in range(0, len(rows), 1000):
        inserted += len(conn.execute(statement, rows[start : start + 1000]).all())
    return inserted


def _dialect_insert(conn: Any) -> Any:
    """INSERT with ON CONFLICT support: both dialects have it, each under its own name."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgres_insert

        return postgres_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
