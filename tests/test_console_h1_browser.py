"""/admin/feeds and /admin/jobs in Chromium at 390 and 1280 px, as a viewer: laid out within the width
(tables included: they reflow on a phone), no console error, the window links work. Screenshots kept in
test-artifacts/ (out of git)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syndicator.accounts import Role
from syndicator.jobs import Jobs
from syndicator.store import readership as stored
from syndicator.store.readership import Counted
from tests.browserkit import page_errors, phone_page
from tests.conftest import ROOT
from tests.consolekit import make_account, sign_in
from tests.subscribekit import Site, running_site

ARTIFACTS = ROOT / "test-artifacts"
pytestmark = pytest.mark.browser
# anything wider than the window, tables and their cells included
WIDER = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .map(e => e.tagName + '.' + e.className)"""
LONG = "chuyen-muc-co-ten-rat-dai-de-thu-xem-trang-co-tran-ra-ngoai-man-hinh-dien-thoai-hay-khong"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    ARTIFACTS.mkdir(exist_ok=True)
    with running_site(f"sqlite:///{tmp_path / 'store.db'}", tmp_path) as running:
        make_account(running.store, "cuong", Role.VIEWER, running.clock())
        today = running.clock().astimezone(running.settings.tz).date()
        at = running.clock()
        rows = [
            Counted("all.atom", today, "Feedly", 1200, 950, 42, at),
            Counted("all.atom", today, "Inoreader", 300, 290, 7, at),
            Counted("all.atom", today, "Browser", 12, 0),
            Counted(f"{LONG}.atom", today, "NewsBlur", 40, 38, 5, at),
        ]
        with running.store.writing() as conn:
            stored.add(conn, rows)
        worker = Jobs(running.service)
        worker.store_watch()

        def fail() -> None:
            raise RuntimeError("smtp: 451 4.7.1 " + "tạm thời không nhận thư, xin thử lại sau " * 6)

        worker._run("deliver", fail)
        yield running


@pytest.mark.parametrize("width", [390, 1280])
def test_readership_and_jobs_fit_the_window(site: Site, width: int) -> None:
    with phone_page(width=width) as page:
        errors = page_errors(page)
        sign_in(page, site.url, "cuong")
        page.click("nav a[href='/admin/feeds']")
        page.wait_for_url(f"{site.url}/admin/feeds")
        assert "Feedly" in page.inner_text("main")
        assert page.evaluate(WIDER) == []
        page.screenshot(path=str(ARTIFACTS / f"console-feeds-{width}.png"), full_page=True)
        page.click("nav.windows a[href='/admin/feeds?ngay=7']")
        page.wait_for_url(f"{site.url}/admin/feeds?ngay=7")
        assert page.inner_text("nav.windows strong") == "7 ngày qua"
        page.goto(f"{site.url}/admin/jobs")
        assert "deliver" in page.inner_text("main")
        assert page.evaluate(WIDER) == []
        page.screenshot(path=str(ARTIFACTS / f"console-jobs-{width}.png"), full_page=True)
    assert errors == []
