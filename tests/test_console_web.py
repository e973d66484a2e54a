"""The console over real HTTP (uvicorn on loopback, SQLite and PostgreSQL): login and logout, the session
cookie, the one guard of every route, roles, CSRF, expiry on the injected clock, throttling, login
timing, and the headers of every answer under /admin."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from syndicator import access
from syndicator.accounts import AuditEntry, Role
from syndicator.web import admin, console
from tests.consolekit import (
    CHEAP,
    COOKIE,
    PASSWORD,
    form_token,
    https_console,
    log_in,
    login_form,
    make_account,
    session_cookie,
    signed_in_client,
)
from tests.subscribekit import SECURITY_HEADERS, Site, csrf_field, running_site


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    with running_site(database_url, tmp_path) as running:
        for name, role in (("an", Role.ADMIN), ("bich", Role.EDITOR), ("cuong", Role.VIEWER)):
            make_account(running.store, name, role, running.clock())
        yield running


def _audit(site: Site) -> list[tuple[str, str, str | None]]:
    entries, _ = access.audit(site.store, limit=1000)
    return [(e.actor, e.action, e.target) for e in reversed(entries)]


def _roles(site: Site) -> dict[str, Role]:
    return {a.username: a.role for a in access.accounts(site.store)}


# -- login, the cookie, logout --------------------------------------------------------------------------


def test_login_sets_a_strict_http_only_session_cookie_and_shows_who_is_signed_in(site: Site) -> None:
    client = site.client()
    answer = log_in(client, "An")  # usernames are case-insensitive
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/"
    cookie = next(v for v in answer.headers.get_list("set-cookie") if v.startswith(f"{COOKIE}="))
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/admin"} <= attributes
    assert "secure" not in attributes  # an http site: a Secure cookie would never come back
    home = client.get("/admin/")
    assert home.status_code == 200
    assert "an · Quản trị viên" in home.text
    assert 'action="/admin/logout"' in home.text
    assert home.text.count('<figure class="chart"') == 4  # the dashboard, charts and all
    me = client.get("/admin/api/me").json()
    assert (me["username"], me["role"]) == ("an", "admin")
    assert _audit(site)[-1] == ("an", "login", None)


def test_on_an_https_site_the_cookie_is_secure_and_host_prefixed(database_url: str, tmp_path: Path) -> None:
    with https_console(database_url, tmp_path) as (url, store, clock), httpx.Client(base_url=url) as client:
        make_account(store, "an", Role.ADMIN, clock())
        page = client.get("/admin/login")
        token = csrf_field(page)
        # the test talks http to the server, so the Secure CSRF cookie is sent back by hand
        csrf_cookie = next(
            v for v in page.headers.get_list("set-cookie") if v.startswith("__Host-syndicator_admin_csrf=")
        )
        assert {"secure", "path=/", "httponly", "samesite=strict"} <= {
            part.strip().lower() for part in csrf_cookie.split(";")[1:]
        }
        nonce = page.cookies["__Host-syndicator_admin_csrf"]
        answer = client.post(
            "/admin/login",
            data={"csrf_token": token, "username": "an", "password": PASSWORD},
            headers={"cookie": f"__Host-syndicator_admin_csrf={nonce}"},
        )
        assert answer.status_code == 303, answer.text
        cookie = next(v for v in answer.headers.get_list("set-cookie") if v.startswith("__Host-"))
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/", "secure"} <= attributes
        assert not any(a.startswith("domain") for a in attributes)
        session = cookie.split(";", 1)[0].split("=", 1)[1]
        me = client.get("/admin/api/me", headers={"cookie": f"__Host-syndicator_admin={session}"})
        assert me.json()["username"] == "an"
        # the plain name is not read on an https site: a cookie without the prefix could be planted
        assert (
            client.get("/admin/api/me", headers={"cookie": f"syndicator_admin={session}"}).status_code == 401
        )


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(site: Site) -> None:
    client = site.client()
    wrong = log_in(client, "an", "not the password at all")
    unknown = log_in(client, "nobody-here", "not the password at all")
    assert wrong.status_code == unknown.status_code == 200
    assert session_cookie(wrong) is None and session_cookie(unknown) is None
    message = "Tên đăng nhập hoặc mật khẩu không đúng."
    assert message in wrong.text and message in unknown.text
    assert wrong.text.replace('value="an"', "") == unknown.text.replace('value="nobody-here"', "")
    assert [a for a in _audit(site) if a[1] == "login.failed"] == [
        ("an", "login.failed", None),
        ("?", "login.failed", None),  # what was typed names no account: not written
    ]


def test_logout_ends_the_session_on_the_server(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    session = client.cookies[COOKIE]
    answer = client.post("/admin/logout", data={"csrf_token": form_token(client)})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/login"
    # the old cookie, replayed by someone who kept it, opens nothing
    thief = site.client()
    thief.cookies.set(COOKIE, session)
    assert thief.get("/admin/").status_code == 303
    assert thief.get("/admin/api/me").status_code == 401
    assert _audit(site)[-1] == ("cuong", "logout", None)


def test_a_new_session_id_at_login_never_the_one_the_browser_had(site: Site) -> None:
    """Session fixation: whatever cookie was set before the login (planted, or a session of its own)
    is not the session after it, and the one it had is ended."""
    client = site.client()
    planted = "A" * 43
    client.cookies.set(COOKIE, planted, domain="127.0.0.1", path="/admin")
    first = log_in(client, "an")
    first_id = session_cookie(first)
    assert first_id is not None and first_id != planted
    assert client.cookies[COOKIE] == first_id
    assert client.get("/admin/login").status_code == 303  # signed in: the form sends them on
    # a login form opened in another tab before (its field is bound to no session), posted now
    client.cookies.delete(COOKIE)
    token = login_form(client)
    client.cookies.set(COOKIE, first_id, domain="127.0.0.1", path="/admin")
    second = log_in(client, "an", token=token)
    second_id = session_cookie(second)
    assert second_id not in (None, first_id, planted)
    stale = site.client()
    stale.cookies.set(COOKIE, first_id)
    assert stale.get("/admin/api/me").status_code == 401  # the session before the new login is over
    # the CSRF cookie is new after a login too
    assert "syndicator_admin_csrf=" in " ".join(first.headers.get_list("set-cookie"))


def test_a_login_returns_to_the_page_asked_for_and_never_elsewhere(site: Site) -> None:
    client = site.client()
    asked = client.get("/admin/audit")
    assert asked.status_code == 303
    assert asked.headers["location"] == "/admin/login?next=/admin/audit"
    token = login_form(client)
    data = {"csrf_token": token, "username": "an", "password": PASSWORD}
    assert client.post("/admin/login?next=/admin/audit", data=data).headers["location"] == "/admin/audit"
    other = site.client()
    filtered = other.get("/admin/subscribers", params={"status": "pending", "trang": "2"})
    assert (
        filtered.headers["location"] == "/admin/login?next=/admin/subscribers%3Fstatus%3Dpending%26trang%3D2"
    )
    back = other.post(filtered.headers["location"], data=data | {"csrf_token": login_form(other)})
    assert back.headers["location"] == "/admin/subscribers?status=pending&trang=2"  # the filters kept
    evils = ("/admin/x?a=\r\nSet-Cookie:x", "/admin/x?<script>", "/admin/x#frag", "/admin/x?")
    for evil in ("https://evil.example/", "//evil.example/admin/", "/admin/../x", "/elsewhere", *evils):
        answer = site.client()
        token = login_form(answer)
        data["csrf_token"] = token
        assert answer.post("/admin/login", params={"next": evil}, data=data).headers["location"] == "/admin/"


# -- the guard ------------------------------------------------------------------------------------------


def _guarded_routes() -> list[Route]:
    return [r for r in console.ADMIN_ROUTES if isinstance(r, Route) and r.path not in console.PUBLIC]


def test_every_console_route_but_the_login_goes_through_the_guard() -> None:
    for route in _guarded_routes():
        assert hasattr(route.endpoint, "needed"), route.path
    assert {r.path for r in console.ADMIN_ROUTES if isinstance(r, Route)} - {
        r.path for r in _guarded_routes()
    } == {"/login"}


def test_without_a_session_pages_redirect_to_the_login_and_the_api_is_401(site: Site) -> None:
    client = site.client()
    for route in _guarded_routes():
        path = "/admin" + route.path
        method = "POST" if "POST" in (route.methods or ()) else "GET"
        answer = client.request(method, path, data={"csrf_token": "x"} if method == "POST" else None)
        if path.startswith("/admin/api/"):
            assert answer.status_code == 401, path
            assert answer.json() == {"error": "not signed in"}
        else:
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/admin/login"), path
    assert client.get("/admin").headers["location"] == "/admin/"


@pytest.mark.parametrize("who", ["cuong", "bich"])
def test_a_role_below_admin_tampering_with_an_admin_form_is_403_and_changes_nothing(
    site: Site, who: str
) -> None:
    client = signed_in_client(site, who)
    token = form_token(client)  # a valid CSRF field of the user's own session
    before = (_roles(site), access.sessions_of(site.store, "an"), len(_audit(site)))
    promote = client.post(
        "/admin/accounts/role", data={"csrf_token": token, "username": who, "role": "admin"}
    )
    assert promote.status_code == 403
    assert "Không được phép" in promote.text
    ended = client.post("/admin/accounts/sessions", data={"csrf_token": token, "username": "an"})
    assert ended.status_code == 403
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/accounts").status_code == 403
    assert (_roles(site), access.sessions_of(site.store, "an"), len(_audit(site))) == before


def test_an_admin_changes_a_role_and_signs_someone_out_everywhere(site: Site) -> None:
    viewer = signed_in_client(site, "cuong")
    client = signed_in_client(site, "an")
    token = form_token(client, "/admin/accounts")
    answer = client.post(
        "/admin/accounts/role", data={"csrf_token": token, "username": "cuong", "role": "editor"}
    )
    assert answer.status_code == 303
    assert _roles(site)["cuong"] is Role.EDITOR
    assert viewer.get("/admin/api/me").json()["role"] == "editor"  # read from the store at each request
    assert (
        client.post("/admin/accounts/sessions", data={"csrf_token": token, "username": "cuong"}).status_code
        == 303
    )
    assert viewer.get("/admin/api/me").status_code == 401
    own = client.post("/admin/accounts/role", data={"csrf_token": token, "username": "an", "role": "viewer"})
    assert own.status_code == 409
    assert _roles(site)["an"] is Role.ADMIN
    assert [a for a in _audit(site) if a[0] == "an" and a[1].startswith("account.")] == [
        ("an", "account.role", "cuong"),
        ("an", "account.sessions_ended", "cuong"),
    ]


@pytest.mark.parametrize("token", [None, "", "0" * 64, "đ" * 10])
def test_a_post_without_the_right_csrf_field_is_403_and_changes_nothing(
    site: Site, token: str | None
) -> None:
    client = signed_in_client(site, "an")
    before = (_roles(site), len(_audit(site)))
    data = {"username": "cuong", "role": "admin"} | ({} if token is None else {"csrf_token": token})
    answer = client.post("/admin/accounts/role", data=data)
    assert answer.status_code == 403
    assert client.post("/admin/logout", data=data).status_code == 403
    assert client.get("/admin/api/me").status_code == 200  # the logout did not happen
    assert (_roles(site), len(_audit(site))) == before
    login = site.client()
    login_form(login)
    assert login.post("/admin/login", data={"username": "an", "password": PASSWORD, **(
        {} if token is None else {"csrf_token": token})}).status_code == 403  # fmt: skip


# -- expiry ---------------------------------------------------------------------------------------------


def test_a_session_idle_for_30_minutes_is_over(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    site.clock.advance(minutes=29)
    assert client.get("/admin/api/me").status_code == 200  # a use: the idle time starts again
    site.clock.advance(minutes=29)
    assert client.get("/admin/api/me").status_code == 200
    site.clock.advance(minutes=30)
    assert client.get("/admin/api/me").status_code == 401
    assert client.get("/admin/").headers["location"].startswith("/admin/login")


def test_a_session_in_use_ends_12_hours_after_the_login(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    for _ in range(35):
        site.clock.advance(minutes=20)
        assert client.get("/admin/api/me").status_code == 200
    site.clock.advance(minutes=19)
    assert client.get("/admin/api/me").status_code == 200  # 11 h 59 min
    site.clock.advance(minutes=1)
    assert client.get("/admin/api/me").status_code == 401


def test_a_new_password_or_a_removed_account_ends_every_session(site: Site) -> None:
    phone, desk, other = (signed_in_client(site, "bich") for _ in range(3))
    access.set_password(site.store, "bich", "một mật khẩu mới khác hẳn", site.clock(), "cli:root")
    assert phone.get("/admin/api/me").status_code == 401
    assert desk.get("/admin/api/me").status_code == 401
    signed_in_client(site, "bich", "một mật khẩu mới khác hẳn")
    other = signed_in_client(site, "cuong")
    access.remove_account(site.store, "cuong", site.clock(), "cli:root")
    assert other.get("/admin/api/me").status_code == 401
    assert log_in(site.client(), "cuong").status_code == 200  # refused: no such account any more


# -- throttling and timing ------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["an", "khong-co-ai"])
def test_five_failures_lock_the_username_for_15_minutes_known_or_not(site: Site, username: str) -> None:
    client = site.client()
    for _ in range(access.FAILURES_PER_USERNAME):
        assert log_in(client, username, "sai mật khẩu rồi").status_code == 200
        site.clock.advance(seconds=10)
    locked = log_in(client, username, PASSWORD)  # even the right password
    assert locked.status_code == 429
    retry = int(locked.headers["retry-after"])
    assert retry == 15 * 60 - 50
    assert session_cookie(locked) is None
    assert "Vui lòng thử lại sau 15 phút" in locked.text
    assert log_in(site.client(), "bich").status_code == 303  # another username is not locked
    site.clock.advance(seconds=retry)
    if username == "an":
        assert log_in(client, username).status_code == 303
    else:
        assert log_in(client, username).status_code == 200


def test_an_address_has_a_limit_of_its_own_across_usernames(site: Site) -> None:
    client = site.client()
    for number in range(access.FAILURES_PER_ADDRESS):
        assert log_in(client, f"nguoi-{number}", "sai mật khẩu rồi").status_code == 200
    answer = log_in(client, "an")
    assert answer.status_code == 429
    assert int(answer.headers["retry-after"]) == 15 * 60


def test_a_login_takes_as_long_for_an_unknown_user_as_for_a_wrong_password(site: Site) -> None:
    """No sleeps: the medians of several tries of each, which must be alike within noise. Without the
    dummy hash, an unknown user is answered some 50 ms sooner (no Argon2 work), which this catches."""
    client = site.client()

    def timed(username: str) -> float:
        token = login_form(client)
        started = time.perf_counter()
        answer = log_in(client, username, "sai mật khẩu rồi", token=token)
        elapsed = time.perf_counter() - started
        assert answer.status_code == 200
        site.clock.advance(minutes=16)  # out of the failure window: never locked
        return elapsed

    timed("an")  # warm up (first Argon2 of the process, connections)
    wrong, unknown = [], []
    for number in range(9):
        wrong.append(timed("an"))
        unknown.append(timed(f"khong-co-{number}"))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.7 < ratio < 1.4, (wrong, unknown)


# -- headers --------------------------------------------------------------------------------------------


def test_every_console_answer_is_no_store_with_the_security_headers(site: Site) -> None:
    anonymous = site.client()
    viewer = signed_in_client(site, "cuong")
    answers: list[httpx.Response] = [
        anonymous.get("/admin/login"),
        anonymous.get("/admin/"),
        anonymous.get("/admin/api/me"),
        anonymous.get("/admin/nothing-here"),
        anonymous.get("/admin/logout"),  # 405
        log_in(anonymous, "an", "sai mật khẩu rồi"),
        viewer.get("/admin/"),
        viewer.get("/admin/api/me"),
        viewer.get("/admin/audit"),  # 403
        viewer.get("/admin/khong-co"),
        viewer.post("/admin/logout", data={"csrf_token": form_token(viewer)}),
    ]
    assert [a.status_code for a in answers] == [200, 303, 401, 404, 405, 200, 200, 200, 403, 404, 303]
    for answer in answers:
        assert answer.headers["cache-control"] == "no-store", answer.request.url
        for header in SECURITY_HEADERS:
            assert header in answer.headers, (answer.request.url, header)
    assert anonymous.get("/admin").headers["cache-control"] == "no-store"


# -- the audit page -------------------------------------------------------------------------------------


def test_the_audit_page_is_paginated_newest_first(site: Site) -> None:
    for number in range(admin.AUDIT_PAGE + 3):
        access.record(site.store, AuditEntry(site.clock(), "cli:root", "account.add", f"u{number}"))
        site.clock.advance(seconds=1)
    client = signed_in_client(site, "an")
    first = client.get("/admin/audit")
    assert first.status_code == 200
    assert first.text.index("an</td>") < first.text.index("u52")  # the login is the newest
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    second = client.get("/admin/audit?trang=2")
    assert "u0</td>" in second.text and 'rel="prev"' in second.text and 'rel="next"' not in second.text
    assert client.get("/admin/audit?trang=0").status_code == 404
    assert client.get("/admin/audit?trang=x").status_code == 404


def test_an_account_made_with_old_parameters_is_rehashed_at_login(site: Site) -> None:
    make_account(site.store, "dung", Role.VIEWER, site.clock(), passwords=CHEAP)
    stored_before = _stored_hash(site, "dung")
    assert "m=8192,t=1,p=1" in stored_before
    signed_in_client(site, "dung")
    stored_after = _stored_hash(site, "dung")
    assert stored_after != stored_before
    assert not access.default_passwords().needs_rehash(stored_after)
    signed_in_client(site, "dung")  # the same password still works


def _stored_hash(site: Site, username: str) -> str:
    from sqlalchemy import select

    from syndicator.store.schema import accounts

    with site.store.reading() as conn:
        return str(
            conn.execute(select(accounts.c.password_hash).where(accounts.c.username == username)).scalar_one()
        )


def test_the_console_reads_in_english_too(site: Site) -> None:
    client = signed_in_client(site, "an")
    page = client.get("/admin/?lang=en")
    assert page.headers["content-language"] == "en"
    assert '<html lang="en">' in page.text
