"""The dashboard and the articles page in Chromium (Debian's, driven by playwright) at 1280 and 390 px:
every chart's <img> loaded with data and no console error (the SVG's own <style> applies inside the
image: nothing is refused by the page's CSP), nothing wider than the window, the tables of numbers
behind <details>, the print layout; an editor withdraws an article and the feed no longer has it.
Screenshots kept in test-artifacts/ (out of git)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from syndicator.accounts import Role
from tests.browserkit import OVERFLOWING, page_errors, phone_page
from tests.conftest import ROOT
from tests.consolekit import make_account, sign_in
from tests.dashboardkit import CHART_NAMES, EVENTS, VALUE, seed
from tests.factories import publish
from tests.subscribekit import Site, running_site

ARTIFACTS = ROOT / "test-artifacts"
pytestmark = pytest.mark.browser
LOADED = """() => [...document.querySelectorAll('figure.chart img')]
  .map(i => ({src: i.getAttribute('src'), loaded: i.complete && i.naturalWidth > 0, width: i.clientWidth}))"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    ARTIFACTS.mkdir(exist_ok=True)
    with running_site(f"sqlite:///{tmp_path / 'store.db'}", tmp_path) as running:
        make_account(running.store, "cuong", Role.VIEWER, running.clock())
        make_account(running.store, "bich", Role.EDITOR, running.clock())
        seed(running.store, running.clock())
        yield running


@pytest.mark.parametrize("width", [1280, 390])
def test_every_chart_is_drawn_within_the_window_with_no_console_error(site: Site, width: int) -> None:
    with phone_page(width=width) as page:
        errors = page_errors(page, failed_requests=True)
        sign_in(page, site.url, "cuong")
        for days in (30, 7, 90):
            page.goto(f"{site.url}/admin/?ngay={days}")
            page.wait_for_load_state("load")
            images = page.evaluate(LOADED)
            assert [i["src"] for i in images] == [f"/admin/charts/{n}.svg?ngay={days}" for n in CHART_NAMES]
            assert all(i["loaded"] for i in images), images
            assert all(0 < i["width"] <= width for i in images), images
            assert page.evaluate(OVERFLOWING) == [], days
        page.screenshot(path=str(ARTIFACTS / f"console-dashboard-{width}.png"), full_page=True)
        page.click("#chart-polls summary")
        assert page.locator("#chart-polls table").is_visible()
        assert page.evaluate(OVERFLOWING) == []
        for name in CHART_NAMES:  # each image has data: the browser gets what the page shows
            answer = page.request.get(f"{site.url}/admin/charts/{name}.svg?ngay=90")
            assert answer.ok and VALUE.search(answer.text()), name
        page.goto(f"{site.url}/admin/?ngay=30")  # the tables' <details> closed again
        page.emulate_media(media="print")
        assert not page.locator("header.site nav").is_visible()
        for name in CHART_NAMES:  # printed, each chart's numbers show under it
            assert page.locator(f"#chart-{name} table").is_visible(), name
        assert page.evaluate(OVERFLOWING) == []
        page.screenshot(path=str(ARTIFACTS / f"console-dashboard-print-{width}.png"), full_page=True)
    assert errors == []


def test_a_chart_alone_is_drawn_with_its_own_styles(site: Site) -> None:
    """pygal's SVG carries its own <style>; shown as an <img> it is drawn with it, in colour."""
    with phone_page(width=1280) as page:
        sign_in(page, site.url, "cuong")
        page.goto(f"{site.url}/admin/?ngay=7")
        page.wait_for_load_state("load")
        shot = ARTIFACTS / "console-chart-subscribers.png"
        page.locator("#chart-subscribers img").screenshot(path=str(shot))
        # drawn in colour: the chart's own CSS (series colours) applied inside the image
        colours = page.evaluate(
            """async () => {
              const img = document.querySelector('#chart-subscribers img');
              const canvas = document.createElement('canvas');
              canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
              const context = canvas.getContext('2d');
              context.drawImage(img, 0, 0);
              const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
              const seen = new Set();
              for (let i = 0; i < data.length; i += 16) {
                const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
                if (Math.max(r, g, b) - Math.min(r, g, b) > 60) seen.add(`${r >> 5},${g >> 5},${b >> 5}`);
              }
              return seen.size;
            }"""
        )
        assert colours >= 2  # at least two series' colours, not black shapes


@pytest.mark.parametrize("width", [1280, 390])
def test_an_editor_withdraws_an_article_and_the_feed_no_longer_has_it(site: Site, width: int) -> None:
    now = site.clock()
    publish(site.store, "le-hoi", EVENTS, now - timedelta(minutes=10), written_at=now, title="Lễ hội đền Lê")
    render = site.service.services.builder.refresh  # what the leader's store watch runs every second
    render(site.clock())
    feed = f"{site.url}/feeds/su-kien.json"
    assert "/a/le-hoi" in httpx.get(feed).text
    with phone_page(width=width) as page:
        errors = page_errors(page, failed_requests=True)
        sign_in(page, site.url, "bich", then="/admin/articles")
        page.fill("#q", "Lễ hội đền")
        page.click("form.search button")
        page.wait_for_url("**/admin/articles?q=*")
        assert page.evaluate(OVERFLOWING) == []
        page.screenshot(path=str(ARTIFACTS / f"console-articles-{width}.png"), full_page=True)
        page.click("table.articles form button")
        page.wait_for_url("**/admin/articles?q=le-hoi")
        assert "Đã gỡ" in page.inner_text("table.articles")
        render(site.clock())
        assert "/a/le-hoi" not in httpx.get(feed).text
        page.click("table.articles form button")  # restore
        page.wait_for_url("**/admin/articles?q=le-hoi")
        assert "Đang đăng" in page.inner_text("table.articles")
        render(site.clock())
        assert "/a/le-hoi" in httpx.get(feed).text
    assert errors == []


def test_a_viewer_sees_the_articles_without_buttons(site: Site) -> None:
    with phone_page() as page:
        sign_in(page, site.url, "cuong", then="/admin/articles")
        assert page.locator("table.articles form").count() == 0
        assert page.evaluate(OVERFLOWING) == []
