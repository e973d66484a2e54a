"""Mails on a 390 px wide phone, in Chromium (Debian's, driven by playwright): a digest and an immediate
mail whose title, summary and link hold words longer than the screen (a title with no spaces made the
digest 2,697 px wide) wrap instead of scrolling sideways. The HTML is the one a recipient gets: the CSS
inlined by css-inline, no <style> left. Screenshots kept in test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from syndicator.mail.composer import MailComposer
from syndicator.mail.digests import preview
from syndicator.model import Frequency
from syndicator.store import Store
from tests.browserkit import OVERFLOWING, phone_page
from tests.conftest import ROOT
from tests.factories import publish
from tests.mailkit import IN_WINDOW, RUN_AT, THONG_BAO, make_settings

ARTIFACTS = ROOT / "test-artifacts"
WIDTH = 390
LONG_WORD = "Đườngdài" * 38  # 304 letters, not one break
LONG_ID = "bai-co-dia-chi-rat-dai-" + "khong-ngat-" * 20

pytestmark = pytest.mark.browser


@pytest.fixture
def page() -> Iterator[Any]:
    with phone_page(WIDTH) as tab:
        yield tab


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    settings = make_settings(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)
    opened = Store.open(settings.database_url, settings.categories)
    try:
        publish(
            opened,
            LONG_ID,
            THONG_BAO,
            IN_WINDOW,
            title=f"Thông báo {LONG_WORD}",
            summary=f"Tóm tắt {LONG_WORD} https://thoxuan.thanhhoa.gov.vn/{'thu-muc-khong-ngat/' * 12}",
        )
        publish(opened, "binh-thuong", THONG_BAO, IN_WINDOW.replace(hour=10), title="Lịch tiếp công dân")
        yield opened
    finally:
        opened.close()


def fits(page: Any, html: str, path: Path, name: str) -> None:
    """The mail opened as a file: no wider than the phone, and no element laid out past its edge."""
    assert "<style" not in html and "overflow-wrap" in html  # what a client gets: the CSS inlined
    path.write_text(html, encoding="utf-8")
    page.goto(path.as_uri())
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"phone-mail-{name}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, name
    assert page.evaluate(OVERFLOWING) == [], name


def test_a_digest_with_long_words_fits_a_phone(page: Any, store: Store, tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)
    found = preview(store, MailComposer(settings), Frequency.DAILY, RUN_AT.astimezone(UTC), None)
    assert found is not None and found[2] == 2
    html = found[1]
    assert LONG_WORD in html and f"/a/{LONG_ID}" in html
    fits(page, html, tmp_path / "digest.html", "digest")
    # the title wrapped onto many lines inside the column rather than running on
    title = page.locator(f"a.title[href$='/a/{LONG_ID}']")
    assert title.evaluate("a => a.getBoundingClientRect().height") > 5 * 16


def test_an_immediate_mail_with_long_words_fits_a_phone(page: Any, store: Store, tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)
    (article,) = [a for a in store.articles(RUN_AT.astimezone(UTC)) if a.id == LONG_ID]
    mail = MailComposer(settings).renderer.article(article)
    fits(page, mail.html, tmp_path / "article.html", "article")
