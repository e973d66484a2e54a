"""RSS 2.0 and Atom 1.0 through feedgen, with its defects worked around here and nowhere else.

feedgen builds an lxml tree and calls the extensions registered with it on the channel/feed element
(before the entries are added) and on every item/entry; `_FeedFixes` and `_EntryFixes` use that hook
to repair the tree in place, so nothing is parsed twice. What they fix, and why:

- `add_entry()` prepends by default: entries are appended, to keep the newest-first order we were given.
- `updated`/`lastBuildDate` default to the build time: they are always set to the newest entry's.
- Atom entry links lose `rel` and `type` (feedgen issue #135: the loop variable is shadowed by the new
  element, so `link.get("rel")` reads the element): the attributes are set again.
- The RSS `<channel><link>` is whichever link was added last, and RSS shows only the first `atom:link`:
  the page link is added last, checked again, and the hub link is added by us.
- XML-forbidden characters make lxml raise `ValueError`: every string is cleaned before feedgen sees it.
- RSS has no plain-text type, and the W3C validator warns on anything in a title that could be markup:
  see `_hex_references` and `_break_end_tags`.
"""

from __future__ import annotations

import hashlib
import html
import re
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from feedgen.feed import FeedGenerator

from syndicator.feeds.channel import ArchiveLinks, Channel
from syndicator.feeds.entries import (
    EMPTY_FEED_UPDATED,
    Entry,
    as_uri,
    canonical_uri,
    newest_update,
    prepare,
)
from syndicator.model import Article
from syndicator.text import clean_line

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
FH_NS = "http://purl.org/syndication/history/1.0"
HTML_TYPE = "text/html"

_EXTENSION = "syndicator"
# An HTML end tag in plain text: the W3C validator's test for "should not contain HTML".
_END_TAG = re.compile(r"</(\w+)>")
WORD_JOINER = "\u2060"
# feedgen formats RSS dates with locale.setlocale(), which is process-wide: two threads rendering at
# once could leave the process in the C locale. This package is feedgen's only user, so a lock suffices.
_FEEDGEN_LOCK = threading.Lock()


def render_rss(
    channel: Channel, articles: Sequence[Article], *, fallback_updated: datetime | None = None
) -> bytes:
    entries = [prepare(channel, a) for a in articles]
    updated = newest_update(articles, fallback_updated).astimezone(channel.tz)
    fg = _generator(channel, "rss", None)
    fg.description(clean_line(channel.description) or clean_line(channel.title))
    fg.language(channel.language)
    fg.updated(updated)  # lastBuildDate
    fg.pubDate(updated)
    for entry in entries:
        fe = fg.add_entry(order="append")
        fe.syndicator.entry = entry  # for the _EntryFixes instance feedgen made for this item
        fe.title(entry.title)
        fe.link(href=entry.link, rel="alternate", type=HTML_TYPE)
        fe.guid(entry.id, permalink=entry.id == entry.link)
        # An RSS description is HTML, so the plain summary is escaped. It is set before content(), which
        # takes back the Atom content description() also sets and puts the body in content:encoded.
        fe.description(html.escape(entry.summary, quote=False))
        if entry.content_html:
            fe.content(entry.content_html, type="html")
        fe.category(term=entry.category_term, label=entry.category_label)
        fe.pubDate(entry.published)
    with _FEEDGEN_LOCK:
        body: bytes = fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    return _hex_references(body)


def render_atom(
    channel: Channel,
    articles: Sequence[Article],
    archive: ArchiveLinks | None = None,
    *,
    fallback_updated: datetime | None = None,
) -> bytes:
    entries = [prepare(channel, a) for a in articles]
    stamps = [(_atom_moment(e.published, e.id), _atom_moment(e.updated, e.id)) for e in entries]
    fallback = (fallback_updated or EMPTY_FEED_UPDATED).astimezone(channel.tz)
    fg = _generator(channel, "atom", archive)
    # The logical feed keeps one id on its subscription document and all its archive pages.
    fg.id(canonical_uri(as_uri(channel.feed_urls["atom"])))
    fg.updated(max((updated for _, updated in stamps), default=fallback))
    # Atom needs an author for every entry; the channel stands in for entries without a byline
    # (and an empty feed without one is an error for the W3C validator).
    fg.author(name=clean_line(channel.title) or channel.key)
    description = clean_line(channel.description)
    if description:
        fg.subtitle(description)
    fg.language(channel.language)  # xml:lang
    for entry, (published, updated) in zip(entries, stamps, strict=True):
        fe = fg.add_entry(order="append")
        fe.syndicator.entry = entry
        fe.id(entry.id)
        fe.title(entry.title)
        fe.link(href=entry.link, rel="alternate", type=HTML_TYPE)
        fe.summary(entry.summary, type="text")
        if entry.content_html:
            fe.content(entry.content_html, type="html")
        if entry.author:
            fe.author(name=entry.author)
        fe.category(term=entry.category_term, label=entry.category_label)
        fe.published(published)
        fe.updated(updated)
    with _FEEDGEN_LOCK:
        body: bytes = fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    return _hex_references(body)


def _generator(channel: Channel, kind: str, archive: ArchiveLinks | None) -> Any:
    fg = FeedGenerator()
    fg.register_extension(
        _EXTENSION,
        lambda: _FeedFixes(channel, kind, archive),
        _EntryFixes,
        atom=kind == "atom",
        rss=kind == "rss",
    )
    # Plain text stays on one line: the validator looks for hex references on an element's first line.
    fg.title(clean_line(channel.title) or channel.key)
    fg.generator(channel.generator)
    media_type = "application/atom+xml" if kind == "atom" else "application/rss+xml"
    fg.link(href=as_uri(channel.self_link(kind)), rel="self", type=media_type)
    if channel.hub and kind == "atom":  # RSS: added by _FeedFixes, feedgen shows one atom:link only
        fg.link(href=as_uri(channel.hub), rel="hub")
    if archive is not None:
        if archive.is_archive:
            fg.link(href=as_uri(archive.current), rel="current", type=media_type)
        if archive.prev_archive:
            fg.link(href=as_uri(archive.prev_archive), rel="prev-archive", type=media_type)
        if archive.next_archive:
            fg.link(href=as_uri(archive.next_archive), rel="next-archive", type=media_type)
    # Last, because feedgen makes the last link added the RSS <channel><link>.
    fg.link(href=as_uri(channel.page_url), rel="alternate", type=HTML_TYPE)
    return fg


class _FeedFixes:
    """feedgen extension called on the <rss>/<feed> root before the entries are added."""

    def __init__(self, channel: Channel, kind: str, archive: ArchiveLinks | None) -> None:
        self.channel = channel
        self.kind = kind
        self.archive = archive

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS} if self.kind == "rss" else {}

    def extend_rss(self, root: Any) -> Any:
        channel = root.find("channel")
        channel.find("link").text = as_uri(self.channel.page_url)
        for name in ("title", "description"):
            element = channel.find(name)
            element.text = _break_end_tags(element.text)
        if self.channel.hub:
            self_link = channel.find(f"{{{ATOM_NS}}}link")
            hub = channel.makeelement(f"{{{ATOM_NS}}}link", href=as_uri(self.channel.hub), rel="hub")
            self_link.addnext(hub)
        return root

    def extend_atom(self, root: Any) -> Any:
        _atom_text(root.find("title"))
        subtitle = root.find("subtitle")
        if subtitle is not None:
            _atom_text(subtitle)
        for name in root.iterfind("author/name"):
            name.text = _break_end_tags(name.text)
        if self.archive is not None and self.archive.is_archive:
            root.append(root.makeelement(f"{{{FH_NS}}}archive", nsmap={"fh": FH_NS}))
        return root


class _EntryFixes:
    """feedgen extension called on every finished <item>/<entry>; `entry` is set before rendering."""

    entry: Entry

    def extend_ns(self) -> dict[str, str]:
        return {}

    def extend_rss(self, item: Any) -> Any:
        item.find("title").text = _break_end_tags(item.find("title").text)
        for category in item.iterfind("category"):
            category.text = _break_end_tags(category.text)
        if self.entry.author:
            # RSS <author> must be an e-mail address; dc:creator takes a name.
            creator = item.makeelement(f"{{{DC_NS}}}creator")
            creator.text = self.entry.author
            item.append(creator)
        return item

    def extend_atom(self, entry: Any) -> Any:
        for link in entry.iterfind("link"):  # feedgen issue #135
            link.set("rel", "alternate")
            link.set("type", HTML_TYPE)
        _atom_text(entry.find("title"))
        _atom_text(entry.find("summary"))
        for category in entry.iterfind("category"):
            category.set("label", _break_end_tags(category.get("label")))
        for name in entry.iterfind("author/name"):
            name.text = _break_end_tags(name.text)
        return entry


def _atom_moment(moment: datetime, entry_id: str) -> datetime:
    """A time shifted by a sub-second amount fixed by the entry id.

    Entries edited in one import share `updated_at` to the microsecond, and the W3C validator warns
    on two entries with the same atom:updated. The shift is the same for `published` and `updated`
    and in every document, so an entry never looks edited, nor differs between feeds or builds.
    """
    digest = hashlib.blake2b(entry_id.encode(), digest_size=4).digest()
    return moment.replace(microsecond=0) + timedelta(microseconds=int.from_bytes(digest) % 1_000_000)


def _atom_text(element: Any) -> None:
    """Plain text that looks like markup goes out as escaped HTML, which says exactly what it is."""
    text = element.text or ""
    if _END_TAG.search(text):
        element.text = html.escape(text, quote=False)
        element.set("type", "html")


def _break_end_tags(text: str | None) -> str:
    """RSS cannot say "this title is plain text", so some readers render it as HTML, and validators
    warn on any HTML end tag in it. A word joiner after "<" shows nothing yet is no tag any more."""
    if not text or "</" not in text:
        return text or ""
    return _END_TAG.sub(lambda m: f"<{WORD_JOINER}/{m[1]}>", text)


def _hex_references(document: bytes) -> bytes:
    """Write "&" and "<" as &#x26; and &#x3C; (the RSS Best Practices Profile).

    lxml writes &amp; and &lt;, which mean the same, but the W3C validator takes plain text holding
    "&amp;" or "<" on a line without hexadecimal references as possibly double-escaped HTML.
    Every &amp; and &lt; lxml writes is an escape (a literal "&" would itself be escaped), so the
    substitution is exact, in text and attributes alike.
    """
    return document.replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;")
