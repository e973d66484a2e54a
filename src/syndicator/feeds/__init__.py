"""Feed rendering: (channel, articles) -> RSS 2.0, Atom 1.0 or JSON Feed 1.1 bytes. Pure, no I/O, no clock.

`articles` are the visible ones, newest first (published_at desc, then id desc); the output keeps that
order. The feed's updated time is its newest entry's `updated_at`, never the build time, so rendering
the same input twice gives the same bytes. A feed without entries says `fallback_updated`, or
2000-01-01T00:00:00Z when none is given.

This package is the only importer of feedgen in the project (see xml.py for why it is wrapped).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from syndicator.feeds.channel import ArchiveLinks, Channel
from syndicator.feeds.entries import EMPTY_FEED_UPDATED
from syndicator.feeds.jsonfeed import render_json
from syndicator.feeds.xml import render_atom, render_rss
from syndicator.model import Article

__all__ = [
    "EMPTY_FEED_UPDATED",
    "KINDS",
    "MEDIA_TYPES",
    "ArchiveLinks",
    "Channel",
    "render",
    "render_atom",
    "render_json",
    "render_rss",
]

MEDIA_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
KINDS = tuple(MEDIA_TYPES)


def render(
    kind: str,
    channel: Channel,
    articles: Sequence[Article],
    archive: ArchiveLinks | None = None,
    *,
    fallback_updated: datetime | None = None,
) -> bytes:
    """Dispatch on "rss" | "atom" | "json"; archive links exist in Atom only."""
    if kind == "atom":
        return render_atom(channel, articles, archive, fallback_updated=fallback_updated)
    if archive is not None:
        raise ValueError(f"archive links are for Atom feeds, not {kind!r}")
    if kind == "rss":
        return render_rss(channel, articles, fallback_updated=fallback_updated)
    if kind == "json":
        return render_json(channel, articles)
    raise ValueError(f"unknown feed kind {kind!r} (expected one of {', '.join(KINDS)})")
