"""The console's mail and digest pages in Chromium (Debian's, through playwright) at 390 px and 1280 px:
an admin filters the outbox, opens a mail with its attempts and the server's long reply, cancels it, and
previews the next digest; every page within the width, no console error (no inline style or script
for the CSP to refuse). Screenshots in test-artifacts/ (out of git)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syndicator.model import OutboxStatus
from tests.browserkit import OVERFLOWING, page_errors, phone_page
from tests.conftest import ROOT
from tests.consolekit import sign_in
from tests.mailconsolekit import later, mail_of, mail_site, smtp_of, status
from tests.smtp_server import Fault
from tests.subscribekit import Site

ARTIFACTS = ROOT / "test-artifacts"
pytestmark = pytest.mark.browser
LONG_ADDRESS = "nguyen.thi.thanh.huong.phong.van.hoa.thong.tin@ubnd.xa-xuan-hoa.thoxuan.thanhhoa.gov.vn"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    ARTIFACTS.mkdir(exist_ok=True)
    with mail_site(f"sqlite:///{tmp_path / 'store.db'}", tmp_path) as running:
        reply = "451 4.7.1 " + "greylisted-for-a-while/see-https://mail.example/policy " * 6
        smtp_of(running).recorder.faults.append(Fault("RCPT", reply.strip(), LONG_ADDRESS, times=1))
        running.add_confirmed(LONG_ADDRESS)
        running.add_confirmed("y@xa.test")
        running.queue_daily_digest("a1")
        running.deliver()
        later(running)
        yield running


@pytest.mark.parametrize("width", [390, 1280])
def test_an_admin_works_the_outbox_and_previews_a_digest_within_the_width(site: Site, width: int) -> None:
    waiting = mail_of(site, LONG_ADDRESS)
    with phone_page(width=width) as page:
        errors = page_errors(page)
        sign_in(page, site.url, "an")
        page.goto(f"{site.url}/admin/mail")
        page.select_option("#status", "pending")
        page.fill("#address", "nguyen.thi")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**/admin/mail?status=pending*")
        assert page.locator("table.mail tbody tr").count() == 1
        assert page.evaluate(OVERFLOWING) == []
        page.screenshot(path=str(ARTIFACTS / f"console-mail-{width}.png"), full_page=True)
        page.click(f"a[href='/admin/mail/{waiting.id}']")
        page.wait_for_url(f"**/admin/mail/{waiting.id}")
        assert "greylisted" in page.inner_text("table.attempts")
        assert page.evaluate(OVERFLOWING) == []
        page.screenshot(path=str(ARTIFACTS / f"console-mail-detail-{width}.png"), full_page=True)
        page.click("form[action$='/cancel'] button")
        page.wait_for_url(f"**/admin/mail/{waiting.id}")
        assert status(site, waiting.id) is OutboxStatus.CANCELLED
        page.goto(f"{site.url}/admin/digests")
        assert page.evaluate(OVERFLOWING) == []
        page.screenshot(path=str(ARTIFACTS / f"console-digests-{width}.png"), full_page=True)
        page.click("form.filters[method=get] button[type=submit]")
        page.wait_for_url("**/admin/digests/preview?**")
        assert page.evaluate(OVERFLOWING) == []
        page.screenshot(path=str(ARTIFACTS / f"console-digest-preview-{width}.png"), full_page=True)
    assert errors == []
