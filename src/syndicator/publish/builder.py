"""Render the feeds whose content changed, keep them (memory + database), and say which changed.

The same `FeedBuilder.refresh` serves `syndicator build`, the scheduler's store watch and the tests.
A channel is rendered only when its fingerprint (its entries' ids and change times, its size and
every setting that shows in it) differs from the kept one, so an idle tick renders nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syndicator import feeds, i18n, links
from syndicator.config import Settings
from syndicator.feeds import ArchiveLinks, Channel
from syndicator.i18n import _
from syndicator.links import OPML_PATH, archive_path, feed_path
from syndicator.model import Article, Category, with_display_names
from syndicator.publish.cache import FeedCache, RenderedFeed
from syndicator.publish.opml import render_opml
from syndicator.store import Store
from syndicator.store import archives as store_archives
from syndicator.store import articles as store_articles
from syndicator.store import channels as store_channels
from syndicator.store import rendered as store_rendered
from syndicator.store.channels import ALL, LOOKBACK

log = logging.getLogger(__name__)

KINDS = ("rss", "atom", "json")
# Bump when the rendering code changes what it writes, so kept feeds are rendered anew.
# 2: archive pages are stored assignments (the feed no longer repeats the newest); 3: sectioning
# elements kept in content, block boundaries in derived summaries
RENDER_VERSION = "3"


@dataclass(frozen=True, slots=True)
class Paging:
    """RFC 5005 archives of a channel: pages 1 (the oldest) to `last_page`, each holding the articles
    stored for it (store/archives.py), up to `size` of them."""

    size: int  # entries per archive page
    last_page: int  # 0: no archive page yet

    def has(self, page: int) -> bool:
        return 1 <= page <= self.last_page


@dataclass(slots=True)
class BuildReport:
    checked: int = 0
    rendered: list[str] = field(default_factory=list)  # paths whose bytes changed
    gone: list[str] = field(default_factory=list)


class FeedBuilder:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        cache: FeedCache,
        *,
        on_changed: Callable[[list[str]], None] = lambda urls: None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.cache = cache
        self.on_changed = on_changed
        self._since: datetime | None = None
        self._previous_now: datetime | None = None
        self.next_due: datetime | None = None  # the next scheduled article's time, as of the last refresh
        self._archive_memo: dict[tuple[str, int], RenderedFeed] = {}
        self._stamps: dict[str, int] = {}  # each category's revision, as last handled
        self._totals: dict[str, int] = {}  # visible articles per channel, as last counted
        # per channel, the feed's ids and when they were read: the only unarchived articles then, so
        # the next look for newly unarchived ones reads only what was written or came due since
        self._feed_ids: dict[str, tuple[datetime, list[str]]] = {}
        self._lock = threading.RLock()  # the store watch and the drop folder may both ask
        # feeds are in the site's language: their words, and the categories' names in it
        self._language = settings.site.catalogue
        self._names = settings.category_names(self._language)

    @property
    def lock(self) -> AbstractContextManager[object]:
        """Held while rendering and persisting: the cache and the database agree outside of it."""
        return self._lock

    # -- the store watch -------------------------------------------------------------------------
    def refresh(self, now: datetime) -> BuildReport:
        """Re-render what changed since the last call (everything on the first call)."""
        with self._lock:
            with self.store.reading() as conn:
                found = store_channels.changes(conn, self._since, self._previous_now, now)
                keys: set[str] = set(store_channels.names(conn)) | {ALL} if found.everything else set()
                self.next_due = store_channels.next_due(conn, now)
            # a category whose revision is the one already handled is only inside the look-back window
            keys |= {slug for slug, stamp in found.stamps.items() if self._stamps.get(slug) != stamp}
            keys |= found.due
            if keys:
                keys.add(ALL)
            report = self.rebuild(keys, now) if keys else BuildReport()
            self._stamps.update(found.stamps)
            self._since = now
            self._previous_now = now
            return report

    def rebuild(self, keys: Iterable[str], now: datetime) -> BuildReport:
        with self._lock:
            return self._rebuild(keys, now)

    def _rebuild(self, keys: Iterable[str], now: datetime) -> BuildReport:
        report = BuildReport()
        keys = set(keys)
        if not keys:
            return report
        with self.store.reading() as conn:
            names = store_channels.names(conn)
        categories = {
            slug: Category(slug, self.settings.category_display_name(slug, name, self._language))
            for slug, name in names.items()
        }
        # categories first, `all` last: its total is the sum of theirs
        for key in sorted(keys, key=lambda k: (k == ALL, k)):
            if key != ALL and key not in categories:
                continue
            report.checked += 1
            self._rebuild_channel(key, categories.get(key), now, report, categories)
        self._rebuild_opml(categories, report)
        self.persist(report, now)
        # a feed that turned 410 is pinged too: the hub's fetch is how its subscribers learn it is gone
        changed = [path for path in (*report.rendered, *report.gone) if path != OPML_PATH]
        if changed:
            self.on_changed([links.absolute(self.settings.base_url, path) for path in changed])
        return report

    def _rebuild_channel(
        self,
        key: str,
        category: Category | None,
        now: datetime,
        report: BuildReport,
        categories: dict[str, Category],
    ) -> None:
        # every category's count is known once all were counted (the first refresh), and each one
        # that changed is counted again before `all` (sorted last): `all` is their sum, no full count
        known = key == ALL and all(slug in self._totals for slug in categories)
        counted, entries, paging = self._current(key, now, count=not known)
        total = sum(self._totals[slug] for slug in categories) if known else counted
        self._totals[key] = total
        if key != ALL and total == 0:
            for kind in KINDS:
                path = feed_path(key, kind)
                if self.cache.mark_gone(path):
                    report.gone.append(path)
            self._forget(key)
            return
        channel = self.channel(key, category)
        fingerprint = self._fingerprint(channel, entries, paging)
        last_modified = max((a.updated_at for a in entries), default=None)
        for kind in KINDS:
            path = feed_path(key, kind)
            kept = self.cache.get(path)
            if kept is not None and kept.fingerprint == fingerprint:
                continue
            archive = None
            if kind == "atom" and paging.last_page:
                archive = ArchiveLinks(
                    current=channel.feed_urls["atom"],
                    prev_archive=self._url(archive_path(key, paging.last_page)),
                    next_archive=None,
                    is_archive=False,
                )
            body = feeds.render(kind, channel, entries, archive)
            doc = RenderedFeed.make(path, feeds.MEDIA_TYPES[kind], body, last_modified, fingerprint)
            if self.cache.put(doc):
                report.rendered.append(path)
        self._forget(key)

    def _current(self, key: str, now: datetime, *, count: bool) -> tuple[int, list[Article], Paging]:
        """The channel's visible articles (counted when asked, else -1), the feed's entries (the newest
        `max_entries` articles on no archive page) and its archive.

        What the feed cannot hold is archived first, oldest first, so that the feed and the archive
        pages together hold every visible article once (RFC 5005: archive pages do not change).
        """
        limit, size = self.settings.feeds.max_entries, self.settings.feeds.archive_page_size
        kept = self._feed_ids.get(key)
        since, known = (None, []) if kept is None else (kept[0] - LOOKBACK, kept[1])
        with self.store.reading() as conn:
            total = store_articles.count_visible(conn, now, None if key == ALL else key) if count else -1
            pending = store_archives.unarchived(conn, key, now, since=since, known=known)
            last_page = store_archives.last_page(conn, key)
            current = pending[:limit]
            found = store_archives.by_ids(conn, current)
        leaving = pending[limit:][::-1]  # oldest first: the older of two leaving gets the lower page
        if leaving:
            with self.store.writing() as conn:
                last_page = store_archives.archive(conn, key, leaving, size)
        self._feed_ids[key] = (now, current)
        return total, [self._named(found[i]) for i in current], Paging(size, last_page)

    def _rebuild_opml(self, categories: dict[str, Category], report: BuildReport) -> None:
        """Only when the list of channels with articles, or a name in it, changed."""
        listed = [categories[slug] for slug in sorted(categories) if self._totals.get(slug, 0) > 0]
        body = render_opml(self.settings, listed, now=None)
        digest = hashlib.sha256(body).hexdigest()
        kept = self.cache.get(OPML_PATH)
        if kept is not None and kept.fingerprint == digest:
            return
        doc = RenderedFeed.make(OPML_PATH, "text/x-opml; charset=utf-8", body, None, digest)
        self.cache.put(doc)
        report.rendered.append(OPML_PATH)

    # -- archive pages (rendered on demand, they are rarely read) ---------------------------------
    def archive_page(self, key: str, page: int, now: datetime) -> RenderedFeed | None:
        with self._lock:
            return self._archive_page(key, page, now)

    def _archive_page(self, key: str, page: int, now: datetime) -> RenderedFeed | None:
        category = None
        if key != ALL:
            if self.cache.is_gone(feed_path(key, "atom")):
                return None  # a category with nothing visible left is 410, its archive pages with it
            category = self.store.category(key)
            if category is None:
                return None
        with self.store.reading() as conn:
            paging = Paging(self.settings.feeds.archive_page_size, store_archives.last_page(conn, key))
            if not paging.has(page):
                return None
            entries = store_archives.page(conn, key, page, now)
        doc = self._render_archive(key, category, page, entries, paging)
        memo = self._archive_memo.get((key, page))
        if memo is not None and memo.fingerprint == doc.fingerprint:
            return memo
        if len(self._archive_memo) > 512:
            self._archive_memo.clear()
        self._archive_memo[(key, page)] = doc
        return doc

    def _render_archive(
        self, key: str, category: Category | None, page: int, oldest_first: list[Article], paging: Paging
    ) -> RenderedFeed:
        # Archive documents list newest first like any feed; which articles a page holds is fixed.
        entries = [self._named(a) for a in reversed(oldest_first)]
        channel = self.channel(key, category, self_path=archive_path(key, page))
        fingerprint = self._fingerprint(channel, entries, paging, extra=page)
        prev_archive = self._url(archive_path(key, page - 1)) if page > 1 else None
        next_archive = self._url(archive_path(key, page + 1)) if paging.has(page + 1) else None
        if prev_archive is None and next_archive is None:
            # The only archive page: the newer document is the subscription feed itself. Saying so
            # keeps the page walkable both ways (validators flag an archive with neither link).
            next_archive = channel.feed_urls["atom"]
        archive = ArchiveLinks(
            current=channel.feed_urls["atom"],
            prev_archive=prev_archive,
            next_archive=next_archive,
            is_archive=True,
        )
        body = feeds.render("atom", channel, entries, archive)
        last_modified = max((a.updated_at for a in entries), default=None)
        return RenderedFeed.make(
            archive_path(key, page), feeds.MEDIA_TYPES["atom"], body, last_modified, fingerprint
        )

    def archive_pages(self, key: str, now: datetime) -> Iterator[RenderedFeed]:
        """Every archive page of a channel, for the static tree: the channel is read once, in order,
        and each page is handed on as soon as it is rendered (nothing accumulates)."""
        if key != ALL and self.cache.is_gone(feed_path(key, "atom")):
            return
        category = None if key == ALL else self.store.category(key)
        with self.store.reading() as conn:
            paging = Paging(self.settings.feeds.archive_page_size, store_archives.last_page(conn, key))
            if not paging.last_page:
                return
            placed = store_archives.stream_pages(conn, key, now)
            with closing(placed):
                yield from self._pages(key, category, placed, paging)

    def _pages(
        self, key: str, category: Category | None, placed: Iterator[tuple[int, Article]], paging: Paging
    ) -> Iterator[RenderedFeed]:
        # every page number is written, an emptied one (all its articles withdrawn) too: the links
        # between pages never skip one
        page, chunk = 1, list[Article]()
        for number, article in placed:
            if number > paging.last_page:
                break  # archived by another instance since the pages were counted: the next build
            while number > page:
                yield self._render_archive(key, category, page, chunk, paging)
                page, chunk = page + 1, []
            chunk.append(article)
        while page <= paging.last_page:
            yield self._render_archive(key, category, page, chunk, paging)
            page, chunk = page + 1, []

    # -- channel description ----------------------------------------------------------------------
    def channel(self, key: str, category: Category | None, self_path: str | None = None) -> Channel:
        """What a feed says of itself: in the site's language (its `language` element says which),
        whatever the language of a page that links to it."""
        site = self.settings.site
        with i18n.using(self._language):
            read_more = _("Đọc toàn bài trên %(site)s") % {"site": site.short_name}
            if key == ALL or category is None:
                title = site.name
                description = site.description
                page_url = links.absolute(self.settings.base_url, "/")
            else:
                title = f"{category.name} - {site.name}"
                description = _("Tin bài chuyên mục %(category)s của %(site)s") % {
                    "category": category.name,
                    "site": site.name,
                }
                page_url = links.category_page(self.settings.base_url, key)
        return Channel(
            key=key,
            title=title,
            description=description,
            page_url=page_url,
            feed_urls={kind: self._url(feed_path(key, kind)) for kind in KINDS},
            base_url=self.settings.base_url,
            language=site.language,
            tz=self.settings.tz,
            hub=self.settings.websub_hub,
            self_url=self._url(self_path) if self_path else None,
            max_content_bytes=self.settings.feeds.max_content_bytes,
            read_more=read_more,
        )

    def _url(self, path: str) -> str:
        return links.absolute(self.settings.base_url, path)

    def _named(self, article: Article) -> Article:
        return with_display_names(article, self._names)

    def _fingerprint(
        self, channel: Channel, entries: Sequence[Article], paging: Paging, extra: Any = None
    ) -> str:
        payload = [
            RENDER_VERSION,
            channel.title,
            channel.description,
            channel.base_url,
            channel.language,
            channel.hub,
            channel.self_url,
            str(channel.tz),
            channel.max_content_bytes,
            channel.read_more,
            paging.size,
            paging.last_page,
            extra,
            [(a.id, a.changed_at.isoformat(), a.category.name) for a in entries],
        ]
        return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()

    def _forget(self, key: str) -> None:
        for memo_key in [k for k in self._archive_memo if k[0] == key]:
            del self._archive_memo[memo_key]

    # -- persistence: a restart (or another instance) serves the same bytes and ETags --------------
    def persist(self, report: BuildReport, now: datetime) -> None:
        """Keep what a build rendered (and marked gone) in the database; called under `lock`."""
        docs = [doc for doc in (self.cache.get(path) for path in report.rendered) if doc is not None]
        if not docs and not report.gone:
            return
        with self.store.writing() as conn:
            store_rendered.keep(conn, docs, report.gone, now)

    def load_kept(self) -> int:
        """Fill the cache from the database (at start), so the first poll is served at once."""
        return load_rows(self.store, self.cache, since=None)


def load_rows(store: Store, cache: FeedCache, since: datetime | None) -> int:
    """Copy kept documents built after `since` (all when None) into the cache; returns how many changed.

    Only the paths and ETags are read first, so a follower's idle look costs one small query.
    """
    with store.reading() as conn:
        wanted = []
        changed = 0
        for head in store_rendered.heads(conn, since):
            if head.gone:
                changed += int(cache.mark_gone(head.path))
                continue
            kept = cache.get(head.path)
            if kept is None or kept.etag != head.etag:
                wanted.append(head.path)
        for doc in store_rendered.documents(conn, wanted):
            changed += int(cache.put(doc))
    return changed
