"""The pages as a person sees them: Chromium (Debian's, driven by playwright), screenshots kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from syndicator.config import Settings, load_settings
from syndicator.ingest.importer import import_paths
from syndicator.service import assemble
from syndicator.store import Store
from syndicator.web.app import create_app
from tests.browserkit import phone_page
from tests.conftest import EXAMPLES, ROOT
from tests.live import live_server

ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path: Path, now: datetime) -> Iterator[str]:
    settings: Settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'site.db'}",
        var_dir=tmp_path / "var",
        secret_key="test-secret-key-0123456789",
    )
    store = Store.open(settings.database_url)
    import_paths(
        store, [EXAMPLES, ROOT / "examples" / "articles.jsonl"], now - timedelta(days=1), settings.tz
    )
    service = assemble(settings, store, lambda: now)
    with live_server(create_app(service.services)) as url:
        yield url
    service.close()


@pytest.fixture
def page(site: str) -> Iterator[object]:
    with phone_page() as page:
        yield page


def test_home_page_on_a_phone(page: object, site: str) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(site + "/")
    assert page.title() == "Cổng thông tin điện tử huyện Thọ Xuân"
    assert page.locator("h1").first.inner_text() == "Tin mới nhất"
    assert page.locator("link[rel=alternate][type='application/rss+xml']").count() == 1
    assert page.locator("script").count() == 0  # works without JavaScript: there is none
    # no horizontal scrolling on a 390 px wide phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)

    page.get_by_role("link", name="Thông báo", exact=True).first.click()
    assert page.url.endswith("/c/thong-bao")
    page.screenshot(path=str(ARTIFACTS / "category.png"), full_page=True)

    page.locator("li.article a.title").first.click()
    assert "/a/" in page.url
    assert page.locator("article .body p").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "article.png"), full_page=True)
