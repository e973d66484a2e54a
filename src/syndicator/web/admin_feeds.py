"""The console's readership pages (/admin/feeds) and /admin/api/readership.

Per feed document: polls and the share answered 304, the client families seen, and the subscribers
aggregators report (the latest report of each, summed). Counts only, for any role: nothing here is
personal data (store/readership.py keeps no address and no User-Agent).

Counts are kept per day of the site's calendar, so a window is whole days: "24 hours" is the days
the last 24 hours fall in (yesterday and today), 7 and 30 days end today.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from babel.numbers import format_decimal, format_percent
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syndicator import dates
from syndicator.accounts import Role, Signed
from syndicator.i18n import N_
from syndicator.store import Store
from syndicator.store import readership as stored
from syndicator.store.readership import FeedReadership
from syndicator.web.admin import PATHS, PREFIX, guarded, page, problem
from syndicator.web.problems import Problem
from syndicator.web.state import page_language, web

WINDOWS = {"1": 2, "7": 7, "30": 30}  # ?ngay= -> days of the calendar read (1: the last 24 hours)
DEFAULT_WINDOW = "1"
WINDOW_NAMES = {"1": N_("24 giờ qua"), "7": N_("7 ngày qua"), "30": N_("30 ngày qua")}
BAD_WINDOW = Problem(
    400,
    N_("Khoảng thời gian không hợp lệ"),
    N_("Chỉ có thể xem 24 giờ, 7 ngày hoặc 30 ngày qua."),
    code="bad window",
)


def window(now: datetime, tz: tzinfo, days: int) -> tuple[date, date]:
    """The first and last day (site's calendar) of a window of `days` days ending today."""
    today = now.astimezone(tz).date()
    return today - timedelta(days=days - 1), today


def _read(store: Store, first: date, last: date) -> list[FeedReadership]:
    with store.reading() as conn:
        return stored.feeds(conn, first, last)


@guarded(Role.VIEWER)
async def feeds(request: Request, who: Signed, data: FormData | None) -> Response:
    state = web(request)
    chosen = request.query_params.get("ngay", DEFAULT_WINDOW)
    if chosen not in WINDOWS:
        return problem(request, BAD_WINDOW, who)
    first, last = window(state.now(), state.settings.tz, WINDOWS[chosen])
    found = await run_in_threadpool(_read, state.store, first, last)
    lang = page_language(request)
    span = dates.span(first, last, lang)
    return page(
        request,
        "admin/feeds.html",
        who,
        feeds=found,
        chosen=chosen,
        windows=WINDOW_NAMES,
        first=span[0],
        last=span[1],
        number=lambda n: format_decimal(n, locale=lang),
        share=lambda part, whole: format_percent(part / whole if whole else 0, locale=lang),
    )


@guarded(Role.VIEWER)
async def api_readership(request: Request, who: Signed, data: FormData | None) -> Response:
    """The last 24 hours (the days they fall in), as `/admin/feeds` shows them, for scripts."""
    state = web(request)
    first, last = window(state.now(), state.settings.tz, WINDOWS[DEFAULT_WINDOW])
    found = await run_in_threadpool(_read, state.store, first, last)
    return JSONResponse({"feeds": [as_json(f) for f in found]})


def as_json(feed: FeedReadership) -> dict[str, Any]:
    return {
        "feed": feed.feed,
        "polls": feed.polls,
        "not_modified": feed.not_modified,
        "reported_subscribers": feed.reported_subscribers,
        "clients": [
            {"client": c.client, "reported_subscribers": c.reported_subscribers, "polls": c.polls}
            for c in feed.clients
        ],
    }


ROUTES: list[BaseRoute] = [
    Route(PATHS["feeds"].removeprefix(PREFIX), feeds),
    Route(PATHS["api_readership"].removeprefix(PREFIX), api_readership),
]
TEMPLATES: list[str] = ["admin/feeds.html"]
