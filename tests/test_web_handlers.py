"""The web handlers are module-level functions reading `request.app.state.web`: each routes list works
in an app of its own, and every page template is checked at start."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from syndicator.config import Settings, load_settings
from syndicator.service import Service, assemble
from syndicator.store import Store
from syndicator.store.database import Availability
from syndicator.templating import TEMPLATES
from syndicator.web import api, subscribe
from syndicator.web.app import PAGE_TEMPLATES, web_state
from tests.factories import FakeClock
from tests.live import live_server

TOKEN = "cms-token-aaaaaaaaaaaaaaaa"
WEB = Path(__file__).resolve().parents[1] / "src" / "syndicator" / "web"


@pytest.fixture
def web_settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        articles_dir=tmp_path / "drop",
        secret_key="test-secret-key-0123456789",
        base_url="http://portal.test",
        api_tokens=TOKEN,
        subscribe={"per_ip_per_minute": 1},
    )


@pytest.fixture
def service(web_settings: Settings, now: datetime) -> Iterator[Service]:
    store = Store.open(web_settings.database_url)
    built = assemble(web_settings, store, FakeClock(now))
    yield built
    built.close()
    store.close()


def alone(service: Service, routes: Sequence[BaseRoute]) -> Starlette:
    """An app of only these routes: no feed server, no pages, no exception handlers of ours."""
    app = Starlette(routes=routes)
    app.state.web = web_state(service.services, Availability.of(service.services.store.engine))
    return app


def test_every_page_template_is_checked_at_start() -> None:
    pages = sorted(
        f"pages/{path.name}" for path in (TEMPLATES / "pages").glob("*.html") if not path.name.startswith("_")
    )
    assert "pages/confirm.html" in PAGE_TEMPLATES  # the start-up check once missed it
    assert pages == PAGE_TEMPLATES


def test_every_page_a_handler_renders_is_a_checked_template() -> None:
    named = {
        name
        for path in WEB.glob("*.py")
        for name in re.findall(r'"(pages/[a-z_]+\.html)"', path.read_text(encoding="utf-8"))
    }
    assert named, "the pattern finds no page names: has the code changed its spelling?"
    assert named <= set(PAGE_TEMPLATES)


def test_the_api_handlers_work_in_an_app_of_their_own(service: Service, now: datetime) -> None:
    article = {
        "id": "alone-1",
        "title": "Thông báo riêng",
        "category": "Thông báo",
        "published_at": (now - timedelta(hours=1)).isoformat(),
        "body_text": "Nội dung.",
    }
    headers = {"authorization": f"Bearer {TOKEN}"}
    with live_server(alone(service, api.ROUTES)) as url, httpx.Client(base_url=url) as client:
        created = client.post("/api/articles", json=article, headers=headers)
        read = client.get("/api/articles/alone-1", headers=headers)
        refused = client.get("/api/articles/alone-1")
    assert created.status_code == 201, created.text
    assert read.status_code == 200
    assert read.json()["title"] == "Thông báo riêng"
    assert refused.status_code == 401


def test_the_subscription_handlers_work_in_an_app_of_their_own(service: Service) -> None:
    with live_server(alone(service, subscribe.ROUTES)) as url, httpx.Client(base_url=url) as client:
        form = client.get("/subscribe")
        first = client.post("/subscribe", data={"email": "a@example.org"})
        second = client.post("/subscribe", data={"email": "a@example.org"})
        bad_link = client.get("/preferences/not-a-token")
    assert form.status_code == 200
    assert 'name="csrf_token"' in form.text
    assert first.status_code == 403  # no CSRF cookie nor field: the one error page, its status
    assert "Phiên làm việc đã hết hạn" in first.text
    assert second.status_code == 429  # one a minute from this address
    assert second.headers["retry-after"].isdigit()
    assert bad_link.status_code == 400
    assert bad_link.headers["cache-control"] == "no-store"
