"""Shared by the subscription tests (no tests of its own): a real site on loopback, mails, the database.

`running_site` starts uvicorn first (tests.live.live_server, on a free port) with an app that is put in
place once the URL is known, so settings.base_url is the live server's own address: the links in the
mails point at the server under test. Mails go to a real aiosmtpd server (tests.smtp_server) when one
is given; the clock is injected and moves only when a test says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from starlette.types import ASGIApp, Receive, Scope, Send

from syndicator.config import Settings, load_settings
from syndicator.ingest.importer import import_paths
from syndicator.mail.choices import add as add_subscriber
from syndicator.mail.digests import plan_run, queue_run, window_end
from syndicator.mail.linktokens import subscriber_token
from syndicator.mail.sender import SendReport
from syndicator.model import Frequency, Source, Subscriber
from syndicator.service import Service, assemble
from syndicator.store import Store
from syndicator.store import subscribers as store_subscribers
from syndicator.store.schema import outbox
from syndicator.web import csrf
from tests.conftest import EXAMPLES, NOW
from tests.factories import FakeClock, article_input
from tests.live import live_server
from tests.smtp_server import Received, SmtpServer

SECRET = "test-secret-key-0123456789"
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy")
_CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
_URL = re.compile(r"https?://[^\s<>\"']+")


class _Deferred:
    """An ASGI app put in place after the server listens (its settings need the server's URL)."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "request before the app was set"
        await self.app(scope, receive, send)


@dataclass
class Site:
    url: str
    settings: Settings
    store: Store
    service: Service
    clock: FakeClock
    smtp: SmtpServer | None
    clients: list[httpx.Client] = field(default_factory=list)

    # -- HTTP ---------------------------------------------------------------------------------------

    def client(self) -> httpx.Client:
        """A browser-like client: keeps the CSRF cookie, never follows redirects on its own (closed
        with the site)."""
        client = httpx.Client(base_url=self.url, follow_redirects=False, timeout=20)
        self.clients.append(client)
        return client

    def subscribe(
        self,
        client: httpx.Client,
        email: str,
        *,
        categories: list[str] | None = None,
        frequency: str = "daily",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """GET the form (for its CSRF field), then POST it as a browser would."""
        token = csrf_field(client.get("/subscribe"))
        data: dict[str, Any] = {"csrf_token": token, "email": email, "frequency": frequency}
        if categories is None:
            data["all"] = "1"
        else:
            data["categories"] = categories
        return client.post("/subscribe", data=data, headers=headers or {})

    def link_token(self, purpose: str, person: Subscriber) -> str:
        return subscriber_token(SECRET, purpose, person.id, person.email)

    # -- mail ---------------------------------------------------------------------------------------

    def deliver(self) -> SendReport:
        return self.service.sender.deliver()

    def received(self, count: int) -> list[Received]:
        """The first `count` messages the SMTP server accepted (waits for them, with a deadline)."""
        assert self.smtp is not None
        return self.smtp.recorder.wait_for(count)[:count]

    def mails_accepted(self) -> int:
        assert self.smtp is not None
        return len(self.smtp.recorder.messages())

    def write_article(self, article_id: str, category: str, published: datetime) -> None:
        """Import one article at the current time (it becomes available now, or when published)."""
        self.store.write(
            [article_input(article_id, category, published, title=f"Tin {article_id}")], self.clock()
        )

    def queue_daily_digest(self, article_id: str, category: str = "Thông báo") -> int:
        """A real digest: an article imported an hour ago, then the daily run that covers it is
        planned and queued (the clock moves on past the run's window end). Returns mails queued."""
        self.clock.advance(timedelta(hours=1))
        self.write_article(article_id, category, self.clock() - timedelta(minutes=30))
        end = window_end(Frequency.DAILY, self.clock() + timedelta(days=1), self.settings)
        self.clock.now = end + timedelta(minutes=5)
        run = plan_run(self.store, Frequency.DAILY, end, self.clock())
        return queue_run(self.store, self.service.composer, run, self.clock()).queued

    # -- database -----------------------------------------------------------------------------------

    def person(self, email: str) -> Subscriber | None:
        with self.store.reading() as conn:
            return store_subscribers.by_email(conn, email)

    def add_confirmed(self, email: str, **choices: Any) -> Subscriber:
        person, _ = add_subscriber(
            self.store, email, self.clock(), confirmed=True, source=Source.WEB, **choices
        )
        return person

    def outbox(self) -> list[Any]:
        with self.store.reading() as conn:
            return list(conn.execute(select(outbox).order_by(outbox.c.id)).all())

    def statuses(self, **where: Any) -> list[str]:
        return [row.status for row in self.outbox() if all(getattr(row, k) == v for k, v in where.items())]


@contextmanager
def running_site(
    database_url: str,
    tmp_path: Path,
    *,
    smtp: SmtpServer | None = None,
    now: datetime = NOW,
    **overrides: Any,
) -> Iterator[Site]:
    """The sample articles imported, the whole service assembled, uvicorn serving it on loopback."""
    clock = FakeClock(now)
    deferred = _Deferred()
    with ExitStack() as stack:
        store = Store.open(database_url)
        stack.callback(store.close)
        url = stack.enter_context(live_server(deferred))  # stops before the store closes
        settings = load_settings(
            database_url=database_url,
            var_dir=tmp_path / "var",
            articles_dir=tmp_path / "drop",
            secret_key=SECRET,
            base_url=url,
            smtp_url=smtp.url if smtp is not None else None,
            **{"mail": {"connections": 2}, **overrides},
        )
        import_paths(store, [EXAMPLES], now - timedelta(days=1), settings.tz)
        service = assemble(settings, store, clock)
        stack.callback(service.close)
        from syndicator.web.app import create_app

        deferred.app = create_app(service.services)
        site = Site(url, settings, store, service, clock, smtp)
        try:
            yield site
        finally:
            for client in site.clients:
                client.close()


# -- pages and mails --------------------------------------------------------------------------------


def csrf_field(response: httpx.Response) -> str:
    found = _CSRF_INPUT.search(response.text)
    assert found, f"no CSRF field in {response.request.url}"
    return found.group(1)


def without_csrf(html: str) -> str:
    return _CSRF_INPUT.sub('name="csrf_token" value="…"', html)


def has_csrf_cookie(client: httpx.Client) -> bool:
    return csrf.COOKIE in client.cookies


def text_part(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def html_part(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def link(message: EmailMessage, path: str) -> str:
    """The one link to `path` (e.g. "/confirm/") in the text part; the HTML part carries the same."""
    found = {str(url) for url in _URL.findall(text_part(message)) if path in url}
    assert len(found) == 1, f"{path} links in the mail: {found}"
    url = found.pop()
    assert f'href="{url}"' in html_part(message)
    return url


def list_unsubscribe(message: EmailMessage) -> str:
    value = str(message["List-Unsubscribe"])
    assert value.startswith("<") and value.endswith(">"), value
    return value[1:-1]


def header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]
