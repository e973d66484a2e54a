"""Shared by the console tests (no tests of its own): accounts made through access.py, and a browser-like
client that logs in to the console of a real site (tests/subscribekit.running_site) the way a person
does: the login form's CSRF field, then the POST."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher

from syndicator import access
from syndicator.accounts import Account, Passwords, Role
from syndicator.config import load_settings
from syndicator.service import assemble
from syndicator.store import Store
from tests.conftest import NOW
from tests.factories import FakeClock
from tests.live import live_server
from tests.subscribekit import SECRET, Site, csrf_field

PASSWORD = "mật khẩu đủ dài 2026"
COOKIE = "syndicator_admin"
# cheaper Argon2 parameters than the defaults: an account made with them is rehashed at its first login
CHEAP = Passwords(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
_SESSION = re.compile(r"syndicator_admin=([A-Za-z0-9_-]{43})")


def make_account(
    store: Store,
    username: str,
    role: Role,
    now: datetime,
    *,
    password: str = PASSWORD,
    passwords: Passwords | None = None,
) -> Account:
    return access.add_account(store, username, role, password, now, "test", passwords=passwords)


def login_form(client: httpx.Client) -> str:
    """GET the login page; its CSRF field."""
    page = client.get("/admin/login")
    assert page.status_code == 200, page.text
    return csrf_field(page)


def log_in(
    client: httpx.Client,
    username: str,
    password: str = PASSWORD,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """The login form as a browser sends it (a fresh CSRF field unless given)."""
    field = token if token is not None else login_form(client)
    return client.post(
        "/admin/login",
        data={"csrf_token": field, "username": username, "password": password},
        headers=headers or {},
    )


def signed_in_client(site: Site, username: str, password: str = PASSWORD) -> httpx.Client:
    client = site.client()
    answer = log_in(client, username, password)
    assert answer.status_code == 303, answer.text
    return client


def session_cookie(response: httpx.Response) -> str | None:
    """The session id a response sets, if any."""
    for value in response.headers.get_list("set-cookie"):
        found = _SESSION.search(value)
        if found:
            return found.group(1)
    return None


def form_token(client: httpx.Client, path: str = "/admin/") -> str:
    """The CSRF field of a console page the client can see."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return csrf_field(page)


@contextmanager
def https_console(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Store, FakeClock]]:
    """A site whose base_url is https (as behind a TLS proxy), served over plain http on loopback: the
    cookies it sets are what a browser would get through the proxy. (url, store, clock)."""
    from syndicator.web.app import create_app

    clock = FakeClock(NOW)
    with ExitStack() as stack:
        store = Store.open(database_url)
        stack.callback(store.close)
        settings = load_settings(
            database_url=database_url,
            var_dir=tmp_path / "var",
            articles_dir=tmp_path / "drop",
            secret_key=SECRET,
            base_url="https://rss.thoxuan.example",
        )
        service = assemble(settings, store, clock)
        stack.callback(service.close)
        url = stack.enter_context(live_server(create_app(service.services)))
        yield url, store, clock


def sign_in(page: Any, url: str, username: str, then: str = "/admin/", password: str = PASSWORD) -> None:
    """Chromium asks for a console page, is sent to the login form, signs in and lands on the page."""
    page.goto(f"{url}{then}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{url}{then}")
