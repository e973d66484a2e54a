"""What a page marks for readers and screen readers: data in the site's language (titles, summaries,
bodies, the site's name) says `lang` on an English page; the confirm pages say one whole sentence per
frequency and per (all categories, some); a wait is counted in seconds with a plural; `?lang=` and the
cookie in any case; an `Accept-Language` weight above 1 is no preference. Pages through uvicorn on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import lxml.html
import pytest

from syndicator import i18n
from syndicator.templating import environment
from syndicator.web import language
from syndicator.web.subscribe import please_wait
from tests.pagekit import serving_samples

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
EN = {"accept-language": "en-GB,en;q=0.9"}


@pytest.fixture
def site(database_url: str, tmp_path: Path, now: datetime) -> Iterator[tuple[str, str, str]]:
    with serving_samples(database_url, tmp_path, now) as served:
        yield served


def _tree(response: httpx.Response) -> Any:
    assert response.status_code == 200
    return lxml.html.fromstring(response.text)


def test_vietnamese_data_on_an_english_page_says_it_is_vietnamese(site: tuple[str, str, str]) -> None:
    url, article, category = site
    page = _tree(httpx.get(url + article, headers=EN))
    assert page.get("lang") == "en"
    (title,) = page.xpath("//article/h1")
    assert title.get("lang") == "vi"
    assert page.xpath("//article//div[@class='body']")[0].get("lang") == "vi"
    assert page.xpath("//header//a[@class='brand']")[0].get("lang") == "vi"
    assert page.xpath("//footer//p[1]/span")[0].get("lang") == "vi"
    for path in ("/", category):
        listing = _tree(httpx.get(url + path, headers=EN))
        titles = listing.xpath("//ul[@class='articles']//a[@class='title']")
        assert titles, path
        assert {t.get("lang") for t in titles} == {"vi"}, path
        summaries = listing.xpath("//ul[@class='articles']//p[@class='summary']")
        assert {s.get("lang") for s in summaries} <= {"vi"}, path


def test_lang_in_the_query_or_cookie_is_case_insensitive(site: tuple[str, str, str]) -> None:
    url, _, _ = site
    chosen = httpx.get(url + "/?lang=EN")
    assert chosen.headers["content-language"] == "en"
    assert chosen.cookies.get("lang") == "en"
    assert httpx.get(url + "/", cookies={"lang": "En"}).headers["content-language"] == "en"
    assert httpx.get(url + "/?lang=xx", headers=EN).headers["content-language"] == "en"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en;q=1.5, vi;q=0.5", "vi"),  # RFC 9110: a weight is at most 1, so q=1.5 is no preference
        ("en;q=1.0, vi;q=0.5", "en"),
        ("en;q=1.000", "en"),
        ("en;q=1.001", "vi"),
        ("en;q=2", "vi"),
        ("en;q=0.5555", "vi"),  # at most three decimals
        ("vi;q=0.3, en;q=0.999", "en"),
    ],
)
def test_a_weight_above_one_is_invalid(header: str, expected: str) -> None:
    assert language.accepted(header, "vi") == expected


def test_lang_values_are_read_in_any_case() -> None:
    assert language.explicit("EN") == "en"
    assert language.explicit(" Vi ") == "vi"
    assert language.explicit("fr") is None
    assert language.chosen("EN", None, "vi", "vi") == "en"
    assert language.chosen(None, "EN", "vi", "vi") == "en"


def _confirm(name: str, frequency: str, names: list[str]) -> str:
    site = SimpleNamespace(name="UBND Quận 1", description="Cổng thông tin", language="vi")
    person = SimpleNamespace(email="an@example.vn", frequency=SimpleNamespace(value=frequency))
    html = (
        environment(TZ)
        .get_template(f"pages/{name}.html")
        .render(site=site, base_url="", subscribe_url="/dang-ky", wanted=person, person=person, names=names)
    )
    (sentence,) = [
        p for p in lxml.html.fromstring(html).xpath("//main/p") if "an@example.vn" in p.text_content()
    ]
    return " ".join(sentence.text_content().split())


SENTENCES = {
    ("immediate", True): (
        "an@example.vn sẽ nhận tin ngay khi có tin mới của các chuyên mục: Xã hội, Y tế.",
        "an@example.vn will receive news as soon as it is published, from these categories: Xã hội, Y tế.",
    ),
    ("immediate", False): (
        "an@example.vn sẽ nhận tin ngay khi có tin mới của tất cả chuyên mục.",
        "an@example.vn will receive news from all categories as soon as it is published.",
    ),
    ("daily", True): (
        "an@example.vn sẽ nhận tin hằng ngày của các chuyên mục: Xã hội, Y tế.",
        "an@example.vn will receive a daily digest of these categories: Xã hội, Y tế.",
    ),
    ("daily", False): (
        "an@example.vn sẽ nhận tin hằng ngày của tất cả chuyên mục.",
        "an@example.vn will receive a daily digest of all categories.",
    ),
    ("weekly", True): (
        "an@example.vn sẽ nhận tin hằng tuần của các chuyên mục: Xã hội, Y tế.",
        "an@example.vn will receive a weekly digest of these categories: Xã hội, Y tế.",
    ),
    ("weekly", False): (
        "an@example.vn sẽ nhận tin hằng tuần của tất cả chuyên mục.",
        "an@example.vn will receive a weekly digest of all categories.",
    ),
}


@pytest.mark.parametrize("name", ["confirm", "confirmed"])
@pytest.mark.parametrize(("frequency", "some"), list(SENTENCES))
def test_the_confirm_pages_say_one_whole_sentence(name: str, frequency: str, some: bool) -> None:
    names = ["Xã hội", "Y tế"] if some else []
    vi, en = SENTENCES[frequency, some]
    assert _confirm(name, frequency, names) == "Địa chỉ " + vi
    with i18n.using("en"):
        assert _confirm(name, frequency, names) == en


def test_the_wait_is_counted_with_a_plural() -> None:
    assert please_wait(1) == "Vui lòng thử lại sau 1 giây."
    assert please_wait(30) == "Vui lòng thử lại sau 30 giây."
    with i18n.using("en"):
        assert please_wait(1) == "Please try again in 1 second."
        assert please_wait(30) == "Please try again in 30 seconds."
