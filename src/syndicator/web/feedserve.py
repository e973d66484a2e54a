"""The feed poll path: plain ASGI in front of the app, answering from memory with prebuilt headers.

An aggregator's poll is a dict lookup, a header comparison and one send: no database, no feedgen, no
framework routing. This is the one place that decides caching headers for feeds (ETag, 304, gzip).
Its few words (a 404, 405, 410 or 503 in plain text) are in the site's language, as the feeds are:
translated once at start, never negotiated per request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from email.utils import parsedate_to_datetime

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from syndicator import i18n, links
from syndicator.i18n import N_, _
from syndicator.publish.cache import FeedCache, RenderedFeed
from syndicator.readership import Tally
from syndicator.store.database import Availability, is_unavailable

Headers = list[tuple[bytes, bytes]]
ArchiveLookup = Callable[[str, int], RenderedFeed | None]

_ARCHIVE = re.compile(r"^/feeds/([a-z0-9-]+)/archive/([1-9][0-9]{0,8})\.atom$")
_GZIP_SUFFIX = '-gz"'
RETRY_AFTER = "30"  # seconds, while the database is away: a restart or failover usually takes about that
# the plain-text answers by status, translated once (FeedServer.__init__)
_WORDS = {
    404: N_("Không có nguồn tin này."),
    405: N_("Chỉ hỗ trợ GET và HEAD."),
    410: N_("Chuyên mục này không còn tin bài nào."),
    503: N_("Tạm thời không truy cập được, xin thử lại sau."),
}


class _Prepared:
    """Header lists for one document, built once per rendered version and reused by every poll."""

    __slots__ = ("doc", "etag_gzip", "etags", "full", "full_gzip", "not_modified", "not_modified_gzip")

    def __init__(self, doc: RenderedFeed, common: Headers) -> None:
        self.doc = doc
        self.etag_gzip = doc.etag[:-1] + _GZIP_SUFFIX
        # what an aggregator sends back as it was given: answered 304 without parsing the header
        self.etags = (doc.etag.encode(), self.etag_gzip.encode())
        base = [*common]
        if doc.last_modified_http:
            base.append((b"last-modified", doc.last_modified_http.encode()))
        plain = [*base, (b"etag", doc.etag.encode())]
        gzipped = [*base, (b"etag", self.etag_gzip.encode())]
        self.not_modified = plain
        self.not_modified_gzip = gzipped
        self.full = [
            *plain,
            (b"content-type", doc.media_type.encode()),
            (b"content-length", str(len(doc.body)).encode()),
        ]
        self.full_gzip = [
            *gzipped,
            (b"content-type", doc.media_type.encode()),
            (b"content-encoding", b"gzip"),
            (b"content-length", str(len(doc.body_gzip)).encode()),
        ]


class FeedServer:
    """ASGI middleware: serves /feeds/* and /feeds.opml from the cache, passes the rest to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        cache: FeedCache,
        *,
        max_age: int,
        hub: str | None,
        base_url: str,
        archive: ArchiveLookup,
        availability: Availability | None = None,
        language: str = i18n.SOURCE,
        tally: Tally | None = None,
    ) -> None:
        """`language`: the catalogue of the site's language, which the feeds are written in. `tally`
        counts the polls of each subscription feed by client family (none: nothing counted)."""
        self.app = app
        self.cache = cache
        self.hub = hub
        self.base_url = base_url
        self.archive = archive
        self.availability = availability
        self.cache_control = f"public, max-age={max_age}".encode()
        self._prepared: dict[str, _Prepared] = {}
        with i18n.using(language):
            self._words = {status: _(message) for status, message in _WORDS.items()}
        self._language = [(b"content-language", language.encode())]
        # responses by status, for /metrics (a dict increment is all a poll pays for it)
        self.served: dict[int, int] = {200: 0, 304: 0, 404: 0, 405: 0, 410: 0}
        self.tally = tally

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path.startswith("/feeds/") or path == "/feeds.opml"):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            self.served[405] += 1
            await self._plain(send, 405, [(b"allow", b"GET, HEAD")])
            return
        doc = self.cache.get(path)
        # readership counts the subscription feeds, the documents aggregators poll: not the OPML list
        # (read once to subscribe) nor archive pages (history, read once by a reader filling gaps), so
        # its keys are the cache's few documents, never what a client makes up
        counted = doc is not None and self.tally is not None and path != links.OPML_PATH
        if doc is None:
            try:
                doc = await self._archive_page(path)
            except Exception as error:
                if not is_unavailable(error):
                    raise
                if self.availability is not None:
                    self.availability.failed(error)
                # feeds in memory still answer; an archive page not rendered yet needs the database
                await self._plain(send, 503, [(b"retry-after", RETRY_AFTER.encode())], cache=b"no-store")
                return
        if doc is None:
            if self.cache.is_gone(path):
                self.served[410] += 1
                await self._plain(send, 410)
            else:
                self.served[404] += 1
                await self._plain(send, 404)
            return
        await self._send(doc, scope, send, method == "HEAD", counted)

    async def _plain(
        self,
        send: Send,
        status: int,
        extra: Sequence[tuple[bytes, bytes]] = (),
        *,
        cache: bytes = b"public, max-age=60",
    ) -> None:
        await _plain(send, status, self._words[status], [*self._language, *extra], cache=cache)

    async def _archive_page(self, path: str) -> RenderedFeed | None:
        match = _ARCHIVE.match(path)
        if match is None:
            return None
        # Archive pages are rarely read and fixed once full: rendered on demand, then memoised.
        return await run_in_threadpool(self.archive, match[1], int(match[2]))

    def _prepare(self, doc: RenderedFeed) -> _Prepared:
        prepared = self._prepared.get(doc.path)
        if prepared is None or prepared.doc is not doc:
            common: Headers = [
                (b"cache-control", self.cache_control),
                (b"vary", b"Accept-Encoding"),
                (b"x-content-type-options", b"nosniff"),
            ]
            if self.hub:
                link = f'<{self.hub}>; rel="hub", <{links.absolute(self.base_url, doc.path)}>; rel="self"'
                common.append((b"link", link.encode()))
            prepared = _Prepared(doc, common)
            self._prepared[doc.path] = prepared
        return prepared

    async def _send(self, doc: RenderedFeed, scope: Scope, send: Send, head: bool, counted: bool) -> None:
        prepared = self._prepare(doc)
        if_none_match = if_modified_since = accept_encoding = user_agent = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value
            elif name == b"if-modified-since":
                if_modified_since = value
            elif name == b"accept-encoding":
                accept_encoding = value
            elif name == b"user-agent":
                user_agent = value
        gzip_ok = accept_encoding is not None and _accepts_gzip(accept_encoding)
        if (if_none_match is not None and if_none_match in prepared.etags) or _not_modified(
            doc, if_none_match, if_modified_since
        ):
            headers = prepared.not_modified_gzip if gzip_ok else prepared.not_modified
            self.served[304] += 1
            if counted and self.tally is not None:
                self.tally.poll(doc.path, user_agent, True)
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = prepared.full_gzip if gzip_ok else prepared.full
        body = b"" if head else (doc.body_gzip if gzip_ok else doc.body)
        self.served[200] += 1
        if counted and self.tally is not None:
            self.tally.poll(doc.path, user_agent, False)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


# Accept-Encoding values seen, parsed: clients send a handful of distinct ones, again and again; short
# values only and a bounded number, so that made-up headers cannot grow it
_ACCEPTS_GZIP: dict[bytes, bool] = {}
_ACCEPTS_KEPT, _ACCEPTS_BYTES = 256, 128


def _accepts_gzip(value: bytes) -> bool:
    known = _ACCEPTS_GZIP.get(value)
    if known is None:
        known = _parse_accepts_gzip(value)
        if len(value) <= _ACCEPTS_BYTES and len(_ACCEPTS_GZIP) < _ACCEPTS_KEPT:
            _ACCEPTS_GZIP[value] = known
    return known


def _parse_accepts_gzip(value: bytes) -> bool:
    for part in value.split(b","):
        token, _, params = part.partition(b";")
        if token.strip().lower() not in (b"gzip", b"x-gzip", b"*"):
            continue
        quality = 1.0
        for param in params.split(b";"):
            key, _, number = param.strip().partition(b"=")
            if key.lower() == b"q":
                try:
                    quality = float(number)
                except ValueError:
                    quality = 0.0
        return quality > 0
    return False


def _not_modified(doc: RenderedFeed, if_none_match: bytes | None, if_modified_since: bytes | None) -> bool:
    if if_none_match is not None:
        # RFC 9110 13.1.2: If-None-Match wins over If-Modified-Since; weak comparison applies to GET.
        wanted = doc.etag[1:-1]
        for tag in if_none_match.decode("latin-1").split(","):
            tag = tag.strip()
            if tag == "*":
                return True
            tag = tag.removeprefix("W/").strip('"')
            if tag.removesuffix("-gz") == wanted:
                return True
        return False
    if if_modified_since is not None and doc.last_modified is not None:
        try:
            since = parsedate_to_datetime(if_modified_since.decode("latin-1"))
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            return False
        return doc.last_modified.replace(microsecond=0) <= since
    return False


async def _plain(
    send: Send, status: int, text: str, extra: Headers, *, cache: bytes = b"public, max-age=60"
) -> None:
    body = (text + "\n").encode()
    headers: Headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", cache),
        (b"x-content-type-options", b"nosniff"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
