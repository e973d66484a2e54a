"""Every kind of page on a 390 px wide phone, in Chromium (Debian's, driven by playwright): no horizontal
scrolling, even with an article that tries (a 300-letter word, a long address, a 12-column table, a
2400 px image, a long preformatted line), and no justified text. Screenshots kept in test-artifacts/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from syndicator.ingest.importer import import_paths
from tests.browserkit import JUSTIFIED, OVERFLOWING, phone_page
from tests.conftest import ROOT
from tests.smtp_server import smtp_server
from tests.subscribekit import Site, link, running_site

ARTIFACTS = ROOT / "test-artifacts"
WIDTH = 390
HOSTILE = "bai-thu-thach-man-hinh-hep"
LONG_WORD = "Đườngdài" * 38  # 304 letters, not one break
LONG_URL = "https://thoxuan.thanhhoa.gov.vn/" + "/".join(
    f"thu-muc-so-{i}-khong-co-cho-ngat" for i in range(12)
)

pytestmark = pytest.mark.browser


# Elements laid out wider than the page, and text set justified: both must stay empty.
def hostile_body() -> str:
    head = "".join(f"<th>Cột số {i}</th>" for i in range(1, 13))
    row = "".join(f"<td>Số liệu của cột {i} năm 2020</td>" for i in range(1, 13))
    paragraph = (
        "Ủy ban nhân dân huyện Thọ Xuân thông báo lịch tiếp công dân định kỳ của lãnh đạo huyện, "
        "đề nghị các cơ quan, đơn vị và nhân dân biết, liên hệ theo địa chỉ dưới đây. "
    ) * 4
    return (
        f"<p>{paragraph}</p>"
        f"<p>{LONG_WORD}</p>"
        f'<p>Xem chi tiết: <a href="{LONG_URL}">{LONG_URL}</a></p>'
        f"<table><thead><tr>{head}</tr></thead><tbody><tr>{row}</tr><tr>{row}</tr></tbody></table>"
        '<figure><img src="/static/favicon.svg" width="2400" height="1600" alt="Ảnh rất lớn">'
        f"<figcaption>{LONG_WORD}</figcaption></figure>"
        f"<pre>{'mã_số_văn_bản_' * 40}</pre>"
        f"<ul><li>{LONG_WORD}</li></ul><blockquote><p>{LONG_WORD}</p></blockquote>"
    )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    ARTIFACTS.mkdir(exist_ok=True)
    with (
        smtp_server() as smtp,
        running_site(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, smtp=smtp) as site,
    ):
        line = {
            "id": HOSTILE,
            "title": f"Bài thử thách màn hình hẹp {LONG_WORD}",
            "category": "Thông báo",
            "published_at": (site.clock() - timedelta(hours=1)).isoformat(),
            "body_html": hostile_body(),
            "summary": f"Tóm tắt {LONG_WORD}",
            "author": LONG_WORD[:200],
            "office": LONG_WORD[:300],
            "url": LONG_URL,
        }
        source = tmp_path / "hostile.jsonl"
        source.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
        report = import_paths(site.store, [source], site.clock(), site.settings.tz)
        assert report.failed == 0
        yield site


@pytest.fixture
def page(site: Site) -> Iterator[Any]:
    with phone_page(WIDTH) as tab:
        yield tab


def fits(page: Any, name: str) -> None:
    """The page as it stands: no wider than the phone, nothing justified; its screenshot kept."""
    page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, name
    assert page.evaluate(OVERFLOWING) == [], name
    assert page.evaluate(JUSTIFIED) == [], name


def test_reading_pages_fit_a_phone(page: Any, site: Site) -> None:
    page.goto(site.url + "/")
    assert page.locator(f"a[href='/a/{HOSTILE}']").count() == 1  # the hostile title is listed
    fits(page, "home")
    page.goto(site.url + "/#nguon-tin")  # the feed directory
    fits(page, "feeds")
    page.goto(site.url + "/c/thong-bao")
    fits(page, "category")

    page.goto(f"{site.url}/a/{HOSTILE}")
    fits(page, "article-hostile")
    # the table scrolls inside its own box, the picture is shrunk to the column, prose is not justified
    table = page.locator("article .body table")
    assert table.evaluate("t => t.scrollWidth > t.clientWidth && t.clientWidth <= 390")
    assert page.locator("article .body img").evaluate("i => i.getBoundingClientRect().width") <= WIDTH
    assert page.locator("article .body p").first.evaluate("p => getComputedStyle(p).textAlign") != "justify"
    assert page.locator("article .body p").count() >= 3

    page.goto(site.url + "/")
    page.locator("li.article a.title").nth(1).click()  # a sample article
    assert "/a/" in page.url and HOSTILE not in page.url
    fits(page, "article")


def test_subscription_and_error_pages_fit_a_phone(page: Any, site: Site) -> None:
    page.goto(site.url + "/subscribe")
    fits(page, "subscribe")
    page.get_by_label("Địa chỉ email").fill("nguoi.dan@example.vn")
    page.get_by_role("button", name="Đăng ký nhận tin").click()
    page.locator("h1").wait_for()
    fits(page, "subscribe-sent")

    assert site.deliver().sent == 1
    page.goto(link(site.received(1)[0].message(), "/confirm/"))
    fits(page, "confirm")
    page.get_by_role("button", name="Xác nhận đăng ký").click()
    page.get_by_text("Đăng ký thành công").wait_for()
    fits(page, "confirmed")

    person = site.person("nguoi.dan@example.vn")
    assert person is not None
    page.goto(f"{site.url}/preferences/{site.link_token('preferences', person)}")
    fits(page, "preferences")
    page.goto(f"{site.url}/unsubscribe/{site.link_token('unsubscribe', person)}")
    fits(page, "unsubscribe")

    for name, path in {
        "not-found": "/c/khong-co-chuyen-muc-nay",
        "no-article": f"/a/{'khong-co' * 15}",
        "bad-link": f"/confirm/{'x' * 300}",
    }.items():
        answer = page.goto(site.url + path)
        assert answer is not None and answer.status in (400, 404), (path, answer.status)
        fits(page, name)
