"""The console's security findings of issue 14's review, each proved on SQLite and PostgreSQL: parallel
logins never beat the throttle (the failure is claimed before the password is checked), no admin lowers
their own role by another spelling of their name, the audit log keeps no typed text that names no
account and says once that a login is locked, console CSRF fields bound to the session (a public form's
refused), and the console's language link keeping the page's parameters."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from threading import Barrier

import pytest

from syndicator import access
from syndicator.accounts import Role
from syndicator.store import Store
from tests.consolekit import (
    CHEAP,
    COOKIE,
    PASSWORD,
    form_token,
    log_in,
    login_form,
    make_account,
    signed_in_client,
)
from tests.subscribekit import Site, csrf_field, running_site

SECRET = "test-secret-key-0123456789"
WRONG = "không phải mật khẩu này"
THREADS = 30
CSRF_COOKIE = "syndicator_admin_csrf"


@pytest.fixture
def stores(database_url: str) -> Iterator[tuple[Store, Store]]:
    """Two instances of the service on one database (each with its own connections and, on SQLite, its
    own in-process write lock): the throttle must hold across them, not only within one."""
    one = Store.open(database_url)
    two = Store.open(database_url)
    try:
        yield one, two
    finally:
        one.close()
        two.close()


def _at_once(stores: tuple[Store, Store], attempts: list[tuple[str, str]], now: datetime) -> Counter[str]:
    """Each (username, address) tried by its own thread, all released together; the kinds of answer."""
    barrier = Barrier(len(attempts))

    def attempt(number: int) -> str:
        username, address = attempts[number]
        barrier.wait()
        answer = access.login(stores[number % 2], SECRET, username, WRONG, address, now, CHEAP)
        return type(answer).__name__

    with ThreadPoolExecutor(len(attempts)) as pool:
        return Counter(pool.map(attempt, range(len(attempts))))


def _audit(store: Store) -> list[tuple[str, str, str | None, str | None]]:
    entries, _ = access.audit(store, limit=1000)
    return [(e.actor, e.action, e.detail, e.address) for e in reversed(entries)]


# -- 1. parallel logins ----------------------------------------------------------------------------------


def test_thirty_wrong_guesses_at_once_check_five_passwords_and_throttle_the_rest(
    stores: tuple[Store, Store], now: datetime
) -> None:
    make_account(stores[0], "an", Role.ADMIN, now, passwords=CHEAP)
    answers = _at_once(stores, [("an", f"192.0.2.{n}") for n in range(THREADS)], now)
    assert answers == Counter(Refused=access.FAILURES_PER_USERNAME, Throttled=THREADS - 5)
    # locked for real: even the right password waits
    assert isinstance(
        access.login(stores[0], SECRET, "an", PASSWORD, "192.0.2.99", now, CHEAP), access.Throttled
    )
    audit = [a for a in _audit(stores[0]) if a[1].startswith("login")]
    assert Counter(a[1] for a in audit) == Counter({"login.failed": 5, "login.throttled": 1})


def test_thirty_usernames_at_once_from_one_address_check_twenty(
    stores: tuple[Store, Store], now: datetime
) -> None:
    answers = _at_once(stores, [(f"nguoi-{n}", "198.51.100.7") for n in range(THREADS)], now)
    assert answers == Counter(Refused=access.FAILURES_PER_ADDRESS, Throttled=THREADS - 20)
    throttled = [a for a in _audit(stores[0]) if a[1] == "login.throttled"]
    assert throttled == [("?", "login.throttled", "locked=address", "198.51.100.7")]


def test_a_right_password_takes_its_claimed_failure_back(stores: tuple[Store, Store], now: datetime) -> None:
    store = stores[0]
    make_account(store, "an", Role.ADMIN, now, passwords=CHEAP)
    for _ in range(access.FAILURES_PER_USERNAME - 1):
        access.login(store, SECRET, "an", WRONG, "192.0.2.1", now, CHEAP)
    assert isinstance(access.login(store, SECRET, "an", PASSWORD, "192.0.2.1", now, CHEAP), access.LoggedIn)
    assert isinstance(access.login(store, SECRET, "an", WRONG, "192.0.2.1", now, CHEAP), access.Refused)
    assert not [a for a in _audit(store) if a[1] == "login.throttled"]


# -- 3. what failed logins write -------------------------------------------------------------------------


def test_a_failed_login_writes_the_username_only_when_it_names_an_account(
    stores: tuple[Store, Store], now: datetime
) -> None:
    store = stores[0]
    make_account(store, "an", Role.ADMIN, now, passwords=CHEAP)
    access.login(store, SECRET, " AN ", WRONG, "192.0.2.1", now, CHEAP)
    access.login(store, SECRET, PASSWORD, WRONG, "192.0.2.2", now, CHEAP)  # a password in the name field
    access.login(store, SECRET, "khong-co-ai", WRONG, "192.0.2.3", now, CHEAP)
    assert [a for a in _audit(store) if a[1] == "login.failed"] == [
        ("an", "login.failed", None, "192.0.2.1"),
        ("?", "login.failed", None, "192.0.2.2"),
        ("?", "login.failed", None, "192.0.2.3"),
    ]
    assert not any(PASSWORD in str(entry) for entry in _audit(store))


def test_a_lock_is_written_once_not_per_refused_attempt(stores: tuple[Store, Store], now: datetime) -> None:
    store = stores[0]
    make_account(store, "an", Role.ADMIN, now, passwords=CHEAP)
    for _ in range(access.FAILURES_PER_USERNAME + 20):
        access.login(store, SECRET, "an", WRONG, "192.0.2.1", now, CHEAP)
    assert Counter(a[1] for a in _audit(store) if a[1].startswith("login")) == Counter(
        {"login.failed": 5, "login.throttled": 1}
    )
    assert [a for a in _audit(store) if a[1] == "login.throttled"] == [
        ("an", "login.throttled", "locked=username", "192.0.2.1")
    ]


# -- 2. one's own role -----------------------------------------------------------------------------------


def test_set_role_refuses_an_account_lowering_its_own_role_by_any_spelling(
    stores: tuple[Store, Store], now: datetime
) -> None:
    store = stores[0]
    boss = make_account(store, "boss", Role.ADMIN, now, passwords=CHEAP)
    other = make_account(store, "an", Role.ADMIN, now, passwords=CHEAP)
    for spelling in ("boss", "BOSS", " Boss "):
        with pytest.raises(access.OwnRole):
            access.set_role(store, spelling, Role.VIEWER, now, boss)
    assert access.set_role(store, "BOSS", Role.ADMIN, now, boss).role is Role.ADMIN  # not lower: fine
    assert access.set_role(store, "BOSS", Role.EDITOR, now, other).role is Role.EDITOR  # another admin may
    assert access.set_role(store, "an", Role.VIEWER, now, "cli:root").role is Role.VIEWER  # the shell may
    assert [(a[0], a[1]) for a in _audit(store) if a[1] == "account.role"] == [
        ("an", "account.role"),
        ("cli:root", "account.role"),
    ]


# -- over HTTP -------------------------------------------------------------------------------------------


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    with running_site(database_url, tmp_path) as running:
        make_account(running.store, "boss", Role.ADMIN, running.clock(), passwords=CHEAP)
        make_account(running.store, "cuong", Role.VIEWER, running.clock(), passwords=CHEAP)
        yield running


def test_an_admin_cannot_demote_themselves_by_changing_the_case_of_their_name(site: Site) -> None:
    client = signed_in_client(site, "boss")
    token = form_token(client, "/admin/accounts")
    for spelling in ("BOSS", "Boss", "boss"):
        answer = client.post(
            "/admin/accounts/role", data={"csrf_token": token, "username": spelling, "role": "viewer"}
        )
        assert answer.status_code == 409, spelling
    assert {a.username: a.role for a in access.accounts(site.store)}["boss"] is Role.ADMIN
    assert client.get("/admin/accounts").status_code == 200


def test_a_token_of_a_public_form_is_refused_by_the_console(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    public = csrf_field(client.get("/subscribe"))
    assert client.post("/admin/logout", data={"csrf_token": public}).status_code == 403
    assert client.get("/admin/api/me").status_code == 200  # still signed in
    # the login form refuses it too
    visitor = site.client()
    public = csrf_field(visitor.get("/subscribe"))
    login_form(visitor)
    assert log_in(visitor, "cuong", token=public).status_code == 403
    # and the console's own field still works
    assert client.post("/admin/logout", data={"csrf_token": form_token(client)}).status_code == 303


def test_a_console_field_is_bound_to_its_session(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    before = form_token(client)
    nonce = client.cookies[CSRF_COOKIE]
    # the login form's field for the same nonce (bound to no session) is no field of a session
    session = client.cookies[COOKIE]
    client.cookies.delete(COOKIE)
    pre_session = login_form(client)
    client.cookies.set(COOKIE, session, domain="127.0.0.1", path="/admin")
    assert client.post("/admin/logout", data={"csrf_token": pre_session}).status_code == 403
    # another session with the same nonce: the first session's field is refused
    other = signed_in_client(site, "cuong")
    other.cookies.set(CSRF_COOKIE, nonce, domain="127.0.0.1", path="/admin")
    assert other.post("/admin/logout", data={"csrf_token": before}).status_code == 403
    assert other.post("/admin/logout", data={"csrf_token": form_token(other)}).status_code == 303
    assert client.post("/admin/logout", data={"csrf_token": before}).status_code == 303


# -- 5. the console's page frame --------------------------------------------------------------------------


def _language_link(html: str) -> str:
    found = re.search(r'<p class="language"><a href="([^"]*)"', html)
    assert found, html
    return found.group(1).replace("&amp;", "&")


def test_the_language_link_keeps_the_page_s_parameters(site: Site) -> None:
    anonymous = site.client()
    login = anonymous.get("/admin/login?next=/admin/audit")
    assert _language_link(login.text) == "?next=%2Fadmin%2Faudit&lang=en"
    english = anonymous.get("/admin/login" + _language_link(login.text))
    assert 'action="/admin/login?next=/admin/audit"' in english.text
    assert _language_link(english.text) == "?next=%2Fadmin%2Faudit&lang=vi"
    client = signed_in_client(site, "boss")
    audit = client.get("/admin/audit?trang=1&lang=en")
    assert _language_link(audit.text) == "?trang=1&lang=vi"


def test_the_site_s_name_says_its_language_on_a_console_page_in_another(site: Site) -> None:
    page = site.client().get("/admin/login?lang=en")
    assert '<html lang="en">' in page.text
    brand = re.search(r'<a class="brand"[^>]*>', page.text)
    assert brand and f'lang="{site.settings.site.language}"' in brand.group(0)
