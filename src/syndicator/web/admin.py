"""The office's console under /admin: login, logout, who is signed in, accounts and the audit log.

Every route but the login form goes through one guard, `guarded(role)`: no live session is a redirect
to the login page (a 401 for /admin/api/), a role below the route's is a 403, and a POST without the
right CSRF field is a 403; in each case the handler never runs, so nothing changes. Sessions are
server-side (access.py): the cookie holds a random id whose hash the store keeps. The cookie is
HttpOnly and SameSite=Strict, on path /admin; on an https site it is also Secure and `__Host-`
prefixed (which requires path /). Every answer under /admin is `Cache-Control: no-store` (`NoStore`),
errors included, besides the security headers every page has (web/app.py). CSRF fields are the
console's own (web/csrf.console_jar): bound to the session, or for the login form to no session yet,
with a `__Host-` cookie on https; a login sets a new nonce. A public page's field is refused here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syndicator import access
from syndicator.accounts import Role, Signed
from syndicator.i18n import N_
from syndicator.web import auditfilter, csrf, forms
from syndicator.web.problems import Problem
from syndicator.web.state import render, web

log = logging.getLogger(__name__)

PREFIX = "/admin"
COOKIE = "syndicator_admin"
SECURE_COOKIE = "__Host-syndicator_admin"  # RFC 6265bis: Secure, no Domain, Path=/
MAX_FORM_BYTES = 16_384
MAX_FORM_FIELDS = 300  # a subscriber's choices post one field per category ticked: a portal may have many
AUDIT_PAGE = 50
# where a login may return to: our own pages only, with their filters (a query of plain and
# percent-encoded characters: nothing a header or a path could be bent with)
_NEXT = re.compile(r"/admin/[a-z0-9/_-]{0,100}(?:\?[A-Za-z0-9_.~=&%+-]{1,300})?")
PATHS = {  # the console's sections; each section module keeps the paths of its own detail pages
    "home": f"{PREFIX}/",
    "feeds": f"{PREFIX}/feeds",
    "subscribers": f"{PREFIX}/subscribers",
    "officials": f"{PREFIX}/officials",
    "mail": f"{PREFIX}/mail",
    "digests": f"{PREFIX}/digests",
    "articles": f"{PREFIX}/articles",
    "jobs": f"{PREFIX}/jobs",
    "api_summary": f"{PREFIX}/api/summary",
    "api_readership": f"{PREFIX}/api/readership",
    "login": f"{PREFIX}/login",
    "logout": f"{PREFIX}/logout",
    "audit": f"{PREFIX}/audit",
    "accounts": f"{PREFIX}/accounts",
    "account_role": f"{PREFIX}/accounts/role",
    "account_sessions": f"{PREFIX}/accounts/sessions",
    "me": f"{PREFIX}/api/me",
}
TEMPLATES = [  # the core's; web/console.py adds each section's
    "admin/login.html",
    "admin/audit.html",
    "admin/accounts.html",
    "admin/error.html",
]
ROLE_NAMES = {
    Role.VIEWER: N_("Người xem"),
    Role.EDITOR: N_("Biên tập viên"),
    Role.ADMIN: N_("Quản trị viên"),
}

ACTION_NAMES = {
    "login": N_("Đăng nhập"),
    "login.failed": N_("Đăng nhập sai"),
    "login.throttled": N_("Tạm khóa đăng nhập"),
    "logout": N_("Đăng xuất"),
    "account.add": N_("Thêm tài khoản"),
    "account.password": N_("Đổi mật khẩu"),
    "account.remove": N_("Xóa tài khoản"),
    "account.role": N_("Đổi vai trò"),
    "account.sessions_ended": N_("Đăng xuất khỏi mọi nơi"),
    "subscriber.add": N_("Thêm người đăng ký"),
    "subscriber.update": N_("Đổi lựa chọn của người đăng ký"),
    "subscriber.remove": N_("Xóa người đăng ký"),
    "subscriber.unsubscribe": N_("Hủy đăng ký giúp người đăng ký"),
    "subscriber.import": N_("Nhập danh sách người đăng ký"),
    "subscriber.export": N_("Xuất danh sách người đăng ký"),
    "subscriber.list": N_("Xem danh sách người đăng ký"),
    "subscriber.view": N_("Xem địa chỉ người đăng ký"),
    "mail.retry": N_("Gửi lại thư ngay"),
    "mail.cancel": N_("Hủy thư"),
    "article.withdraw": N_("Gỡ bài viết"),
    "article.restore": N_("Đăng lại bài viết đã gỡ"),
}


FORBIDDEN = Problem(
    403, N_("Không được phép"), N_("Tài khoản của bạn không có quyền làm việc này."), code="forbidden"
)
STALE_FORM = Problem(
    403, N_("Phiên biểu mẫu đã hết hạn"), N_("Vui lòng tải lại trang và gửi lại biểu mẫu."), code="csrf"
)
BAD_REQUEST = Problem(400, N_("Yêu cầu không hợp lệ"), N_("Dữ liệu gửi lên không đúng."), code="bad request")
NOT_FOUND = Problem(
    404, N_("Không tìm thấy trang"), N_("Trang bạn tìm không có trong trang quản trị."), code="not found"
)
NOT_ALLOWED = Problem(
    405, N_("Phương thức không được hỗ trợ"), N_("Yêu cầu này không được hỗ trợ."), code="method not allowed"
)
NO_ACCOUNT = Problem(
    404, N_("Không có tài khoản này"), N_("Tài khoản đã bị xóa hoặc chưa từng có."), code="no such account"
)
BAD_AUDIT_FILTER = Problem(
    400,
    N_("Bộ lọc không hợp lệ"),
    N_(
        "Hãy chọn thao tác trong danh sách, ghi tên người thực hiện không quá 100 ký tự, và ngày theo "
        "dạng năm-tháng-ngày (ngày đầu không sau ngày cuối)."
    ),
    code="bad filter",
)
OWN_ROLE = Problem(
    409,
    N_("Không thể tự hạ quyền"),
    N_("Bạn không thể bỏ quyền quản trị của chính mình. Hãy nhờ một quản trị viên khác."),
    code="own role",
)

Handler = Callable[[Request, Signed, FormData | None], Awaitable[Response]]


# -- responses ------------------------------------------------------------------------------------------


def cookie_name(request: Request) -> str:
    return SECURE_COOKIE if web(request).secure else COOKIE


def _session_cookie(request: Request) -> dict[str, Any]:
    """The session cookie's name and attributes: one set for the login that sets it and the logout
    that deletes it (a browser keeps a cookie deleted under other attributes)."""
    secure = web(request).secure
    return {
        "key": cookie_name(request),
        "path": "/" if secure else PREFIX,
        "secure": secure,
        "httponly": True,
        "samesite": "strict",
    }


def page(request: Request, name: str, who: Signed | None, status: int = 200, **context: Any) -> HTMLResponse:
    """A console page: a CSRF field for its forms, bound to the session (to PRE_SESSION without one),
    and the console's CSRF cookie when the browser has none."""
    state = web(request)
    jar = csrf.console_jar(state.secure)
    bound_to = who.digest if who is not None else csrf.PRE_SESSION
    field, nonce = csrf.token_for(request, state.secret, jar=jar, bound_to=bound_to)
    response = render(
        request,
        name,
        status=status,
        csrf_field=csrf.FIELD,
        csrf_token=field,
        who=who,
        paths=PATHS,
        role_names=ROLE_NAMES,
        Role=Role,
        **context,
    )
    csrf.set_cookie(response, nonce, state.secure, jar=jar)
    return response


def problem(request: Request, what: Problem, who: Signed | None = None) -> Response:
    if request.url.path.startswith(f"{PREFIX}/api/"):
        return JSONResponse({"error": what.code}, status_code=what.status)
    return page(request, "admin/error.html", who, status=what.status, problem=what)


# -- the guard ------------------------------------------------------------------------------------------


def guarded(needed: Role) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """The one way into a console route: a live session, a role at least `needed`, and on a POST a
    valid CSRF field; otherwise an answer and the handler never runs."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            state = web(request)
            who = await run_in_threadpool(
                access.signed_in, state.store, request.cookies.get(cookie_name(request)), state.now()
            )
            if who is None:
                return _unauthenticated(request)
            if not who.account.role.allows(needed):
                return problem(request, FORBIDDEN, who)
            data = None
            if request.method == "POST":
                data = await forms.bounded_form(request, MAX_FORM_BYTES, MAX_FORM_FIELDS)
                if data is None:
                    return problem(request, BAD_REQUEST, who)
                jar = csrf.console_jar(state.secure)
                field = forms.text(data.get(csrf.FIELD))
                if not csrf.valid(request, state.secret, field, jar=jar, bound_to=who.digest):
                    return problem(request, STALE_FORM, who)
            return await handler(request, who, data)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        endpoint.needed = needed  # type: ignore[attr-defined]  # read by the tests of the guard
        return endpoint

    return wrap


def _unauthenticated(request: Request) -> Response:
    if request.url.path.startswith(f"{PREFIX}/api/"):
        return JSONResponse({"error": "not signed in"}, status_code=401)
    asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = asked if request.method == "GET" and _NEXT.fullmatch(asked) else None
    login = PATHS["login"] + (
        f"?next={quote(target, safe='/')}" if target and target != PATHS["home"] else ""
    )
    return RedirectResponse(login, status_code=303)


# -- login and logout -----------------------------------------------------------------------------------


async def login(request: Request) -> Response:
    state = web(request)
    next_path = request.query_params.get("next", "")
    next_path = next_path if _NEXT.fullmatch(next_path) else PATHS["home"]
    if request.method == "GET":
        who = await run_in_threadpool(
            access.signed_in, state.store, request.cookies.get(cookie_name(request)), state.now()
        )
        if who is not None:
            return RedirectResponse(next_path, status_code=303)
        return page(
            request, "admin/login.html", None, next_path=next_path, username="", refused=False, wait_minutes=0
        )
    data = await forms.bounded_form(request, MAX_FORM_BYTES, MAX_FORM_FIELDS)
    if data is None:
        return problem(request, BAD_REQUEST)
    jar = csrf.console_jar(state.secure)
    if not csrf.valid(
        request, state.secret, forms.text(data.get(csrf.FIELD)), jar=jar, bound_to=csrf.PRE_SESSION
    ):
        return problem(request, STALE_FORM)
    username = forms.text(data.get("username"))[:200]
    result = await run_in_threadpool(
        access.login,
        state.store,
        state.secret,
        username,
        forms.text(data.get("password")),
        forms.client(request),
        state.now(),
    )
    if isinstance(result, access.Throttled):
        response = page(
            request, "admin/login.html", None, status=429, next_path=next_path, username=username,
            refused=False, wait_minutes=max(1, -(-result.retry_after // 60)),
        )  # fmt: skip
        response.headers["retry-after"] = str(result.retry_after)
        return response
    if isinstance(result, access.Refused):
        return page(
            request,
            "admin/login.html",
            None,
            next_path=next_path,
            username=username,
            refused=True,
            wait_minutes=0,
        )
    return await _signed_in(request, result, next_path)


async def _signed_in(request: Request, result: access.LoggedIn, next_path: str) -> Response:
    """The new session's cookie (a session the browser had before is ended: never reused), and a new
    CSRF cookie, so nothing set before the login is worth anything after it."""
    state = web(request)
    before = await run_in_threadpool(
        access.signed_in, state.store, request.cookies.get(cookie_name(request)), state.now()
    )
    if before is not None:
        await run_in_threadpool(access.logout, state.store, before, state.now(), forms.client(request))
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        value=result.session_id, max_age=int(access.LIFETIME.total_seconds()), **_session_cookie(request)
    )
    csrf.set_cookie(response, csrf.new_nonce(), state.secure, jar=csrf.console_jar(state.secure))
    return response


@guarded(Role.VIEWER)
async def logout(request: Request, who: Signed, data: FormData | None) -> Response:
    state = web(request)
    await run_in_threadpool(access.logout, state.store, who, state.now(), forms.client(request))
    response = RedirectResponse(PATHS["login"], status_code=303)
    response.delete_cookie(**_session_cookie(request))
    return response


# -- pages ----------------------------------------------------------------------------------------------


@guarded(Role.ADMIN)
async def audit(request: Request, who: Signed, data: FormData | None) -> Response:
    """The log newest first, narrowed by action, actor and days of the site's calendar (auditfilter)."""
    number = forms.page_number(request.query_params.get("trang", "1"))
    if number is None:
        return problem(request, NOT_FOUND, who)
    state = web(request)
    asked = auditfilter.parse(request.query_params, state.settings.tz, ACTION_NAMES)
    if asked is None:
        return problem(request, BAD_AUDIT_FILTER, who)
    entries, total = await run_in_threadpool(
        access.audit, state.store, limit=AUDIT_PAGE, offset=(number - 1) * AUDIT_PAGE, chosen=asked.chosen
    )
    return page(
        request,
        "admin/audit.html",
        who,
        entries=entries,
        total=total,
        page_number=number,
        has_next=number * AUDIT_PAGE < total,
        action_names=ACTION_NAMES,
        kept=asked.kept,
        filtered=any(asked.kept.values()),
        page_link=lambda n: asked.link(PATHS["audit"], n),
    )


@guarded(Role.ADMIN)
async def accounts(request: Request, who: Signed, data: FormData | None) -> Response:
    found = await run_in_threadpool(access.accounts, web(request).store)
    return page(request, "admin/accounts.html", who, accounts=found, roles=list(Role), done=None)


@guarded(Role.ADMIN)
async def account_role(request: Request, who: Signed, data: FormData | None) -> Response:
    assert data is not None
    state = web(request)
    username, raw_role = forms.text(data.get("username")), forms.text(data.get("role"))
    if raw_role not in {r.value for r in Role}:
        return problem(request, BAD_REQUEST, who)
    try:
        await run_in_threadpool(
            access.set_role,
            state.store,
            username,
            Role(raw_role),
            state.now(),
            who.account,
            forms.client(request),
        )
    except access.OwnRole:
        return problem(request, OWN_ROLE, who)
    except (access.UnknownAccount, access.InvalidAccount):
        return problem(request, NO_ACCOUNT, who)
    return RedirectResponse(PATHS["accounts"], status_code=303)


@guarded(Role.ADMIN)
async def account_sessions(request: Request, who: Signed, data: FormData | None) -> Response:
    assert data is not None
    state = web(request)
    try:
        await run_in_threadpool(
            access.end_sessions,
            state.store,
            forms.text(data.get("username")),
            state.now(),
            who.account.username,
            forms.client(request),
        )
    except (access.UnknownAccount, access.InvalidAccount):
        return problem(request, NO_ACCOUNT, who)
    return RedirectResponse(PATHS["accounts"], status_code=303)


@guarded(Role.VIEWER)
async def me(request: Request, who: Signed, data: FormData | None) -> Response:
    """Who is signed in, for scripts: the same session and roles as the pages."""
    return JSONResponse(
        {
            "username": who.account.username,
            "role": who.account.role.value,
            "session": {
                "created_at": who.created_at.isoformat(),
                "expires_at": (who.created_at + access.LIFETIME).isoformat(),
            },
        }
    )


async def to_home(request: Request) -> Response:
    return RedirectResponse(PATHS["home"], status_code=308, headers={"cache-control": "no-store"})


# -- the mount ------------------------------------------------------------------------------------------


class NoStore:
    """`Cache-Control: no-store` on every answer under /admin, and the console's own error page for a
    404 or 405 there (Starlette's would be the public page, cacheable)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                message["headers"] = [*headers, (b"cache-control", b"no-store")]
            await send(message)

        try:
            await self.app(scope, receive, no_store)
        except HTTPException as error:
            if error.status_code not in (404, 405):
                raise
            request = Request(scope, receive)
            response = problem(request, NOT_FOUND if error.status_code == 404 else NOT_ALLOWED)
            await response(scope, receive, no_store)


CORE_ROUTES = [  # web/console.py mounts these with each section's routes
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/audit", audit),
    Route("/accounts", accounts),
    Route("/accounts/role", account_role, methods=["POST"]),
    Route("/accounts/sessions", account_sessions, methods=["POST"]),
    Route("/api/me", me),
]
PUBLIC = {"/login"}  # the one route outside the guard
