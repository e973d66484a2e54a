"""The Starlette application: pages for people, the feed server in front, health for operators."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, ExceptionHandler, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from syndicator import i18n, links
from syndicator.i18n import N_, _
from syndicator.mail.composer import MailComposer
from syndicator.model import ARTICLE_ID, Visibility
from syndicator.publish.follower import CacheFollower
from syndicator.store import readership
from syndicator.store.database import Availability, is_unavailable
from syndicator.templating import TEMPLATES, check_templates, environment
from syndicator.web import api, console, forms, subscribe
from syndicator.web import metrics as metrics_text
from syndicator.web.bodies import BodyParser
from syndicator.web.feedserve import RETRY_AFTER, FeedServer
from syndicator.web.ratelimit import RateLimiter
from syndicator.web.state import Services, WebState, page_language, render, web

log = logging.getLogger(__name__)

PAGE_SIZE = 20
# every page template (partials, named _*.html, are loaded by the pages that include them): checked at
# start, so a typo fails the start and not a page view later
PAGE_TEMPLATES = sorted(
    f"pages/{path.name}" for path in (TEMPLATES / "pages").glob("*.html") if not path.name.startswith("_")
)
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'self'; img-src 'self' https: data:; "
     b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
]  # fmt: skip


_CSP = b"content-security-policy"
_OTHER_HEADERS = [(name, value) for name, value in SECURITY_HEADERS if name != _CSP]

FOLLOW_SECONDS = 0.5
FOLLOW_NOTIFIED_SECONDS = 60.0  # when the leader's notices arrive (PostgreSQL): a lost one is a rare case
READERSHIP_FLUSH_SECONDS = 5.0  # how stale /admin/feeds may be; each flush is one transaction
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
# an error page's heading and message, translated where shown (_error_page)
_HTTP_ERRORS = {
    404: (N_("Không tìm thấy trang"), N_("Trang bạn tìm không có hoặc đã được chuyển đi.")),
    410: (N_("Nội dung đã được gỡ bỏ"), N_("Nội dung này không còn được đăng trên cổng thông tin.")),
    405: (N_("Phương thức không được hỗ trợ"), N_("Yêu cầu này không được hỗ trợ.")),
}
_OTHER_ERROR = (N_("Có lỗi xảy ra"), N_("Xin vui lòng thử lại sau."))
_UNAVAILABLE = (N_("Hệ thống tạm thời gián đoạn"), N_("Xin vui lòng thử lại sau ít phút."))
_SERVER_ERROR = (N_("Có lỗi xảy ra"), N_("Hệ thống đang gặp sự cố. Xin vui lòng thử lại sau ít phút."))
_NO_STORE = {"cache-control": "no-store"}


async def home(request: Request) -> Response:
    state = web(request)
    now = state.now()
    articles = await run_in_threadpool(state.store.articles, now, limit=PAGE_SIZE)
    categories = await run_in_threadpool(state.store.categories, now)
    return render(
        request, "pages/home.html", articles=articles, categories=[c for c in categories if c.visible]
    )


async def category(request: Request) -> Response:
    state = web(request)
    slug = request.path_params["slug"]
    page = _page_number(request)
    if not _SLUG.fullmatch(slug):
        raise HTTPException(404)
    now = state.now()
    found = await run_in_threadpool(state.store.category, slug)
    if found is None:
        raise HTTPException(404)
    articles = await run_in_threadpool(
        state.store.articles, now, category=slug, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
    )
    if not articles:
        raise HTTPException(410 if page == 1 else 404)
    return render(
        request,
        "pages/category.html",
        category=found,
        articles=articles[:PAGE_SIZE],
        page=page,
        has_next=len(articles) > PAGE_SIZE,
    )


async def article(request: Request) -> Response:
    state = web(request)
    article_id = request.path_params["id"]
    if not ARTICLE_ID.fullmatch(article_id):
        raise HTTPException(404)
    found = await run_in_threadpool(state.store.article, article_id)
    if found is None:
        raise HTTPException(404)
    visibility = found.visibility(state.now())
    if visibility is Visibility.SCHEDULED:
        raise HTTPException(404)  # not public yet: do not even admit it exists
    if visibility is Visibility.WITHDRAWN:
        raise HTTPException(410)
    return render(
        request,
        "pages/article.html",
        article=found,
        permalink=links.permalink(state.settings.base_url, found),
    )


async def healthz(request: Request) -> Response:
    state = web(request)
    try:
        await run_in_threadpool(state.store.ping)
    except Exception as error:  # noqa: BLE001 - the check reports any database failure
        state.availability.failed(error)
        return JSONResponse(
            {"status": "error", "database": "unavailable"},
            status_code=503,
            headers={"retry-after": RETRY_AFTER, **_NO_STORE},
        )
    return JSONResponse(
        {"status": "ok", "database": "ok", "feeds": len(state.services.cache)}, headers=_NO_STORE
    )


async def metrics(request: Request) -> Response:
    state = web(request)
    text = await run_in_threadpool(
        metrics_text.render, state.store, state.services.cache, state.served, state.now()
    )
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8", headers=_NO_STORE)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return _error_page(request, exc.status_code, _HTTP_ERRORS.get(exc.status_code, _OTHER_ERROR))


async def database_error(request: Request, exc: Exception) -> Response:
    if not is_unavailable(exc):
        raise exc  # a fault in a query: the 500 handler logs it with its traceback
    web(request).availability.failed(exc)
    headers = {"retry-after": RETRY_AFTER, **_NO_STORE}
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": "the database is unavailable: retry later"}, 503, headers)
    if request.url.path == "/metrics":
        return PlainTextResponse("database unavailable\n", 503, headers)
    response = _error_page(request, 503, _UNAVAILABLE)
    response.headers.update(headers)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return _error_page(request, 500, _SERVER_ERROR)


def _error_page(request: Request, status: int, words: tuple[str, str]) -> Response:
    """The error page in the language of the page asked for (its heading and message msgids)."""
    heading, message = words
    with i18n.using(page_language(request)):
        heading, message = _(heading), _(message)
    return render(request, "pages/error.html", status=status, heading=heading, message=message)


ROUTES = [
    Route("/", home),
    Route("/c/{slug}", category),
    Route("/a/{id}", article),
    Route("/healthz", healthz),
    Route("/metrics", metrics),
    *api.ROUTES,
    *subscribe.ROUTES,
    *console.ROUTES,
]
EXCEPTION_HANDLERS: Mapping[Any, ExceptionHandler] = {
    HTTPException: http_error,
    DBAPIError: database_error,
    PoolTimeout: database_error,
    500: server_error,
}


def create_app(services: Services) -> ASGIApp:
    """The pages behind the feed server; what the handlers share goes to `app.state.web`."""
    settings = services.settings
    availability = Availability.of(services.store.engine)
    app = Starlette(
        routes=[*ROUTES, Mount("/static", StaticFiles(directory=TEMPLATES / "static"), name="static")],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=_lifespan,
    )
    # the proxy headers matter to the pages (the client's address for the rate limits, the scheme of
    # links), never to a feed poll, which reads neither: applied behind the feed server they cost a
    # poll nothing, where uvicorn's own (off in serve) parses the peer's address on every request
    # (uvicorn types ASGI apps with its own TypedDicts, Starlette with plain mappings: the same calls)
    pages = ProxyHeadersMiddleware(cast(Any, SecurityHeaders(app)), trusted_hosts=settings.trusted_proxies)
    feeds = FeedServer(
        cast(ASGIApp, pages),
        services.cache,
        max_age=settings.feeds.cache_max_age,
        hub=settings.websub_hub,
        base_url=settings.base_url,
        archive=lambda key, page: services.builder.archive_page(key, page, services.clock()),
        availability=availability,
        language=settings.site.catalogue,
        tally=services.readership,
    )
    app.state.web = web_state(services, availability, feeds.served)
    return feeds


def web_state(
    services: Services, availability: Availability, served: Mapping[int, int] | None = None
) -> WebState:
    """What the handlers share, made once: an app of a few of the routes (a test) sets it alone."""
    settings = services.settings
    templates = environment(settings.tz, category_names=settings.category_display_name)
    check_templates(templates, [*PAGE_TEMPLATES, *console.TEMPLATES])
    return WebState(
        services=services,
        templates=templates,
        shared={"site": settings.site, "base_url": settings.base_url, "subscribe_url": "/subscribe"},
        availability=availability,
        bodies=BodyParser(settings.tz, api.api_limiter()),
        secret=settings.resolved_secret_key(),
        per_ip=RateLimiter(settings.subscribe.per_ip_per_minute, 60.0),
        composer=MailComposer(settings),
        served=served if served is not None else {},
    )


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """While serving, keep the feed cache in step with what the leader renders and write the polls
    counted; at the end, stop the API's parsing process."""
    state = app.state.web
    assert isinstance(state, WebState)
    try:
        async with _following(state.services, state.availability), _counting(state.services):
            yield
    finally:
        await run_in_threadpool(state.bodies.close)


@asynccontextmanager
async def _counting(services: Services) -> AsyncIterator[None]:
    """Polls counted here are written every few seconds, by this process's scheduler when it runs one
    (jobs.readership), else (`serve --no-scheduler`) from here; and once more at shutdown, best effort."""
    task = None
    if not services.readership.flushed_by_scheduler:
        task = asyncio.create_task(_flushing(services))
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
        await run_in_threadpool(_flush_at_exit, services)


async def _flushing(services: Services) -> None:
    while True:
        await asyncio.sleep(READERSHIP_FLUSH_SECONDS)
        try:
            await run_in_threadpool(_flush, services)
        except Exception as error:  # noqa: BLE001 - the counts wait for the next flush
            if is_unavailable(error):
                Availability.of(services.store.engine).failed(error)
            else:
                log.error("feed readership not written: %s: %s", type(error).__name__, error)


def _flush(services: Services) -> int:
    return readership.flush(services.store, services.readership, services.clock(), services.settings.tz)


def _flush_at_exit(services: Services) -> None:
    try:
        _flush(services)
    except Exception as error:  # noqa: BLE001 - shutting down: what cannot be written is lost
        log.warning("feed readership not written at shutdown: %s", " ".join(str(error).split())[:300])


@asynccontextmanager
async def _following(services: Services, availability: Availability) -> AsyncIterator[None]:
    follower = services.follower
    if follower is None:
        yield
        return
    services.store.listen()  # on PostgreSQL, the leader's notice wakes the follower at its commit
    task = asyncio.create_task(_follow(follower, services, availability))
    try:
        yield
    finally:
        task.cancel()


async def _follow(follower: CacheFollower, services: Services, availability: Availability) -> None:
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()

    def wake() -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits any more
            loop.call_soon_threadsafe(woken.set)

    unsubscribe = services.store.feeds_changed.subscribe(wake)
    try:
        while True:
            woken.clear()
            try:
                await run_in_threadpool(follower.sync, services.clock())
            except Exception as error:  # noqa: BLE001 - one line; the next look tries again
                if is_unavailable(error):
                    availability.failed(error)  # one line for the outage, not two a second
                else:
                    log.error("feed cache follow failed: %s: %s", type(error).__name__, error)
            # while notices arrive, the look on its own is only the fallback for a lost one
            every = FOLLOW_NOTIFIED_SECONDS if services.store.notified else FOLLOW_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), every)
    finally:
        unsubscribe()


def _page_number(request: Request) -> int:
    number = forms.page_number(request.query_params.get("trang", "1"))
    if number is None:
        raise HTTPException(404)
    return number


class SecurityHeaders:
    """Adds the security headers to every page (the feed server sends its own, prebuilt). An answer
    with a policy of its own (the console's sandboxed mail preview) keeps it alone: a second policy
    would be enforced as well, and the site's forbids the mail's inline styles."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                own_policy = any(name.lower() == _CSP for name, _ in headers)
                message["headers"] = [*headers, *(_OTHER_HEADERS if own_policy else SECURITY_HEADERS)]
            await send(message)

        await self.app(scope, receive, with_headers)
