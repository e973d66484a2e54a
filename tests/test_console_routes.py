"""Every console route at once, walked as an attacker and as a reader of English would: each route a
role below its own is refused with nothing changed in the database, each POST without a valid CSRF
field is refused with nothing changed, no parameter however odd gets a 500, every answer is
`no-store` with the security headers, and no page left in English shows a word of the Vietnamese
catalogue. New sections are covered as they are mounted (web/console.py): nothing to add here."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import MetaData, select
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Message

from syndicator import i18n
from syndicator.accounts import Role
from syndicator.web import console, forms
from tests.consolekit import form_token, make_account, signed_in_client
from tests.subscribekit import SECURITY_HEADERS, Site, running_site

# written by reading a page (a session's last use, readership, job bookkeeping), not by a change
_BOOKKEEPING = {
    "console_sessions", "login_failures", "feed_readership", "job_runs", "job_instances", "job_state"
}  # fmt: skip
ACCOUNTS = {Role.ADMIN: "an", Role.EDITOR: "bich", Role.VIEWER: "cuong"}
# fields the console's forms post: a tampered form sends what the real one would, aimed high
FORM = {
    "username": "an", "role": "admin", "email": "an@example.vn", "name": "An", "categories": "thong-bao",
    "frequency": "daily", "language": "en", "id": "1", "subscriber": "1", "article": "1", "confirmed": "1",
}  # fmt: skip
ODD_QUERIES = [
    {"trang": "-1"}, {"trang": "0"}, {"trang": "9" * 40}, {"trang": "1e9"}, {"ngay": "0"}, {"ngay": "99999"},
    {"q": "%_\\" * 300}, {"q": "\x00\x1b[31m"}, {"q": "đ" * 5000}, {"status": "zzz"}, {"kind": "'; drop"},
    {"category": "../../etc"}, {"language": "xx"}, {"frequency": "hourly"}, {"run": "-5"}, {"state": "all"},
    {"source": "<script>"}, {"cua_so": "x"}, {"window": "9" * 30},
]  # fmt: skip


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    with running_site(database_url, tmp_path) as running:
        for role, name in ACCOUNTS.items():
            make_account(running.store, name, role, running.clock())
        yield running


def _routes(method: str) -> list[tuple[str, Role]]:
    """Each guarded route taking `method`, its path parameters filled with an id that may not exist,
    and the lowest role it lets in."""
    found = []
    for route in console.ADMIN_ROUTES:
        if isinstance(route, Route) and route.path not in console.PUBLIC and method in (route.methods or ()):
            path = "/admin" + re.sub(r"\{[^}]+\}", "1", route.path)
            found.append((path, route.endpoint.needed))  # type: ignore[attr-defined]
    return found


def _database(site: Site) -> str:
    """A digest of every row the console could change."""
    engine = site.store.engine
    tables = MetaData()
    tables.reflect(engine)
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for name, table in sorted(tables.tables.items()):
            if name in _BOOKKEEPING or name == "alembic_version":
                continue
            rows = conn.execute(select(table).order_by(*table.columns)).all()
            digest.update(f"{name}:{sorted(map(repr, rows))}".encode())
    return digest.hexdigest()


def test_every_post_route_refuses_a_role_below_its_own_and_changes_nothing(site: Site) -> None:
    posts = _routes("POST")
    assert len(posts) >= 8  # the sections are mounted
    signed = {role: signed_in_client(site, ACCOUNTS[role]) for role in (Role.VIEWER, Role.EDITOR)}
    tokens = {role: form_token(client) for role, client in signed.items()}
    before = _database(site)  # after the logins, which are audited
    for role, client in signed.items():
        for path, needed in posts:
            if role.allows(needed):
                continue
            answer = client.post(path, data={"csrf_token": tokens[role], **FORM})
            assert answer.status_code == 403, (role, path, answer.status_code)
    assert _database(site) == before


def test_every_post_route_refuses_a_missing_or_forged_csrf_field_and_changes_nothing(site: Site) -> None:
    client = signed_in_client(site, "an")
    client.get("/admin/")
    before = _database(site)
    for path, _ in _routes("POST"):
        for token in (None, "", "0" * 64):
            data = FORM | ({} if token is None else {"csrf_token": token})
            answer = client.post(path, data=data)
            assert answer.status_code == 403, (path, token, answer.status_code)
    assert _database(site) == before
    assert client.get("/admin/api/me").status_code == 200  # the logout among them did not happen


@pytest.mark.parametrize("role", [Role.ADMIN, Role.EDITOR, Role.VIEWER])
def test_no_page_answers_500_to_any_parameter_and_every_answer_is_no_store(site: Site, role: Role) -> None:
    client = signed_in_client(site, ACCOUNTS[role])
    for path, needed in _routes("GET"):
        for query in [{}, *ODD_QUERIES]:
            answer = client.get(path, params=query, follow_redirects=False)
            expected = {200, 303, 400, 404, 422} if role.allows(needed) else {403}
            assert answer.status_code in expected, (role, path, query, answer.status_code)
            assert answer.headers["cache-control"] == "no-store", (path, query)
            for header in SECURITY_HEADERS:
                assert header in answer.headers, (path, query, header)
    repeated = client.get("/admin/", params=[("ngay", "7"), ("ngay", "30")])
    assert repeated.status_code in {200, 400}


def _catalogue_phrases() -> list[str]:
    """The Vietnamese catalogue's phrases of three words or more: long enough never to be data."""
    phrases = set()
    for message in i18n.read_catalogue("vi"):
        ids = (message.id,) if isinstance(message.id, str) else tuple(message.id)
        for text in ids:
            for piece in re.split(r"<[^>]*>|%\(\w+\)[sd]", str(text)):
                piece = piece.strip(" .:,;()")
                if len(piece.split()) >= 3 and not piece.isascii():
                    phrases.add(piece)
    return sorted(phrases)


def test_every_page_in_english_shows_no_phrase_of_the_vietnamese_catalogue(site: Site) -> None:
    client = signed_in_client(site, "an")
    phrases = _catalogue_phrases()
    assert len(phrases) > 50
    pages = 0
    for path, _ in _routes("GET"):
        answer = client.get(path, params={"lang": "en"})
        if answer.status_code != 200 or not answer.headers["content-type"].startswith("text/html"):
            continue
        pages += 1
        assert answer.headers["content-language"] == "en", path
        text = answer.text
        left = [p for p in phrases if p in text]
        assert left == [], path
    assert pages >= 6


def test_an_unknown_console_path_is_the_console_s_404_for_every_role(site: Site) -> None:
    for name in ACCOUNTS.values():
        client: httpx.Client = signed_in_client(site, name)
        answer = client.get("/admin/khong-co-trang-nay/1")
        assert answer.status_code == 404
        assert answer.headers["cache-control"] == "no-store"


def test_a_client_gone_mid_form_is_a_400_not_an_unhandled_error() -> None:
    """A POST whose client hangs up before its body is whole (Content-Length says more): the form is
    refused like a malformed one, no ClientDisconnect reaches the server's error log."""
    sent: list[Message] = [
        {"type": "http.request", "body": b"username=an&pass", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return sent.pop(0) if sent else {"type": "http.disconnect"}

    scope = {
        "type": "http", "method": "POST", "path": "/admin/login", "query_string": b"",
        "headers": [(b"content-length", b"1000"), (b"content-type", b"application/x-www-form-urlencoded")],
    }  # fmt: skip
    request = Request(scope, receive)
    assert asyncio.run(forms.bounded_form(request, 16_384, 50)) is None
