"""The article store. Callers get model objects, never rows; one function per question."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, StatementError

from syndicator.model import (
    Article,
    ArticleInput,
    Category,
    CategoryCount,
    WriteOutcome,
    reading_order,
    with_display_names,
)
from syndicator.store import articles as _articles
from syndicator.store import categories as _categories
from syndicator.store import channels as _channels
from syndicator.store import notices
from syndicator.store.database import (
    WRITE_OPTION,
    StoreError,
    create_store_engine,
    ensure_schema,
    is_unavailable,
)
from syndicator.wakeup import Signal

__all__ = ["KeptWriter", "Store", "StoreError", "WriteRefused"]

T = TypeVar("T")


class WriteRefused(Exception):
    """The database (or its driver) refused a value of a batch of articles: nothing of the batch was
    written. Not an outage: that comes as the database's own error (store.database.is_unavailable)."""

    def __init__(self, article_ids: Sequence[str], reason: str) -> None:
        super().__init__(reason)
        self.article_ids = tuple(article_ids)
        self.reason = reason  # one line, whatever the driver says


class KeptWriter:
    """A write connection kept across transactions by one thread (never shared between threads):
    opening a SQLite connection per transaction (NullPool, then the pragmas) took a fifth of the mail
    senders' time. After an error the connection is dropped, and the next use opens a new one."""

    def __init__(self, engine: Engine, write_lock: AbstractContextManager[object]) -> None:
        self._engine = engine
        self._write_lock = write_lock
        self._conn: Connection | None = None

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(**{WRITE_OPTION: True})
        return self._conn

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One transaction, like Store.writing(), on the kept connection."""
        conn = self._connection()
        try:
            with self._write_lock, conn.begin():
                yield conn
        except BaseException:
            self.close(failed=True)  # not reused after an error: the next transaction gets a new one
            raise

    def run(self, work: Callable[[Connection], T]) -> T:
        """`work` on the kept connection outside any transaction, under the write lock: for a statement
        that commits itself (mailqueue.mark_sent_now, which goes straight to the driver)."""
        try:
            with self._write_lock:
                return work(self._connection())
        except BaseException:
            self.close(failed=True)
            raise

    def close(self, *, failed: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if failed:
            # after an error the connection may be dead: handing it back to the pool would have the pool
            # roll it back and log "Exception during reset" with a traceback; dropped, it is just closed
            conn.invalidate()
        conn.close()


class Store:
    def __init__(self, engine: Engine, category_names: dict[str, str] | None = None) -> None:
        self.engine = engine
        self._names = category_names or {}
        # SQLite has one writer at a time and makes the others wait by sleeping and polling; threads
        # of one process queue on this lock instead, and are woken the moment it is free.
        self.write_lock: AbstractContextManager[object] = (
            threading.RLock() if engine.dialect.name == "sqlite" else nullcontext()
        )
        # the home and subscription pages show counts per category: 13 ms at 100,000 articles, so
        # they are kept until the store says they may have changed (categories.counts_key)
        self._counts: tuple[tuple[object, ...], list[CategoryCount]] | None = None
        # articles written or withdrawn (wakes the store watch), feeds rendered and kept (wakes the feed
        # cache's follower): by this process, or by another one on PostgreSQL once `listen` was called
        self.articles_changed = Signal()
        self.feeds_changed = Signal()
        self._listener: notices.Listener | None = None
        self._listening = threading.Lock()
        self._versioning = threading.Lock()
        self._version_conn: sqlite3.Connection | None = None

    @classmethod
    def open(cls, url: str, category_names: dict[str, str] | None = None) -> Store:
        """Connect, creating the schema in an empty database (StoreError if it is outdated)."""
        engine = create_store_engine(url)
        try:
            ensure_schema(engine)
        except BaseException:
            engine.dispose()  # do not leave a pooled connection behind for the garbage collector
            raise
        return cls(engine, category_names)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        with self._versioning:
            if self._version_conn is not None:
                self._version_conn.close()
                self._version_conn = None
        self.engine.dispose()

    def listen(self) -> notices.Listener | None:
        """Receive other instances' notices (PostgreSQL only; None on SQLite), from now until close."""
        if self.engine.dialect.name != "postgresql":
            return None
        with self._listening:
            if self._listener is None:
                self._listener = notices.Listener(
                    self.engine, {notices.ARTICLES: self.articles_changed, notices.FEEDS: self.feeds_changed}
                )
            return self._listener

    def data_version(self) -> int | None:
        """A number that changes whenever any other connection commits to the database, for a cheap
        "nothing changed" check (SQLite's PRAGMA data_version, on a connection of its own that never
        writes: microseconds, where a look at the rendered feeds is a millisecond); None where there
        is no such number (PostgreSQL, whose notices say it instead, or an in-memory database)."""
        if self.engine.dialect.name != "sqlite":
            return None
        with self._versioning:
            if self._version_conn is None:
                database = self.engine.url.database
                if not database or database == ":memory:" or self.engine.url.query.get("uri"):
                    return None
                # sqlite3, not the engine: a connection kept for good, asked from any thread (one at a
                # time, under this lock), outside any transaction
                self._version_conn = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
            row = self._version_conn.execute("PRAGMA data_version").fetchone()
            return int(row[0])

    @property
    def notified(self) -> bool:
        """Whether other instances' writes reach this process as notices now (fallback looks may be
        rarer)."""
        return self._listener is not None and self._listener.live

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        with (
            self.write_lock,
            self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn,
            conn.begin(),
        ):
            yield conn

    def kept_writer(self) -> KeptWriter:
        """A write connection for one thread to keep across many small transactions (mail delivery);
        it connects when first used, and the thread closes it when done."""
        return KeptWriter(self.engine, self.write_lock)

    def _named(self, article: Article) -> Article:
        return with_display_names(article, self._names)

    # writes
    def write(self, batch: Sequence[ArticleInput], now: datetime) -> list[WriteOutcome]:
        """Write a batch of articles with distinct ids in one transaction (all or nothing). WriteRefused
        when the database refuses a value of the batch; an outage raises the database's own error."""
        try:
            try:
                return self._write_once(batch, now)
            except IntegrityError:
                # another writer created one of these ids (or a category) meanwhile: now they exist
                return self._write_once(batch, now)
        except StatementError as error:  # a driver error, or a value the driver cannot take
            if is_unavailable(error):
                raise
            reason = " ".join(str(error.orig).split())  # one line, whatever the driver says
            raise WriteRefused([article.id for article in batch], reason) from error

    def _write_once(self, batch: Sequence[ArticleInput], now: datetime) -> list[WriteOutcome]:
        with self.writing() as conn:
            outcomes = _articles.write_batch(conn, batch, now)
            if any(outcome is not WriteOutcome.UNCHANGED for outcome in outcomes):
                notices.notify(conn, notices.ARTICLES)
        if any(outcome is not WriteOutcome.UNCHANGED for outcome in outcomes):
            self.articles_changed.notify()
        return outcomes

    def withdraw(self, article_id: str, now: datetime) -> bool:
        with self.writing() as conn:
            withdrawn = _articles.withdraw(conn, article_id, now)
            if withdrawn:
                notices.notify(conn, notices.ARTICLES)
        if withdrawn:
            self.articles_changed.notify()
        return withdrawn

    # reads
    def article(self, article_id: str) -> Article | None:
        with self.reading() as conn:
            found = _articles.get(conn, article_id)
        return self._named(found) if found else None

    def articles(
        self,
        now: datetime,
        *,
        category: str | None = None,
        visible_only: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Article]:
        with self.reading() as conn:
            found = _articles.listing(
                conn, now=now, category=category, visible_only=visible_only, limit=limit, offset=offset
            )
        return [self._named(a) for a in found]

    def category_names(self) -> dict[str, str]:
        """Every category's display name by slug, without counting articles (cheap at any size)."""
        with self.reading() as conn:
            stored = _channels.names(conn)
        return {slug: self._names.get(slug, name) for slug, name in stored.items()}

    def ping(self) -> None:
        """Raises when the database cannot be reached (the health check)."""
        with self.reading() as conn:
            conn.exec_driver_sql("SELECT 1")

    def count_visible(self, now: datetime, category: str | None = None) -> int:
        with self.reading() as conn:
            return _articles.count_visible(conn, now, category)

    def category(self, slug: str) -> Category | None:
        with self.reading() as conn:
            found = _categories.get(conn, slug)
        return Category(found.slug, self._names.get(found.slug, found.name)) if found else None

    def categories(self, now: datetime) -> list[CategoryCount]:
        with self.reading() as conn:
            key = _categories.counts_key(conn, now)
            kept = self._counts
            if kept is not None and kept[0] == key:
                counts = kept[1]
            else:
                counts = _categories.with_counts(conn, now)
                self._counts = (key, counts)
        # in the order of the names shown, which a [categories] entry may change
        return reading_order(
            CategoryCount(
                Category(c.category.slug, self._names.get(c.category.slug, c.category.name)), c.visible
            )
            for c in counts
        )
