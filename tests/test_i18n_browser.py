"""The home and subscribe pages in Vietnamese and English, in Chromium at a phone's 390 px and a
desktop's 1280 px: each in the language asked for, nothing wider than the window. Screenshots are
kept in test-artifacts/ (not in git) for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browserkit import OVERFLOWING, phone_page
from tests.conftest import ROOT
from tests.subscribekit import Site, running_site

ARTIFACTS = ROOT / "test-artifacts"
BROWSER_LOCALE = {"vi": "vi-VN", "en": "en-US"}
# a word of each page's heading or form in each language: the page is really in that language
SAYS = {
    ("vi", "/"): "Nguồn tin RSS",
    ("en", "/"): "RSS feeds",
    ("vi", "/subscribe"): "Địa chỉ email",
    ("en", "/subscribe"): "Email address",
}

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    ARTIFACTS.mkdir(exist_ok=True)
    tmp_path: Path = tmp_path_factory.mktemp("i18n-browser")
    with running_site(f"sqlite:///{tmp_path / 'store.db'}", tmp_path) as site:
        yield site


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("path", ["/", "/subscribe"])
def test_page_renders_in_its_language_without_overflow(site: Site, lang: str, width: int, path: str) -> None:
    with phone_page(width, 900, locale=BROWSER_LOCALE[lang]) as page:
        answer = page.goto(site.url + path)
        assert answer is not None and answer.status == 200
        assert answer.headers["content-language"] == lang
        assert page.evaluate("document.documentElement.lang") == lang
        assert SAYS[(lang, path)] in page.inner_text("body")
        name = "home" if path == "/" else "subscribe"
        page.screenshot(path=str(ARTIFACTS / f"lang-{lang}-{name}-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.evaluate(OVERFLOWING) == []


def test_the_footer_link_switches_language_and_the_choice_is_remembered(site: Site) -> None:
    with phone_page(390, 844, locale="vi-VN") as page:
        page.goto(site.url + "/")
        assert page.evaluate("document.documentElement.lang") == "vi"
        page.get_by_role("link", name="English").click()
        page.wait_for_url("**lang=en**")
        assert page.evaluate("document.documentElement.lang") == "en"
        page.goto(site.url + "/subscribe")  # no ?lang= now: the cookie remembers, over vi-VN
        assert page.evaluate("document.documentElement.lang") == "en"
        page.get_by_role("link", name="Tiếng Việt").click()
        page.wait_for_url("**lang=vi**")
        page.goto(site.url + "/")
        assert page.evaluate("document.documentElement.lang") == "vi"
