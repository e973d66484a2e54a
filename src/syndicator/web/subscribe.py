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
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from syndicator import i18n, tokens
from syndicator.i18n import N_, _, ngettext
from syndicator.mail.choices import InvalidSubscription, own_choice, unsubscribe
from syndicator.mail.optin import (
    TooManyRequests,
    confirm,
    from_link,
    request_subscription,
    requested,
    update_preferences,
)
from syndicator.model import Category, CategoryCount, Frequency, Subscriber, SubscriberStatus, reading_order
from syndicator.store import Store
from syndicator.web import csrf, forms
from syndicator.web.problems import Problem
from syndicator.web.state import WebState, page_language, render, web

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 16_384
MAX_FORM_FIELDS = 100
FREQUENCIES = [  # labels translated where shown (`_frequencies`)
    (Frequency.IMMEDIATE.value, N_("Ngay khi có tin mới")),
    (Frequency.DAILY.value, N_("Hằng ngày (bản tin buổi sáng)")),
    (Frequency.WEEKLY.value, N_("Hằng tuần")),
]


TOO_FAST = Problem(429, N_("Bạn thao tác quá nhanh"), "")  # problem(..., wait=): `please_wait`
FORBIDDEN = Problem(403, N_("Phiên làm việc đã hết hạn"), N_("Vui lòng tải lại trang và gửi lại biểu mẫu."))
BAD_REQUEST = Problem(400, N_("Yêu cầu không hợp lệ"), N_("Dữ liệu gửi lên không đúng."))
BAD_LINK = Problem(
    400,
    N_("Liên kết không hợp lệ"),
    N_("Liên kết này không đúng hoặc đã bị sửa đổi. Vui lòng dùng liên kết trong thư gần nhất."),
)
BAD_CONFIRM_LINK = Problem(
    400,
    N_("Liên kết không hợp lệ"),
    N_("Liên kết này không đúng hoặc đã bị sửa đổi. Vui lòng kiểm tra lại thư xác nhận."),
)
EXPIRED_CONFIRM_LINK = Problem(
    410, N_("Liên kết xác nhận đã hết hạn"), N_("Vui lòng đăng ký lại để nhận liên kết mới.")
)
BAD_CHOICE = Problem(422, N_("Lựa chọn không hợp lệ"), "")  # problem(..., reason=)


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page with a form: a CSRF field (and its cookie when the browser has none), never cached."""
    state = web(request)
    field, nonce = csrf.token_for(request, state.secret)
    response = render(request, name, status=status, csrf_field=csrf.FIELD, csrf_token=field, **context)
    response.headers["cache-control"] = "no-store"
    csrf.set_cookie(response, nonce, state.secure)
    return response


def please_wait(wait: int) -> str:
    """ "Try again in 1 second" / "in 5 seconds": a plural, in the language being made."""
    return ngettext("Vui lòng thử lại sau %(wait)s giây.", "Vui lòng thử lại sau %(wait)s giây.", wait) % {
        "wait": wait
    }


def problem(
    request: Request, what: Problem, *, wait: int | None = None, reason: str | None = None
) -> Response:
    """The error page of `what`, its message `please_wait(wait)` (with Retry-After) when `wait` is
    given, `reason` (already in the page's language) when that is, otherwise the problem's own."""
    with i18n.using(page_language(request)):
        heading = _(what.heading)
        if wait is not None:
            message = please_wait(wait)
        elif reason is not None:
            message = reason
        else:
            message = _(what.message)
    response = page(request, "pages/error.html", status=what.status, heading=heading, message=message)
    if wait is not None:
        response.headers["retry-after"] = str(wait)
    return response


async def subscribe(request: Request) -> Response:
    state = web(request)
    cats = await run_in_threadpool(_categories, state)
    if request.method == "GET":
        preselected = request.query_params.getlist("c")
        return _subscribe_page(request, cats, preselected or None, Frequency.DAILY.value)
    client = forms.client(request)
    wait = state.per_ip.check(client)
    if wait:
        return problem(request, TOO_FAST, wait=wait)
    data = await _checked_form(request, state)
    if isinstance(data, Response):
        return data
    email = forms.text(data.get("email"))[:400]
    chosen: list[str] | None = [str(v) for v in data.getlist("categories")] or None
    frequency = forms.text(data.get("frequency")) or Frequency.DAILY.value
    lang = page_language(request)  # the page's: the confirmation mail and what follows speak it
    try:
        chosen, frequency = await run_in_threadpool(_choices, state.store, data, lang)
        await run_in_threadpool(
            request_subscription, state.store, state.composer, email, chosen, frequency, state.now(), lang
        )
    except InvalidSubscription as error:
        return _subscribe_page(request, cats, chosen, frequency, email=email, error=str(error))
    except TooManyRequests as error:
        return problem(request, TOO_FAST, wait=error.retry_after)
    return page(request, "pages/subscribe_sent.html")


def _subscribe_page(
    request: Request,
    cats: list[CategoryCount],
    chosen: list[str] | None,
    frequency: str,
    *,
    email: str = "",
    error: str | None = None,
) -> Response:
    """The form: blank, or (422) as the resident filled it in, with what was wrong."""
    return page(
        request,
        "pages/subscribe.html",
        status=200 if error is None else 422,
        categories=cats,
        chosen=set(chosen or []),
        everything=chosen is None,
        frequency=frequency,
        frequencies=FREQUENCIES,
        email=email,
        error=error,
    )


async def confirm_link(request: Request) -> Response:
    state = web(request)
    token = request.path_params["token"]
    try:
        if request.method == "GET":
            wanted = requested(state.secret, token, state.now())
            names = await _names(request, wanted.categories)
            return page(request, "pages/confirm.html", wanted=wanted, names=names)
        client = request.client.host if request.client else None
        person = await run_in_threadpool(confirm, state.store, state.secret, token, state.now(), client)
    except tokens.BadToken as error:
        return problem(request, EXPIRED_CONFIRM_LINK if "expired" in str(error) else BAD_CONFIRM_LINK)
    names = await _names(request, person.categories)
    return page(request, "pages/confirmed.html", person=person, names=names)


async def preferences(request: Request) -> Response:
    state = web(request)
    person = await _person(request, state, "preferences")
    if person is None:
        return problem(request, BAD_LINK)
    saved = request.method == "POST"
    if saved:
        data = await _checked_form(request, state)
        if isinstance(data, Response):
            return data
        if data.get("action") == "unsubscribe":
            await run_in_threadpool(unsubscribe, state.store, person.id, state.now())
            return page(request, "pages/unsubscribed.html", person=person)
        try:
            chosen, frequency = await run_in_threadpool(_choices, state.store, data, page_language(request))
            person = await run_in_threadpool(
                update_preferences,
                state.store,
                person,
                chosen,
                frequency,
                state.now(),
                forms.text(data.get("language")) or None,
            )
        except InvalidSubscription as error:
            return problem(request, BAD_CHOICE, reason=str(error))
    return await _preferences_page(request, state, person, saved=saved)


async def _preferences_page(
    request: Request, state: WebState, person: Subscriber, *, saved: bool
) -> Response:
    cats = await run_in_threadpool(_categories, state)
    # an address the office lists: the form edits the resident's own choice, kept apart until then
    own = await run_in_threadpool(own_choice, state.store, person)
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
        language=person.language,
        languages=i18n.ENDONYMS,
        saved=saved,
        active=person.status is SubscriberStatus.CONFIRMED,
        listed=own is not None,
    )


async def unsubscribe_link(request: Request) -> Response:
    state = web(request)
    person = await _person(request, state, "unsubscribe")
    if person is None:
        return problem(request, BAD_LINK)
    if request.method == "GET":
        return page(request, "pages/unsubscribe.html", person=person)
    data = await forms.bounded_form(request, MAX_FORM_BYTES, MAX_FORM_FIELDS)
    if data is None:
        return problem(request, BAD_REQUEST)
    one_click = data.get("List-Unsubscribe") == "One-Click"
    # RFC 8058: the one-click POST comes from the mail provider with no cookie: no CSRF check
    if not one_click and not csrf.valid(request, state.secret, forms.text(data.get(csrf.FIELD))):
        return problem(request, FORBIDDEN)
    await run_in_threadpool(unsubscribe, state.store, person.id, state.now())
    log.info("unsubscribed subscriber %d (%s)", person.id, "one-click" if one_click else "page")
    return page(request, "pages/unsubscribed.html", person=person)


ROUTES = [
    Route("/subscribe", subscribe, methods=["GET", "POST"]),
    Route("/confirm/{token}", confirm_link, methods=["GET", "POST"]),
    Route("/preferences/{token}", preferences, methods=["GET", "POST"]),
    Route("/unsubscribe/{token}", unsubscribe_link, methods=["GET", "POST"]),
]


def _categories(state: WebState) -> list[CategoryCount]:
    return [c for c in state.store.categories(state.now()) if c.visible]


async def _checked_form(request: Request, state: WebState) -> FormData | Response:
    """The posted form with a valid CSRF field, or the error page saying what was wrong with it."""
    data = await forms.bounded_form(request, MAX_FORM_BYTES, MAX_FORM_FIELDS)
    if data is None:
        return problem(request, BAD_REQUEST)
    if not csrf.valid(request, state.secret, forms.text(data.get(csrf.FIELD))):
        return problem(request, FORBIDDEN)
    return data


def _choices(store: Store, data: FormData, lang: str) -> tuple[list[str] | None, str]:
    """Ticked categories win over a "Tất cả" box left ticked (the form starts with it ticked).
    What is wrong is said in `lang`, the page's."""
    known = store.category_names()
    chosen = [str(v) for v in data.getlist("categories") if str(v) in known]
    frequency = str(data.get("frequency") or Frequency.DAILY.value)
    if frequency not in {f.value for f in Frequency}:
        with i18n.using(lang):
            raise InvalidSubscription(
                _("Vui lòng chọn tần suất nhận tin: ngay khi có tin, hằng ngày hoặc hằng tuần.")
            )
    if data.get("language") is not None and forms.text(data.get("language")) not in i18n.LANGUAGES:
        with i18n.using(lang):
            raise InvalidSubscription(_("Vui lòng chọn ngôn ngữ của thư: tiếng Việt hoặc tiếng Anh."))
    return (chosen or None), frequency


async def _names(request: Request, chosen: frozenset[str] | None) -> list[str]:
    """The names of the chosen categories as the page's language shows them, in reading order."""
    if chosen is None:
        return []
    state = web(request)
    known = await run_in_threadpool(state.store.category_names)
    lang = page_language(request)
    shown = (
        Category(slug, state.settings.category_display_name(slug, known.get(slug, slug), lang))
        for slug in chosen
    )
    return [c.name for c in reading_order(shown)]


async def _person(request: Request, state: WebState, purpose: str) -> Subscriber | None:
    try:
        return await run_in_threadpool(
            from_link, state.store, state.secret, purpose, request.path_params["token"]
        )
    except tokens.BadToken:
        return None
