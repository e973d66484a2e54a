"""Residents' subscription pages: sign up (double opt-in), confirm, preferences, unsubscribe.

Every form carries a CSRF token, except the RFC 8058 one-click unsubscribe POST, which mail
providers send with no cookie and no context, and the confirmation POST, whose link is its own
proof. Opening a link changes nothing: mail security gateways (Safe Links and the like) open every
link of a mail, so confirming and unsubscribing take a button press (a POST). Subscribing shows
the same page whether or not the address is known, so the form cannot be used to find out who
subscribes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from syndicator import tokens
from syndicator.clock import Clock
from syndicator.config import Settings
from syndicator.mail.composer import MailComposer
from syndicator.mail.subscriptions import (
    InvalidSubscription,
    TooManyRequests,
    confirm,
    from_link,
    own_choice,
    request_subscription,
    requested,
    unsubscribe,
    update_preferences,
)
from syndicator.model import Category, Frequency, Subscriber, SubscriberStatus, reading_order
from syndicator.store import Store
from syndicator.web import csrf
from syndicator.web.ratelimit import RateLimiter

log = logging.getLogger(__name__)

Render = Callable[..., HTMLResponse]
MAX_FORM_BYTES = 16_384
FREQUENCIES = [
    (Frequency.IMMEDIATE.value, "Ngay khi có tin mới"),
    (Frequency.DAILY.value, "Hằng ngày (bản tin buổi sáng)"),
    (Frequency.WEEKLY.value, "Hằng tuần"),
]


def subscription_routes(
    settings: Settings, store: Store, clock: Clock, render: Render, composer: MailComposer | None = None
) -> list[Route]:
    secret = settings.resolved_secret_key()
    composer = composer or MailComposer(settings)
    per_ip = RateLimiter(settings.subscribe.per_ip_per_minute, 60.0)
    secure = settings.base_url.startswith("https://")

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        field, nonce = csrf.token_for(request, secret)
        response = render(name, status=status, csrf_field=csrf.FIELD, csrf_token=field, **context)
        response.headers["cache-control"] = "no-store"
        csrf.set_cookie(response, nonce, secure)
        return response

    def categories() -> list[Any]:
        return [c for c in store.categories(clock()) if c.visible]

    async def form(request: Request) -> FormData | None:
        """The posted form, or None when it is too large or malformed (a 400, never a 500)."""
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
            return None
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return None
        replayed = False

        async def receive() -> dict[str, object]:
            nonlocal replayed
            if replayed:
                return {"type": "http.disconnect"}
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            return await Request(request.scope, receive).form(max_files=0, max_fields=100)
        except Exception:  # noqa: BLE001 - a malformed body is a bad request, never a 500
            return None

    def choices(data: FormData) -> tuple[list[str] | None, str]:
        """Ticked categories win over a "Tất cả" box left ticked (the form starts with it ticked)."""
        known = store.category_names()
        chosen = [str(v) for v in data.getlist("categories") if str(v) in known]
        frequency = str(data.get("frequency") or Frequency.DAILY.value)
        if frequency not in {f.value for f in Frequency}:
            raise InvalidSubscription(
                "Vui lòng chọn tần suất nhận tin: ngay khi có tin, hằng ngày hoặc hằng tuần."
            )
        return (chosen or None), frequency

    async def subscribe(request: Request) -> Response:
        cats = await run_in_threadpool(categories)
        if request.method == "GET":
            preselected = request.query_params.getlist("c")
            return page(
                request,
                "pages/subscribe.html",
                categories=cats,
                chosen=set(preselected),
                everything=not preselected,
                frequency=Frequency.DAILY.value,
                frequencies=FREQUENCIES,
                email="",
                error=None,
            )
        client = request.client.host if request.client else "unknown"
        wait = per_ip.check(client)
        if wait:
            return _too_many(page, request, wait)
        data = await form(request)
        if data is None:
            return _bad_request(page, request)
        if not csrf.valid(request, secret, _text(data.get(csrf.FIELD))):
            return _forbidden(page, request)
        email = _text(data.get("email"))[:400]
        chosen: list[str] | None = [str(v) for v in data.getlist("categories")] or None
        frequency = _text(data.get("frequency")) or Frequency.DAILY.value
        try:
            chosen, frequency = await run_in_threadpool(choices, data)
            await run_in_threadpool(request_subscription, store, composer, email, chosen, frequency, clock())
        except InvalidSubscription as error:
            return page(
                request,
                "pages/subscribe.html",
                status=422,
                categories=cats,
                chosen=set(chosen or []),
                everything=chosen is None,
                frequency=frequency,
                frequencies=FREQUENCIES,
                email=email,
                error=str(error),
            )
        except TooManyRequests as error:
            return _too_many(page, request, error.retry_after)
        return page(request, "pages/subscribe_sent.html")

    async def confirm_link(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            if request.method == "GET":
                wanted = requested(secret, token, clock())
                return page(
                    request,
                    "pages/confirm.html",
                    wanted=wanted,
                    names=await _names(wanted.categories),
                )
            client = request.client.host if request.client else None
            person = await run_in_threadpool(confirm, store, secret, token, clock(), client)
        except tokens.BadToken as error:
            expired = "expired" in str(error)
            return page(
                request,
                "pages/error.html",
                status=410 if expired else 400,
                heading="Liên kết xác nhận đã hết hạn" if expired else "Liên kết không hợp lệ",
                message=(
                    "Vui lòng đăng ký lại để nhận liên kết mới."
                    if expired
                    else "Liên kết này không đúng hoặc đã bị sửa đổi. Vui lòng kiểm tra lại thư xác nhận."
                ),
            )
        return page(request, "pages/confirmed.html", person=person, names=await _names(person.categories))

    async def _names(chosen: frozenset[str] | None) -> list[str]:
        if chosen is None:
            return []
        known = await run_in_threadpool(store.category_names)
        return [c.name for c in reading_order(Category(slug, known.get(slug, slug)) for slug in chosen)]

    async def _person(request: Request, purpose: str) -> Subscriber | None:
        try:
            return await run_in_threadpool(from_link, store, secret, purpose, request.path_params["token"])
        except tokens.BadToken:
            return None

    async def preferences(request: Request) -> Response:
        person = await _person(request, "preferences")
        if person is None:
            return _bad_link(page, request)
        cats = await run_in_threadpool(categories)
        if request.method == "POST":
            data = await form(request)
            if data is None:
                return _bad_request(page, request)
            if not csrf.valid(request, secret, _text(data.get(csrf.FIELD))):
                return _forbidden(page, request)
            if data.get("action") == "unsubscribe":
                await run_in_threadpool(unsubscribe, store, person.id, clock())
                return page(request, "pages/unsubscribed.html", person=person)
            try:
                chosen, frequency = await run_in_threadpool(choices, data)
                person = await run_in_threadpool(
                    update_preferences, store, person, chosen, frequency, clock()
                )
            except InvalidSubscription as error:
                return page(
                    request,
                    "pages/error.html",
                    status=422,
                    heading="Lựa chọn không hợp lệ",
                    message=str(error),
                )
            saved = True
        else:
            saved = False
        # an address the office lists: the form edits the resident's own choice, kept apart until then
        own = await run_in_threadpool(own_choice, store, person)
        shown = own or person
        return page(
            request,
            "pages/preferences.html",
            person=person,
            categories=cats,
            chosen=set(shown.categories or []),
            everything=shown.categories is None,
            frequency=shown.frequency.value,
            frequencies=FREQUENCIES,
            saved=saved,
            active=person.status is SubscriberStatus.CONFIRMED,
            listed=own is not None,
        )

    async def unsubscribe_link(request: Request) -> Response:
        person = await _person(request, "unsubscribe")
        if person is None:
            return _bad_link(page, request)
        if request.method == "GET":
            return page(request, "pages/unsubscribe.html", person=person)
        data = await form(request)
        if data is None:
            return _bad_request(page, request)
        one_click = data.get("List-Unsubscribe") == "One-Click"
        # RFC 8058: the one-click POST comes from the mail provider with no cookie: no CSRF check
        if not one_click and not csrf.valid(request, secret, _text(data.get(csrf.FIELD))):
            return _forbidden(page, request)
        await run_in_threadpool(unsubscribe, store, person.id, clock())
        log.info("unsubscribed subscriber %d (%s)", person.id, "one-click" if one_click else "page")
        return page(request, "pages/unsubscribed.html", person=person)

    return [
        Route("/subscribe", subscribe, methods=["GET", "POST"]),
        Route("/confirm/{token}", confirm_link, methods=["GET", "POST"]),
        Route("/preferences/{token}", preferences, methods=["GET", "POST"]),
        Route("/unsubscribe/{token}", unsubscribe_link, methods=["GET", "POST"]),
    ]


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _too_many(page: Callable[..., HTMLResponse], request: Request, wait: int) -> Response:
    response = page(
        request,
        "pages/error.html",
        status=429,
        heading="Bạn thao tác quá nhanh",
        message=f"Vui lòng thử lại sau {wait} giây.",
    )
    response.headers["retry-after"] = str(wait)
    return response


def _forbidden(page: Callable[..., HTMLResponse], request: Request) -> Response:
    return page(
        request,
        "pages/error.html",
        status=403,
        heading="Phiên làm việc đã hết hạn",
        message="Vui lòng tải lại trang và gửi lại biểu mẫu.",
    )


def _bad_request(page: Callable[..., HTMLResponse], request: Request) -> Response:
    return page(
        request,
        "pages/error.html",
        status=400,
        heading="Yêu cầu không hợp lệ",
        message="Dữ liệu gửi lên không đúng.",
    )


def _bad_link(page: Callable[..., HTMLResponse], request: Request) -> Response:
    return page(
        request,
        "pages/error.html",
        status=400,
        heading="Liên kết không hợp lệ",
        message="Liên kết này không đúng hoặc đã bị sửa đổi. Vui lòng dùng liên kết trong thư gần nhất.",
    )
