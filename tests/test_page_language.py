"""The language of a page: `?lang=` (remembered in a cookie), then the cookie, then Accept-Language,
then the site's; said by <html lang>, Content-Language and Vary on every page, error pages too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from syndicator.web import language
from tests.pagekit import serving_samples


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en-GB,en;q=0.9", "en"),
        ("vi-VN", "vi"),
        ("*", "vi"),
        ("fr, en;q=0.5", "en"),
        ("en;q=0.2, vi;q=0.8", "vi"),
        ("vi;q=0, en;q=0.1", "en"),  # q=0 refuses
        ("EN-us", "en"),
        ("fr, de", "vi"),
        ("en;q=abc, vi;q=0.5", "vi"),  # a malformed q is no preference
        ("*;q=0.9, en;q=0.8", "vi"),
        (",,;;", "vi"),
    ],
)
def test_accept_language_is_ranked_by_quality(header: str, expected: str) -> None:
    assert language.accepted(header, "vi") == expected


def test_the_order_of_choice_is_query_cookie_header_default() -> None:
    assert language.chosen("en", "vi", "vi", "vi") == "en"
    assert language.chosen(None, "en", "vi", "vi") == "en"
    assert language.chosen("fr", "en", "vi", "vi") == "en"  # an invalid query is passed over
    assert language.chosen(None, "xx", "en", "vi") == "en"
    assert language.chosen(None, None, None, "en") == "en"
    assert language.chosen(None, None, "", "vi") == "vi"


def test_the_site_language_maps_to_a_catalogue() -> None:
    assert language.site_language("vi-VN") == "vi"
    assert language.site_language("en") == "en"
    assert language.site_language("fr") == "vi"


def test_vary_is_merged_not_replaced() -> None:
    assert language.merged_vary({"vary": "Origin, cookie"}) == "Origin, cookie, Accept-Language"
    assert language.merged_vary({}) == "Accept-Language, Cookie"


@pytest.fixture
def site(database_url: str, tmp_path: Path, now: datetime) -> Iterator[tuple[str, str, str]]:
    with serving_samples(database_url, tmp_path, now) as served:
        yield served


def _get(url: str, **kwargs: object) -> httpx.Response:
    return httpx.get(url, follow_redirects=False, **kwargs)  # type: ignore[arg-type]


def _says(response: httpx.Response, lang: str) -> None:
    assert f'<html lang="{lang}">' in response.text
    assert response.headers["content-language"] == lang
    vary = {v.strip().lower() for v in response.headers["vary"].split(",")}
    assert {"accept-language", "cookie"} <= vary


def test_every_page_says_its_language(site: tuple[str, str, str]) -> None:
    url, article, category = site
    for path, status in [("/", 200), (article, 200), (category, 200), ("/subscribe", 200), ("/nope", 404)]:
        vi = _get(url + path)
        assert vi.status_code == status, path
        _says(vi, "vi")
        en = _get(url + path, headers={"accept-language": "en-GB,en;q=0.9"})
        _says(en, "en")
        assert '<a href="?lang=vi" hreflang="vi" lang="vi">Tiếng Việt</a>' in en.text, path


def test_an_english_page_has_the_english_words_and_a_link_back(site: tuple[str, str, str]) -> None:
    url, _, _ = site
    en = _get(url + "/?lang=en")
    assert "RSS, Atom and JSON Feed for every category:" in en.text
    assert '<a href="?lang=vi" hreflang="vi" lang="vi">Tiếng Việt</a>' in en.text
    vi = _get(url + "/")
    assert '<a href="?lang=en" hreflang="en" lang="en">English</a>' in vi.text
    assert "Nguồn tin RSS, Atom và JSON Feed cho mọi chuyên mục:" in vi.text


def test_the_dates_of_a_page_follow_its_language(site: tuple[str, str, str], now: datetime) -> None:
    url, article, _ = site
    weekday = (now - timedelta(days=1)).strftime("%A")  # the C locale's names are English
    vi = _get(url + article)
    en = _get(url + article + "?lang=en")
    assert "Thứ" in vi.text or "Chủ nhật" in vi.text
    assert "Thứ" not in en.text
    assert any(
        day in en.text
        for day in (weekday, "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    )


def test_query_sets_the_cookie_which_then_wins_over_the_header(site: tuple[str, str, str]) -> None:
    url, _, _ = site
    chosen = _get(url + "/?lang=en", headers={"accept-language": "vi"})
    _says(chosen, "en")
    cookie = chosen.headers["set-cookie"]
    assert cookie.startswith("lang=en;")
    attributes = {a.strip().lower() for a in cookie.split(";")}
    assert {"path=/", "samesite=lax", "secure", "max-age=31536000"} <= attributes
    remembered = _get(url + "/", headers={"accept-language": "vi"}, cookies={"lang": "en"})
    _says(remembered, "en")
    assert "set-cookie" not in remembered.headers  # only ?lang= sets it
    back = _get(url + "/?lang=vi", cookies={"lang": "en"})
    _says(back, "vi")
    assert back.headers["set-cookie"].startswith("lang=vi;")


def test_an_invalid_choice_is_ignored(site: tuple[str, str, str]) -> None:
    url, _, _ = site
    response = _get(url + "/?lang=fr", headers={"accept-language": "en"}, cookies={"lang": "<x>"})
    assert response.status_code == 200
    _says(response, "en")
    assert "set-cookie" not in response.headers


def test_a_cached_page_still_varies(site: tuple[str, str, str]) -> None:
    url, _, _ = site
    response = _get(url + "/")
    assert response.headers["cache-control"].startswith("public")
    _says(response, "vi")


def test_form_and_error_pages_of_the_subscription_say_it_too(site: tuple[str, str, str]) -> None:
    url, _, _ = site
    form = _get(url + "/subscribe?lang=en")
    _says(form, "en")
    assert form.headers["cache-control"] == "no-store"
    bad = _get(url + "/preferences/not-a-token", cookies={"lang": "en"})
    assert bad.status_code == 400
    _says(bad, "en")
