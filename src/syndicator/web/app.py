"""The Starlette application: pages for people, the feed server in front, health for operators."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from syndicator import links
from syndicator.clock import Clock
from syndicator.config import Settings
from syndicator.model import ARTICLE_ID, Visibility
from syndicator.publish.builder import FeedBuilder
from syndicator.publish.cache import FeedCache
from syndicator.publish.follower import CacheFollower
from syndicator.store import Store
from syndicator.store.database import Availability, is_unavailable
from syndicator.templating import TEMPLATES, check_templates, environment
from syndicator.web import metrics as metrics_text
from syndicator.web.api import api_limiter, api_routes
from syndicator.web.bodies import BodyParser
from syndicator.web.feedserve import RETRY_AFTER, FeedServer
from syndicator.web.subscribe import subscription_routes

log = logging.getLogger(__name__)

PAGE_SIZE = 20
PAGE_TEMPLATES = [
    "pages/home.html",
    "pages/category.html",
    "pages/article.html",
    "pages/error.html",
    "pages/subscribe.html",
    "pages/subscribe_sent.html",
    "pages/confirmed.html",
    "pages/preferences.html",
    "pages/unsubscribe.html",
    "pages/unsubscribed.html",
]
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'self'; img-src 'self' https: data:; "
     b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
]  # fmt: skip


@dataclass(frozen=True)
class Services:
    """What the web layer is given; tests build it with their own store and clock."""

    settings: Settings
    store: Store
    cache: FeedCache
    builder: FeedBuilder
    clock: Clock
    follower: CacheFollower | None = None  # set where another process may render the feeds


FOLLOW_SECONDS = 0.5
MAX_PAGE = 100_000
_PAGE = re.compile(r"[1-9][0-9]{0,5}")  # ASCII digits only: str.isdigit() takes "²", which int() refuses
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")


def create_app(services: Services) -> ASGIApp:
    settings, store, clock = services.settings, services.store, services.clock
    availability = Availability.of(store.engine)
    templates = environment(settings.tz, settings.site.language)
    check_templates(templates, PAGE_TEMPLATES)
    shared = {"site": settings.site, "base_url": settings.base_url, "subscribe_url": "/subscribe"}
    bodies = BodyParser(settings.tz, api_limiter())

    def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(**shared, **context)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "public, max-age=60"})

    async def home(request: Request) -> Response:
        now = clock()
        articles = await run_in_threadpool(store.articles, now, limit=PAGE_SIZE)
        categories = await run_in_threadpool(store.categories, now)
        return render("pages/home.html", articles=articles, categories=[c for c in categories if c.visible])

    async def category(request: Request) -> Response:
        slug = request.path_params["slug"]
        page = _page_number(request)
        if not _SLUG.fullmatch(slug):
            raise HTTPException(404)
        now = clock()
        found = await run_in_threadpool(store.category, slug)
        if found is None:
            raise HTTPException(404)
        articles = await run_in_threadpool(
            store.articles, now, category=slug, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
        )
        if not articles:
            if page == 1:
                raise HTTPException(410)
            raise HTTPException(404)
        return render(
            "pages/category.html",
            category=found,
            articles=articles[:PAGE_SIZE],
            page=page,
            has_next=len(articles) > PAGE_SIZE,
        )

    async def article(request: Request) -> Response:
        article_id = request.path_params["id"]
        if not ARTICLE_ID.fullmatch(article_id):
            raise HTTPException(404)
        found = await run_in_threadpool(store.article, article_id)
        if found is None:
            raise HTTPException(404)
        visibility = found.visibility(clock())
        if visibility is Visibility.SCHEDULED:
            raise HTTPException(404)  # not public yet: do not even admit it exists
        if visibility is Visibility.WITHDRAWN:
            raise HTTPException(410)
        return render(
            "pages/article.html", article=found, permalink=links.permalink(settings.base_url, found)
        )

    async def healthz(request: Request) -> Response:
        try:
            await run_in_threadpool(store.ping)
        except Exception as error:  # noqa: BLE001 - the check reports any database failure
            availability.failed(error)
            return JSONResponse(
                {"status": "error", "database": "unavailable"},
                status_code=503,
                headers={"retry-after": RETRY_AFTER, "cache-control": "no-store"},
            )
        return JSONResponse(
            {"status": "ok", "database": "ok", "feeds": len(services.cache)},
            headers={"cache-control": "no-store"},
        )

    async def metrics(request: Request) -> Response:
        text = await run_in_threadpool(metrics_text.render, store, services.cache, feeds.served, clock())
        return PlainTextResponse(
            text, media_type="text/plain; version=0.0.4; charset=utf-8", headers={"cache-control": "no-store"}
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        messages = {
            404: ("Không tìm thấy trang", "Trang bạn tìm không có hoặc đã được chuyển đi."),
            410: ("Nội dung đã được gỡ bỏ", "Nội dung này không còn được đăng trên cổng thông tin."),
            405: ("Phương thức không được hỗ trợ", "Yêu cầu này không được hỗ trợ."),
        }
        heading, message = messages.get(exc.status_code, ("Có lỗi xảy ra", "Xin vui lòng thử lại sau."))
        return render("pages/error.html", status=exc.status_code, heading=heading, message=message)

    async def database_error(request: Request, exc: Exception) -> Response:
        if not is_unavailable(exc):
            raise exc  # a fault in a query: the 500 handler logs it with its traceback
        availability.failed(exc)
        headers = {"retry-after": RETRY_AFTER, "cache-control": "no-store"}
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "the database is unavailable: retry later"}, 503, headers)
        if request.url.path == "/metrics":
            return PlainTextResponse("database unavailable\n", 503, headers)
        response = render(
            "pages/error.html",
            status=503,
            heading="Hệ thống tạm thời gián đoạn",
            message="Xin vui lòng thử lại sau ít phút.",
        )
        response.headers.update(headers)
        return response

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path, exc_info=exc)
        return render(
            "pages/error.html",
            status=500,
            heading="Có lỗi xảy ra",
            message="Hệ thống đang gặp sự cố. Xin vui lòng thử lại sau ít phút.",
        )

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/c/{slug}", category),
            Route("/a/{id}", article),
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            *api_routes(settings, store, clock, bodies),
            *subscription_routes(settings, store, clock, render),
            Mount("/static", StaticFiles(directory=TEMPLATES / "static"), name="static"),
        ],
        exception_handlers={
            HTTPException: http_error,
            DBAPIError: database_error,
            PoolTimeout: database_error,
            500: server_error,
        },
        lifespan=_follow(services, availability, bodies),
    )
    feeds = FeedServer(
        SecurityHeaders(app),
        services.cache,
        max_age=settings.feeds.cache_max_age,
        hub=settings.websub_hub,
        base_url=settings.base_url,
        archive=lambda key, page: services.builder.archive_page(key, page, clock()),
        availability=availability,
    )
    return feeds


def _follow(services: Services, availability: Availability, bodies: BodyParser) -> Any:
    """Lifespan: while serving, keep the feed cache in step with what the leader renders; at the end,
    stop the API's parsing process."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with _following(services, availability):
                yield
        finally:
            await run_in_threadpool(bodies.close)

    return lifespan


def _following(services: Services, availability: Availability) -> Any:
    @asynccontextmanager
    async def following() -> AsyncIterator[None]:
        follower = services.follower
        if follower is None:
            yield
            return

        async def loop() -> None:
            while True:
                try:
                    await run_in_threadpool(follower.sync, services.clock())
                except Exception as error:  # noqa: BLE001 - one line; the next look tries again
                    if is_unavailable(error):
                        availability.failed(error)  # one line for the outage, not two a second
                    else:
                        log.error("feed cache follow failed: %s: %s", type(error).__name__, error)
                await asyncio.sleep(FOLLOW_SECONDS)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()

    return following()


def _page_number(request: Request) -> int:
    raw = request.query_params.get("trang", "1")
    if not _PAGE.fullmatch(raw) or int(raw) > MAX_PAGE:
        raise HTTPException(404)
    return int(raw)


class SecurityHeaders:
    """Adds the security headers to every page (the feed server sends its own, prebuilt)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)
