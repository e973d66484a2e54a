"""A resident subscribes, confirms, changes the choices and leaves, in Chromium (Debian's, driven by
playwright), against a real uvicorn, with every mail delivered to a real SMTP server (aiosmtpd) and its
links taken from there. A screenshot of each page is kept in test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from syndicator.model import Frequency, SubscriberStatus
from tests.browserkit import phone_page
from tests.conftest import ROOT
from tests.smtp_server import smtp_server
from tests.subscribekit import Site, link, list_unsubscribe, running_site

if TYPE_CHECKING:
    from email.message import EmailMessage

    from playwright.sync_api import Page

ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.browser


def test_subscribe_confirm_change_choices_and_unsubscribe(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    database = f"sqlite:///{tmp_path / 'store.db'}"
    with (
        smtp_server() as smtp,
        running_site(database, tmp_path, smtp=smtp) as site,
        phone_page() as page,
    ):
        problems = _problems_of(page)
        _sign_up(page, site)
        _confirm(page, site)

        # a real digest: an article imported, the daily run planned, queued and delivered
        assert site.queue_daily_digest("tin-cho-trinh-duyet", "Thông báo") == 1
        assert site.deliver().sent == 1
        digest = site.received(2)[1].message()
        assert "Tin tin-cho-trinh-duyet" in digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]

        _change_choices(page, site, digest)
        _unsubscribe(page, site, digest)

        assert page.locator("script").count() == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        assert problems == []
    for name in ("subscribe", "sent", "confirmed", "preferences", "unsubscribe", "unsubscribed"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 1000


def _problems_of(page: Page) -> list[str]:
    """CSP violations and other errors the page reports, and every failed response, as they come."""
    from playwright.sync_api import ConsoleMessage

    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # the site has no favicon: Chromium's own request for it is not the page's problem
        if message.type == "error" and "/favicon.ico" not in str(message.location.get("url")):
            problems.append(f"{message.text} {message.location}")

    page.on("console", on_console)
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    return problems


def _sign_up(page: Page, site: Site) -> None:
    """The home page leads to the form; the form sends a confirmation."""
    from playwright.sync_api import expect

    page.goto(site.url + "/")
    page.get_by_role("link", name="Nhận tin qua email").first.click()
    expect(page).to_have_url(site.url + "/subscribe")
    expect(page.locator("h1")).to_have_text("Nhận tin qua email")
    expect(page.get_by_label("Tất cả chuyên mục")).to_be_checked()
    page.get_by_label("Địa chỉ email").fill("Nguoi.Dan@Example.vn")
    page.get_by_label("Hằng ngày (bản tin buổi sáng)").check()
    page.screenshot(path=str(ARTIFACTS / "subscribe.png"), full_page=True)
    page.get_by_role("button", name="Đăng ký nhận tin").click()
    expect(page.locator("h1")).to_have_text("Vui lòng kiểm tra hộp thư")
    page.screenshot(path=str(ARTIFACTS / "sent.png"), full_page=True)
    pending = site.person("nguoi.dan@example.vn")
    assert pending is not None and pending.status is SubscriberStatus.PENDING


def _confirm(page: Page, site: Site) -> None:
    """The confirmation mail arrives at the SMTP server; its link is opened, then the button pressed."""
    from playwright.sync_api import expect

    assert site.deliver().sent == 1
    confirmation = site.received(1)[0]
    assert confirmation.recipients == ("Nguoi.Dan@example.vn",)
    page.goto(link(confirmation.message(), "/confirm/"))
    expect(page.locator("h1")).to_have_text("Xác nhận đăng ký nhận tin")
    page.screenshot(path=str(ARTIFACTS / "confirm.png"), full_page=True)
    waiting = site.person("nguoi.dan@example.vn")
    assert waiting is not None and waiting.status is SubscriberStatus.PENDING  # opening is not agreeing
    page.get_by_role("button", name="Xác nhận đăng ký").click()
    expect(page.locator("h1")).to_have_text("Đăng ký thành công")
    expect(page.locator("main")).to_contain_text("Nguoi.Dan@example.vn")
    page.screenshot(path=str(ARTIFACTS / "confirmed.png"), full_page=True)
    person = site.person("nguoi.dan@example.vn")
    assert person is not None
    assert person.status is SubscriberStatus.CONFIRMED
    assert (person.categories, person.frequency) == (None, Frequency.DAILY)
    assert person.confirmed_ip == "127.0.0.1" and person.confirmed_at == site.clock()


def _change_choices(page: Page, site: Site, digest: EmailMessage) -> None:
    """The digest's preferences link: other categories, weekly."""
    from playwright.sync_api import expect

    page.goto(link(digest, "/preferences/"))
    expect(page.locator("h1")).to_have_text("Tùy chọn nhận tin")
    expect(page.locator("main")).to_contain_text("Nguoi.Dan@example.vn")
    page.get_by_label("Tất cả chuyên mục").uncheck()
    page.get_by_label("Thông báo").check()
    page.get_by_label("Y tế").check()
    page.get_by_label("Hằng tuần").check()
    page.screenshot(path=str(ARTIFACTS / "preferences.png"), full_page=True)
    page.get_by_role("button", name="Lưu lựa chọn").click()
    expect(page.get_by_role("status")).to_have_text("Đã lưu lựa chọn của bạn.")
    expect(page.get_by_label("Y tế")).to_be_checked()
    expect(page.get_by_label("Tất cả chuyên mục")).not_to_be_checked()
    changed = site.person("nguoi.dan@example.vn")
    assert changed is not None
    assert (changed.categories, changed.frequency) == (
        frozenset({"thong-bao", "y-te"}),
        Frequency.WEEKLY,
    )
    assert changed.status is SubscriberStatus.CONFIRMED


def _unsubscribe(page: Page, site: Site, digest: EmailMessage) -> None:
    """The digest's unsubscribe link: a page with one button, nothing changes until it is pressed."""
    from playwright.sync_api import expect

    unsubscribe = link(digest, "/unsubscribe/")
    assert unsubscribe == list_unsubscribe(digest) + "?lang=vi"  # the page in the mail's language
    page.goto(unsubscribe)
    expect(page.locator("h1")).to_have_text("Hủy đăng ký nhận tin")
    expect(page.locator("main button")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "unsubscribe.png"), full_page=True)
    still = site.person("nguoi.dan@example.vn")
    assert still is not None and still.status is SubscriberStatus.CONFIRMED
    page.get_by_role("button", name="Hủy đăng ký").click()
    expect(page.locator("h1")).to_have_text("Đã hủy đăng ký")
    page.screenshot(path=str(ARTIFACTS / "unsubscribed.png"), full_page=True)
    ended = site.person("nguoi.dan@example.vn")
    assert ended is not None and ended.status is SubscriberStatus.UNSUBSCRIBED
