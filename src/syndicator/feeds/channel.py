"""What a feed is about (a channel) and where its RFC 5005 archive pages are: plain values, no rendering."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo


@dataclass(frozen=True, slots=True)
class ArchiveLinks:
    """RFC 5005 (Feed Paging and Archiving) links of an Atom document.

    The subscription feed carries `prev_archive` only; an archive page (`is_archive`) carries
    `current` and whichever of `prev_archive`/`next_archive` exist. An archive page with neither is
    legal but draws the W3C validator's "ArchiveIncomplete" warning.
    """

    current: str  # URL of the subscription (current) Atom feed
    prev_archive: str | None  # older archive page
    next_archive: str | None  # newer archive page
    is_archive: bool  # True when rendering an archive page itself (adds <fh:archive/>)


@dataclass(frozen=True, slots=True)
class Channel:
    key: str  # "all" or a category slug
    title: str
    description: str
    page_url: str  # the HTML page: the category page, or the home page for "all"
    feed_urls: Mapping[str, str]  # {"rss": ..., "atom": ..., "json": ...}: absolute URLs of its feeds
    base_url: str
    language: str  # "vi"
    tz: tzinfo  # RSS dates are shown in this zone (+0700 for Asia/Ho_Chi_Minh)
    hub: str | None = None  # WebSub hub -> <link rel="hub"> in Atom, <atom:link rel="hub"> in RSS
    generator: str = "syndicator"
    self_url: str | None = None  # overrides feed_urls[kind] as rel=self (Atom archive pages)
    # Content HTML longer than this (UTF-8 bytes) is replaced by the summary and a link, worded
    # `read_more`, to the article page. None: no limit.
    max_content_bytes: int | None = None
    read_more: str = ""

    def self_link(self, kind: str) -> str:
        return self.self_url or self.feed_urls[kind]
