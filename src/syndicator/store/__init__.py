"""The article store. Callers get model objects, never rows; one function per question."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime

from sqlalchemy import Connection, Engine

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
from syndicator.store.database import WRITE_OPTION, StoreError, create_store_engine, ensure_schema

__all__ = ["Store", "StoreError"]


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
        self.engine.dispose()

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

    def _named(self, article: Article) -> Article:
        return with_display_names(article, self._names)

    # writes
    def write(self, batch: Sequence[ArticleInput], now: datetime) -> list[WriteOutcome]:
        """Write a batch of articles with distinct ids in one transaction (all or nothing)."""
        with self.writing() as conn:
            return _articles.write_batch(conn, batch, now)

    def withdraw(self, article_id: str, now: datetime) -> bool:
        with self.writing() as conn:
            return _articles.withdraw(conn, article_id, now)

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
