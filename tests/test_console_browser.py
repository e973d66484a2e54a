"""The console in Chromium (Debian's, driven by playwright) at 390 and 1280 px: log in through the form,
every page laid out within the width (tables scroll in their own box), no console error, a viewer's
page without the admin links, a wrong password and a lockout as a person sees them, and logout.
Screenshots kept in test-artifacts/ (out of git)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syndicator import access
from syndicator.accounts import AuditEntry, Role
from syndicator.web import admin
from tests.browserkit import OVERFLOWING, phone_page
from tests.conftest import ROOT
from tests.consolekit import PASSWORD, make_account
from tests.subscribekit import Site, running_site

ARTIFACTS = ROOT / "test-artifacts"
# every section of the nav, as an admin sees it
SECTIONS = [
    path for name, path in admin.PATHS.items() if not name.startswith(("api_", "account_")) and name not in (
        "login", "logout", "me")
]  # fmt: skip
pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    ARTIFACTS.mkdir(exist_ok=True)
    with running_site(f"sqlite:///{tmp_path / 'store.db'}", tmp_path) as running:
        make_account(running.store, "nguyen.van.an", Role.ADMIN, running.clock())
        make_account(running.store, "cuong", Role.VIEWER, running.clock())
        for number in range(30):  # long audit lines: an address, a long detail
            access.record(
                running.store,
                AuditEntry(running.clock(), "cli:quantri", "account.add", f"tai-khoan-{number}",
                           "role=viewer " * 8, "2001:db8:85a3::8a2e:370:7334"),
            )  # fmt: skip
        yield running


def _log_in(page: Any, site: Site, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{site.url}/admin/")
    assert page.url.endswith("/admin/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("form button[type=submit]")


@pytest.mark.parametrize("width", [390, 1280])
def test_an_admin_logs_in_sees_every_page_within_the_width_and_logs_out(site: Site, width: int) -> None:
    errors: list[str] = []
    with phone_page(width=width) as page:
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{site.url}/admin/login")
        assert page.evaluate(OVERFLOWING) == []
        page.screenshot(path=str(ARTIFACTS / f"console-login-{width}.png"), full_page=True)
        _log_in(page, site, "nguyen.van.an")
        page.wait_for_url(f"{site.url}/admin/")
        for path in (*SECTIONS, "/admin/?lang=en", "/admin/subscribers?lang=en"):
            page.goto(f"{site.url}{path}")
            assert page.evaluate(OVERFLOWING) == [], path
            name = path.strip("/").replace("/", "-").replace("?", "").replace("=", "-")
            page.screenshot(path=str(ARTIFACTS / f"console-{name}-{width}.png"), full_page=True)
        page.goto(f"{site.url}/admin/?lang=vi")
        page.click("form.signed-in button")
        page.wait_for_url(f"{site.url}/admin/login")
        page.goto(f"{site.url}/admin/")
        assert page.url.endswith("/admin/login")  # signed out
    assert errors == []


def test_a_viewer_sees_no_admin_links_and_is_refused_an_admin_page(site: Site) -> None:
    with phone_page() as page:
        _log_in(page, site, "cuong")
        page.wait_for_url(f"{site.url}/admin/")
        assert page.locator("a[href='/admin/audit']").count() == 0
        answer = page.goto(f"{site.url}/admin/audit")
        assert answer is not None and answer.status == 403
        assert "Không được phép" in page.inner_text("h1")


def test_a_wrong_password_then_a_lockout_as_a_person_sees_them(site: Site) -> None:
    with phone_page() as page:
        for _ in range(access.FAILURES_PER_USERNAME):
            _log_in(page, site, "cuong", "không phải mật khẩu")
            page.wait_for_selector("p.error")
            assert "không đúng" in page.inner_text("p.error")
        _log_in(page, site, "cuong")
        page.wait_for_selector("p.error")
        assert "thử lại sau 15 phút" in page.inner_text("p.error")
        assert page.evaluate(OVERFLOWING) == []
        page.screenshot(path=str(ARTIFACTS / "console-locked-390.png"), full_page=True)
