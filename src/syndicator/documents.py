"""A rendered document (feed, archive page, OPML) as a value: its bytes, gzip twin and strong ETag.

Below both the store, which keeps documents so that a restart or another instance serves the same
bytes, and publish/, which renders and serves them.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime


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
