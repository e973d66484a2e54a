"""Rendered documents held in memory by URL path: a poll is a dict lookup, never a query or a render."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from threading import Lock


@dataclass(frozen=True, slots=True)
class RenderedFeed:
    path: str  # URL path: /feeds/thong-bao.rss
    media_type: str
    body: bytes
    body_gzip: bytes
    etag: str  # quoted, strong: a hash of `body`
    last_modified: datetime | None  # the newest entry's update
    fingerprint: str  # of the inputs; equal inputs -> equal bytes, so no render is needed

    @classmethod
    def make(
        cls, path: str, media_type: str, body: bytes, last_modified: datetime | None, fingerprint: str
    ) -> RenderedFeed:
        return cls(
            path=path,
            media_type=media_type,
            body=body,
            body_gzip=deterministic_gzip(body),
            etag=etag_of(body),
            last_modified=last_modified,
            fingerprint=fingerprint,
        )

    @property
    def last_modified_http(self) -> str | None:
        return format_datetime(self.last_modified, usegmt=True) if self.last_modified else None


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def deterministic_gzip(body: bytes) -> bytes:
    # mtime=0: the same feed gives the same .gz bytes on every build and every instance
    return gzip.compress(body, compresslevel=9, mtime=0)


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
