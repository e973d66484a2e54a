"""Rendered documents held in memory by URL path: a poll is a dict lookup, never a query or a render."""

from __future__ import annotations

from threading import Lock

from syndicator.documents import RenderedFeed, deterministic_gzip, etag_of

__all__ = ["FeedCache", "RenderedFeed", "deterministic_gzip", "etag_of"]


class FeedCache:
    """Path -> RenderedFeed, plus the paths of categories that had articles and have none now (410).

    Writers replace whole entries; readers take one dict lookup, so no lock is needed to read.
    """

    def __init__(self) -> None:
        self._docs: dict[str, RenderedFeed] = {}
        self._gone: frozenset[str] = frozenset()
        self._write = Lock()
        self.generation = 0  # bumped on every change, for observers (metrics, tests)

    def get(self, path: str) -> RenderedFeed | None:
        return self._docs.get(path)

    def is_gone(self, path: str) -> bool:
        return path in self._gone

    def put(self, doc: RenderedFeed) -> bool:
        """Store; False when the same bytes were already there."""
        with self._write:
            old = self._docs.get(doc.path)
            if old is not None and old.etag == doc.etag and old.fingerprint == doc.fingerprint:
                return False
            self._docs[doc.path] = doc
            if doc.path in self._gone:
                self._gone = self._gone - {doc.path}
            self.generation += 1
            return True

    def mark_gone(self, path: str) -> bool:
        with self._write:
            had = self._docs.pop(path, None) is not None
            if path in self._gone:
                return had
            self._gone = self._gone | {path}
            self.generation += 1
            return True

    def paths(self) -> list[str]:
        return sorted(self._docs)

    def __len__(self) -> int:
        return len(self._docs)
