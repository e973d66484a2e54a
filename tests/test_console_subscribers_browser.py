"""The console's subscribers in Chromium (Debian's, driven by playwright) at 390 and 1280 px: an admin
searches a subscriber through the form, opens their page, and every page of the section (the list, a
subscriber, the add form, the officials) lays out within the width, with no console error.
Screenshots kept in test-artifacts/ (out of git)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syndicator.accounts import Role
from syndicator.mail import choices
from tests.browserkit import OVERFLOWING, page_errors, phone_page
from tests.conftest import ROOT
from tests.consolekit import make_account, sign_in
from tests.factories import subscribe
from tests.subscribekit import Site, running_site

ARTIFACTS = ROOT / "test-artifacts"
LONG = "nguyen.thi.thu.huong.phong.van.hoa.thong.tin@ubnd-huyen-tho-xuan.thanhhoa.gov.vn"
pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    ARTIFACTS.mkdir(exist_ok=True)
    with running_site(f"sqlite:///{tmp_path / 'store.db'}", tmp_path) as running:
        make_account(running.store, "nguyen.van.an", Role.ADMIN, running.clock())
        make_account(running.store, "cuong", Role.VIEWER, running.clock())
        name = "Nguyễn Thị Thu Hương, Phòng Văn hóa và Thông tin huyện Thọ Xuân"
        subscribe(running.store, LONG, name=name, at=running.clock())
        for n in range(30):
            subscribe(running.store, f"nguoi.doc.{n:02d}@example.vn", frequency="weekly", at=running.clock())
        person, _ = choices.add(running.store, LONG, running.clock(), name=name)  # stays confirmed
        choices.unsubscribe(running.store, person.id, running.clock())  # a history of two lines
        path = running.settings.digest.officials_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'[[official]]\nemail = "{LONG}"\nname = "Chủ tịch"\n', encoding="utf-8")
        yield running


@pytest.mark.parametrize("width", [390, 1280])
def test_an_admin_searches_a_subscriber_and_every_page_fits_the_width(site: Site, width: int) -> None:
    with phone_page(width=width) as page:
        errors = page_errors(page)
        sign_in(page, site.url, "nguyen.van.an", then="/admin/subscribers")
        assert page.evaluate(OVERFLOWING) == []
        page.fill("#q", "THU.HUONG")
        page.click("form.subscribers button[type=submit]")
        page.wait_for_url("**/admin/subscribers?q=THU.HUONG*")
        rows = page.locator("table.subscribers tbody tr")
        assert rows.count() == 1
        assert LONG in rows.first.inner_text()
        assert page.evaluate(OVERFLOWING) == []
        page.screenshot(path=str(ARTIFACTS / f"console-subscribers-search-{width}.png"), full_page=True)
        rows.first.locator("a").first.click()
        page.wait_for_selector("table.history")
        assert LONG in page.inner_text("h1")
        assert page.locator("table.history tbody tr").count() == 2  # confirmed, unsubscribed
        assert page.evaluate(OVERFLOWING) == []
        page.screenshot(path=str(ARTIFACTS / f"console-subscriber-{width}.png"), full_page=True)
        for path in ("/admin/subscribers/new", "/admin/officials", "/admin/subscribers?frequency=weekly"):
            page.goto(f"{site.url}{path}")
            assert page.evaluate(OVERFLOWING) == [], path
            name = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-")
            page.screenshot(path=str(ARTIFACTS / f"console-{name}-{width}.png"), full_page=True)
    assert errors == []


def test_a_viewer_sees_masked_addresses_and_no_search_box(site: Site) -> None:
    with phone_page() as page:
        sign_in(page, site.url, "cuong", then="/admin/subscribers")
        assert page.locator("#q").count() == 0
        assert LONG not in page.content()
        assert page.evaluate(OVERFLOWING) == []
