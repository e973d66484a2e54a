"""The console's dashboard (/admin/): charts of the last 7, 30 or 90 days (`?ngay=`), today's figures and
what needs attention; the charts as SVG images (/admin/charts/<name>.svg); /admin/api/summary (counts
by state, as /metrics has them) and /admin/api/dashboard (the series). All from one read,
store/dashboard.gather."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from babel.dates import format_skeleton
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syndicator import dates, i18n
from syndicator.accounts import Role, Signed
from syndicator.i18n import N_
from syndicator.mail import officials
from syndicator.model import DropFile, OutboxStatus, SubscriberStatus, Visibility
from syndicator.store import dashboard as store_dashboard
from syndicator.store.dashboard import MAIL_OUTCOMES, Charted, Dashboard
from syndicator.store.tallies import Tallies, tallies
from syndicator.web import charts
from syndicator.web.admin import PATHS as PATHS_CORE
from syndicator.web.admin import PREFIX, guarded, page, problem
from syndicator.web.charts import Chart, Series
from syndicator.web.problems import Problem
from syndicator.web.state import WebState, page_language, web

PERIODS = (7, 30, 90)  # the days a dashboard may span (?ngay=)
DEFAULT_PERIOD = 30
CHARTS = ("subscribers", "mails", "polls", "articles")
PATHS = {
    "chart": f"{PREFIX}/charts/{{name}}.svg",
    "api_dashboard": f"{PREFIX}/api/dashboard",
}
BAD_PERIOD = Problem(
    400,
    N_("Khoảng thời gian không hợp lệ"),
    N_("Chỉ xem được 7, 30 hoặc 90 ngày gần nhất."),
    code="ngay must be 7, 30 or 90",
)
NO_CHART = Problem(404, N_("Không có biểu đồ này"), N_("Biểu đồ bạn tìm không có."), code="no such chart")

SUBSCRIBER_STATUSES = {
    SubscriberStatus.CONFIRMED: N_("Đã xác nhận"),
    SubscriberStatus.PENDING: N_("Chờ xác nhận"),
    SubscriberStatus.UNSUBSCRIBED: N_("Đã hủy đăng ký"),
    SubscriberStatus.BOUNCED: N_("Địa chỉ hỏng (thư bị trả lại)"),
}
MAIL_NAMES = {
    "sent": N_("Đã gửi"),
    "retried": N_("Phải gửi lại"),
    "failed": N_("Gửi không được"),
    "bounced": N_("Bị trả lại"),
}
POLL_NAMES = (N_("Trả nội dung (200)"), N_("Không đổi (304)"))
TITLES = {
    "subscribers": N_("Người đăng ký theo trạng thái"),
    "mails": N_("Thư mỗi ngày theo kết quả"),
    "polls": N_("Lượt đọc nguồn tin mỗi ngày"),
    "articles": N_("Bài viết mỗi tuần theo chuyên mục"),
}
ALTS = {
    "subscribers": N_(
        "Biểu đồ đường: số người đăng ký theo từng trạng thái vào cuối mỗi ngày, từ %(first)s đến "
        "%(last)s. Bảng số liệu ở ngay dưới."
    ),
    "mails": N_(
        "Biểu đồ đường: số thư mỗi ngày đã gửi, phải gửi lại, gửi không được và bị trả lại, từ "
        "%(first)s đến %(last)s. Bảng số liệu ở ngay dưới."
    ),
    "polls": N_(
        "Biểu đồ cột: lượt đọc nguồn tin mỗi ngày, phần trả nội dung và phần không đổi, từ %(first)s "
        "đến %(last)s. Bảng số liệu ở ngay dưới."
    ),
    "articles": N_(
        "Biểu đồ cột: số bài viết đăng mỗi tuần, chia theo chuyên mục, từ %(first)s đến %(last)s. "
        "Bảng số liệu ở ngay dưới."
    ),
}
ARTICLE_STATES = {
    Visibility.PUBLISHED: N_("Đang đăng"),
    Visibility.SCHEDULED: N_("Hẹn giờ đăng"),
    Visibility.WITHDRAWN: N_("Đã gỡ"),
}


def period(request: Request) -> int | None:
    """?ngay=: one of PERIODS (30 when absent), None for anything else."""
    raw = request.query_params.get("ngay", str(DEFAULT_PERIOD))
    return int(raw) if raw in {str(p) for p in PERIODS} else None


def _gather(state: WebState, days: int) -> tuple[Dashboard, dict[str, str]]:
    now = state.now()
    span = dates.days_ending(now, days, state.settings.tz)
    with state.store.reading() as conn:
        found = store_dashboard.gather(conn, now, span)
    return found, state.store.category_names()


async def dashboard_of(request: Request, days: int) -> tuple[Dashboard, dict[str, str]]:
    return await run_in_threadpool(_gather, web(request), days)


def _series(state: WebState, days: int) -> tuple[Charted, dict[str, str]]:
    now = state.now()
    span = dates.days_ending(now, days, state.settings.tz)
    with state.store.reading() as conn:
        found = store_dashboard.series(conn, now, span)
    return found, state.store.category_names()


# -- the charts, in the language being made -------------------------------------------------------------


def _said(msgid: str) -> str:
    """A constant's msgid (marked with N_) in the language being made."""
    return i18n.gettext(msgid)


def _short(day: Any, lang: str) -> str:
    """A day on an axis: "29 thg 11", "29 Nov" (Babel's skeleton, the month named so no reader
    takes 11/12 for 12/11)."""
    return str(format_skeleton("MMMd", day, locale=dates.locale_of(lang)))


def charts_of(found: Charted, lang: str, name_of: Callable[[str], str]) -> dict[str, Chart]:
    """Every chart of the dashboard, its words in `lang` (called inside i18n.using(lang))."""
    days = [d.day for d in found.days]
    labels = tuple(_short(d, lang) for d in days)
    rows = tuple(dates.day(d, lang) for d in days)
    first, last = dates.span(days[0], days[-1], lang)

    def alt(key: str) -> str:
        return _said(ALTS[key]) % {"first": first, "last": last}

    made = [
        Chart("subscribers", _said(TITLES["subscribers"]), alt("subscribers"), labels, rows, tuple(
            Series(_said(name), tuple(day.get(status, 0) for day in found.subscribers))
            for status, name in SUBSCRIBER_STATUSES.items()
        )),
        Chart("mails", _said(TITLES["mails"]), alt("mails"), labels, rows, tuple(
            Series(_said(MAIL_NAMES[key]), tuple(day.get(key, 0) for day in found.mails))
            for key in MAIL_OUTCOMES
        )),
        Chart("polls", _said(TITLES["polls"]), alt("polls"), labels, rows, (
            Series(_said(POLL_NAMES[0]), tuple(p.full for p in found.polls)),
            Series(_said(POLL_NAMES[1]), tuple(p.not_modified for p in found.polls)),
        ), bars=True),
        _weekly(found, lang, name_of, alt("articles")),
    ]  # fmt: skip
    return {chart.key: chart for chart in made}


def _weekly(found: Charted, lang: str, name_of: Callable[[str], str], alt: str) -> Chart:
    """Articles per category per week: a week's row named by its days."""
    slugs = sorted({slug for week in found.weeks for slug in week.articles}, key=name_of)
    rows = []
    for week in found.weeks:
        first, last = dates.span(week.first, week.last, lang)
        rows.append(i18n.gettext("Từ %(first)s đến %(last)s") % {"first": first, "last": last})
    return Chart(
        "articles",
        _said(TITLES["articles"]),
        alt,
        tuple(_short(w.first, lang) for w in found.weeks),
        tuple(rows),
        tuple(Series(name_of(slug), tuple(w.articles.get(slug, 0) for w in found.weeks)) for slug in slugs),
        bars=True,
    )


def _namer(state: WebState, stored: dict[str, str], lang: str) -> Callable[[str], str]:
    def name_of(slug: str) -> str:
        return state.settings.category_display_name(slug, stored.get(slug, slug), lang)

    return name_of


# -- handlers -------------------------------------------------------------------------------------------


@guarded(Role.VIEWER)
async def home(request: Request, who: Signed, data: FormData | None) -> Response:
    days = period(request)
    if days is None:
        return problem(request, BAD_PERIOD, who)
    state = web(request)
    found, stored = await dashboard_of(request, days)
    lang = page_language(request)
    with i18n.using(lang):
        made = charts_of(found, lang, _namer(state, stored, lang))
    sources = {key: PATHS["chart"].format(name=key) + f"?ngay={days}" for key in made}
    admin = who.account.role.sees_personal_data
    officials_problem = await run_in_threadpool(_officials_problem, state)
    return page(
        request,
        "admin/home.html",
        who,
        dashboard=found,
        charts=[made[key] for key in CHARTS],
        sources=sources,
        days=days,
        periods=PERIODS,
        subscriber_statuses=SUBSCRIBER_STATUSES,
        article_states=ARTICLE_STATES,
        bounces_over_days=store_dashboard.BOUNCES_OVER.days,
        failed_files=[_failed_file(state, f, admin) for f in found.attention.failed_files],
        officials_broken=officials_problem is not None,
        officials_problem=officials_problem if admin else None,
        bounced_link=f"{PATHS_CORE['mail']}?status={OutboxStatus.FAILED.value}",
    )


def _failed_file(state: WebState, found: DropFile, admin: bool) -> tuple[str, str | None]:
    """A drop-folder file that did not import: its name (relative to the drop folder, as stored) and,
    for an admin only, the importer's reason (English, written for whoever fixes the file) without the
    server's path to the drop folder. Others see the translated summary alone."""
    if not admin or not found.error:
        return found.path, None
    folder = str(state.settings.articles_dir)
    return found.path, found.error.replace(folder.rstrip(os.sep) + os.sep, "")


def _officials_problem(state: WebState) -> str | None:
    """Why the officials file cannot be applied now (mail/officials.file_problem), or None."""
    settings = state.settings
    return officials.file_problem(state.store, settings.digest.officials_file, settings.categories)


@guarded(Role.VIEWER)
async def chart(request: Request, who: Signed, data: FormData | None) -> Response:
    name = request.path_params["name"]
    if name not in CHARTS:
        return problem(request, NO_CHART, who)
    days = period(request)
    if days is None:
        return problem(request, BAD_PERIOD, who)
    state = web(request)
    found, stored = await run_in_threadpool(_series, state, days)  # one image: its series, not the page
    lang = page_language(request)
    with i18n.using(lang):
        made = charts_of(found, lang, _namer(state, stored, lang))[name]
    body = await run_in_threadpool(charts.svg, made)
    return Response(
        body,
        media_type="image/svg+xml",
        headers={"content-language": lang, "vary": "Accept-Language, Cookie"},
    )


@guarded(Role.VIEWER)
async def api_summary(request: Request, who: Signed, data: FormData | None) -> Response:
    """Counts by state now, as /metrics has them (store/tallies.py): every state a key."""
    state = web(request)
    found = await run_in_threadpool(_tallies, state)
    return JSONResponse(
        {
            "subscribers": {s.value: found.subscribers.get(s, 0) for s in SubscriberStatus},
            "mails": {s.value: found.outbox.get(s, 0) for s in OutboxStatus},
            "articles": {s.value: found.articles.get(s, 0) for s in Visibility},
        }
    )


def _tallies(state: WebState) -> Tallies:
    with state.store.reading() as conn:
        return tallies(conn, state.now())


@guarded(Role.VIEWER)
async def api_dashboard(request: Request, who: Signed, data: FormData | None) -> Response:
    """The dashboard's series for scripts: days in the site's calendar, oldest first."""
    days = period(request)
    if days is None:
        return problem(request, BAD_PERIOD, who)
    found, _ = await dashboard_of(request, days)
    attention = found.attention
    officials_problem = await run_in_threadpool(_officials_problem, web(request))
    return JSONResponse(
        {
            "days": [d.day.isoformat() for d in found.days],
            "subscribers": [{s.value: n for s, n in day.items()} for day in found.subscribers],
            "mails": list(found.mails),
            "polls": [{"full": p.full, "not_modified": p.not_modified} for p in found.polls],
            "articles": list(found.articles),
            "weeks": [
                {"first": w.first.isoformat(), "last": w.last.isoformat(), "articles": w.articles}
                for w in found.weeks
            ],
            "attention": {
                "bounces": attention.bounces,
                "stuck_mail": attention.stuck_mail,
                "failing_jobs": [job.job for job in attention.failing_jobs],
                "failed_files": attention.failed_files_total,
                "officials_file_broken": officials_problem is not None,
            },
        }
    )


ROUTES: list[BaseRoute] = [
    Route("/", home),
    Route("/charts/{name}.svg", chart),
    Route("/api/summary", api_summary),
    Route("/api/dashboard", api_dashboard),
]
TEMPLATES = ["admin/home.html"]
