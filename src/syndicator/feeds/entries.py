"""What every format shows of one article, worked out once: clean text, absolute URIs, a stable id.

Pure: the same channel and article give the same entry, whatever the clock says.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from syndicator import links
from syndicator.feeds.channel import Channel
from syndicator.model import Article
from syndicator.sanitize import TooCostly, sanitize_html
from syndicator.text import clean_line, html_to_text, nfc, strip_forbidden, truncate

# A feed must carry *some* <updated>/lastBuildDate even with no entries, and it must not be the build
# time (the bytes would change on every build). Validators flag dates before 1990 as implausible.
EMPTY_FEED_UPDATED = datetime(2000, 1, 1, tzinfo=UTC)
SUMMARY_CHARS = 300

# Characters RFC 3986 lets stand in a URI; everything else (spaces, Vietnamese letters...) is %-encoded,
# because the validators check feed URLs against the ASCII-only URI grammar.
_URI_SAFE = ";/?:@&=+$,-_.!~*'()#%[]"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_LINKING_TAG = re.compile(r"""<(?:a|img)\b(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
_URL_ATTRIBUTE = re.compile(r"""(\s(?:href|src)=)"([^"]*)\"""", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Entry:
    id: str  # the article's own page URL: never changes, even when the source URL does
    title: str  # plain text, never empty
    link: str  # the permalink: the source URL, else our article page
    summary: str  # plain text, never empty
    content_html: str  # sanitised, links absolute; may be empty
    author: str | None
    category_term: str  # the slug
    category_label: str  # the display name
    published: datetime  # in the channel's zone
    updated: datetime  # in the channel's zone


def prepare(channel: Channel, article: Article) -> Entry:
    entry = _prepare(channel.base_url, channel.tz, article)
    limit = channel.max_content_bytes
    if limit is not None and len(entry.content_html.encode()) > limit:
        return replace(entry, content_html=_instead_of_content(entry, channel.read_more))
    return entry


def _instead_of_content(entry: Entry, read_more: str) -> str:
    """What an entry too long for a feed carries as content: its summary and the way to the rest.

    The article page (the entry's id) always holds the whole body; a source URL might not any more.
    """
    link = html.escape(entry.id)
    text = html.escape(read_more or entry.id, quote=False)
    return f'<p>{html.escape(entry.summary, quote=False)}</p>\n<p><a href="{link}">{text}</a></p>'


# A build shows each article in three formats, one after the other, and in two channels ("all" and its
# category): preparing it once makes the build about three times cheaper. The key is the article's
# whole content, so an edited article is a new key. Bounded: entries carry the article's body.
@lru_cache(maxsize=1024)
def _prepare(base_url: str, tz: tzinfo, article: Article) -> Entry:
    page = canonical_uri(as_uri(links.article_page(base_url, article.id)))
    link = as_uri(links.permalink(base_url, article))
    if not link.lower().startswith(("http://", "https://")):
        link = page  # a source URL that readers cannot follow is no permalink
    content = _content(article.body_html, link)
    title = clean_line(article.title) or article.id
    summary = clean_line(article.summary)
    if not summary:
        summary = truncate(clean_line(html_to_text(content)), SUMMARY_CHARS) if content else ""
    author = clean_line(article.author or "") or clean_line(article.office or "") or None
    label = clean_line(article.category.name)
    return Entry(
        id=page,
        title=title,
        link=link,
        summary=summary or title,  # Atom warns on a blank summary; RSS needs a description before content
        content_html=content,
        author=author,
        category_term=clean_line(article.category.slug) or label,
        category_label=label or article.category.slug,
        published=article.published_at.astimezone(tz),
        updated=article.updated_at.astimezone(tz),
    )


def _content(body_html: str, link: str) -> str:
    """The body as readers get it: sanitised again, whatever path it took into the store.

    A body stored before these limits (sanitize.py check_cost) may be too costly to parse in time:
    the entry then carries its summary alone rather than stall the build or break the feed.
    """
    if not body_html:
        return ""
    try:
        return absolute_links(sanitize_html(clean_text(body_html)), link)
    except TooCostly:
        return ""


def newest_update(articles: Sequence[Article], fallback: datetime | None) -> datetime:
    """The feed's own updated time: its newest entry's, so that building twice gives the same bytes."""
    return max((a.updated_at for a in articles), default=fallback or EMPTY_FEED_UPDATED)


def clean_text(text: str) -> str:
    """Text for an XML text node: NFC, without the characters XML 1.0 cannot carry (lxml would raise)."""
    return nfc(strip_forbidden(text))


def as_uri(url: str) -> str:
    """An IRI or sloppy URL as an ASCII URI: IDNA host, %-encoded path; valid escapes are kept."""
    url = strip_forbidden(url).strip()
    if url.isascii() and " " not in url:
        return quote(url, safe=_URI_SAFE)
    parts = urlsplit(url)
    netloc = parts.netloc
    if not netloc.isascii() and parts.hostname:
        try:
            host = parts.hostname.encode("idna").decode("ascii")
        except UnicodeError:
            host = quote(parts.hostname, safe="")
        netloc = netloc.lower().replace(parts.hostname, host)
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            quote(parts.path, safe=_URI_SAFE),
            quote(parts.query, safe=_URI_SAFE),
            quote(parts.fragment, safe=_URI_SAFE),
        )
    )


def canonical_uri(uri: str) -> str:
    """Lower-case scheme and host, no default port: identifiers are compared in this form (RFC 3986 6.2)."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    if parts.username is not None:
        host = f"{parts.username}@{host}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, parts.fragment))


def absolute_links(fragment: str, base: str) -> str:
    """Resolve relative href/src against the article's URL: feed readers have no base to resolve them."""

    def attribute(match: re.Match[str]) -> str:
        value = html.unescape(match[2]).strip()
        if value and _SCHEME.match(value):
            return match[0]
        return f'{match[1]}"{html.escape(as_uri(urljoin(base, value)))}"'

    def tag(match: re.Match[str]) -> str:
        return _URL_ATTRIBUTE.sub(attribute, match[0])

    if "href=" not in fragment and "src=" not in fragment:
        return fragment
    return _LINKING_TAG.sub(tag, fragment)
