"""Pages in English: category names of `[categories.en]` (else the Vietnamese ones), in the order of
the names shown; English dates; error pages in the page's language; feeds, their plain-text errors
and the OPML in the site's language, saying which it is; the footer's language link keeping the
page's other parameters. Through uvicorn, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import httpx
import lxml.html
import pytest
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syndicator import dates, links
from syndicator.config import Settings, load_settings
from syndicator.ingest.importer import import_paths
from syndicator.model import Article
from syndicator.service import Service, assemble
from syndicator.store import Store
from syndicator.store.database import Availability
from syndicator.web.app import EXCEPTION_HANDLERS, create_app, web_state
from tests.conftest import EXAMPLES, ROOT
from tests.factories import FakeClock
from tests.live import live_server
from tests.relay import Relay

ENGLISH = {"thong-bao": "Announcements", "kinh-te": "Economy", "y-te": "Health"}
# a Vietnamese display name of the office's, with no English one: English pages show it
OFFICE = {"nong-nghiep": "Nông nghiệp - Nông thôn"}
EN = {"accept-language": "en-GB,en;q=0.9"}


def _settings(database_url: str, tmp_path: Path, **extra: object) -> Settings:
    return load_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret-key-0123456789",
        base_url="https://portal.test",
        categories={**OFFICE, "en": ENGLISH},
        **extra,
    )


@dataclass
class Site:
    url: str
    settings: Settings
    store: Store
    service: Service
    now: datetime

    def first(self, category: str) -> Article:
        return self.store.articles(self.now, category=category, limit=1)[0]


def _open(settings: Settings, now: datetime) -> tuple[Store, Service]:
    store = Store.open(settings.database_url, settings.categories)
    import_paths(
        store, [EXAMPLES, ROOT / "examples" / "articles.jsonl"], now - timedelta(days=1), settings.tz
    )
    return store, assemble(settings, store, FakeClock(now))


@pytest.fixture
def site(database_url: str, tmp_path: Path, now: datetime) -> Iterator[Site]:
    settings = _settings(database_url, tmp_path)
    store, service = _open(settings, now)
    with live_server(create_app(service.services)) as url:
        yield Site(url, settings, store, service, now)
    service.close()
    store.close()


def _get(url: str, **kwargs: object) -> httpx.Response:
    return httpx.get(url, follow_redirects=False, **kwargs)  # type: ignore[arg-type]


def _texts(html: str, xpath: str) -> list[str]:
    return [" ".join(e.text_content().split()) for e in lxml.html.fromstring(html).xpath(xpath)]


# -- category names ---------------------------------------------------------------------------------


def test_the_directory_shows_english_names_in_their_order(site: Site) -> None:
    listed = "//ul[@class='categories']/li/a"
    english = _texts(_get(site.url + "/", headers=EN).text, listed)
    assert english == [
        "Announcements",
        "Cải cách hành chính",
        "Chiến lược - Định Hướng - Quy hoạch",
        "Economy",
        "Health",
        "Nông nghiệp - Nông thôn",  # no English name: the office's Vietnamese one
        "Quốc phòng - An ninh",
        "Tin tức - Sự kiện",
        "Văn hóa - Xã hội",
        "Xây dựng nông thôn mới",
    ]
    vietnamese = _texts(_get(site.url + "/").text, listed)
    assert vietnamese == [
        "Cải cách hành chính",
        "Chiến lược - Định Hướng - Quy hoạch",
        "Kinh tế",
        "Nông nghiệp - Nông thôn",
        "Quốc phòng - An ninh",
        "Thông báo",
        "Tin tức - Sự kiện",
        "Văn hóa - Xã hội",
        "Xây dựng nông thôn mới",
        "Y tế",
    ]


def test_the_latest_news_names_each_articles_category_in_english(site: Site) -> None:
    page = _get(site.url + "/", headers=EN).text
    shown = set(_texts(page, "//ul[@class='articles']//div[@class='meta']/a"))
    assert "Announcements" in shown and "Thông báo" not in shown


def test_a_category_page_and_an_article_in_english(site: Site) -> None:
    page = _get(site.url + links.category_path("thong-bao"), headers=EN)
    assert _texts(page.text, "//h1") == ["Announcements"]
    assert _texts(page.text, "//title") == [f"Announcements - {site.settings.site.name}"]
    description = lxml.html.fromstring(page.text).xpath("//meta[@name='description']/@content")
    assert description == [f"News and announcements in Announcements from {site.settings.site.name}"]
    assert _texts(_get(site.url + links.category_path("thong-bao")).text, "//h1") == ["Thông báo"]
    fallback = _get(site.url + links.category_path("nong-nghiep"), headers=EN)
    assert _texts(fallback.text, "//h1") == ["Nông nghiệp - Nông thôn"]

    article = site.first("kinh-te")
    page = _get(site.url + links.article_path(article.id), headers=EN)
    assert _texts(page.text, "//p[@class='crumb']/a") == ["Economy"]
    titles = lxml.html.fromstring(page.text).xpath("//link[@type='application/rss+xml']/@title")
    assert "Economy (RSS)" in titles


# -- dates ------------------------------------------------------------------------------------------


def test_dates_on_english_pages_are_english(site: Site) -> None:
    article = site.first("thong-bao")
    shown = dates.when(article.published_at, site.settings.tz, "en")
    assert shown.endswith(f"{article.published_at.astimezone(site.settings.tz).year}")
    assert (" AM, " in shown) or (" PM, " in shown)
    for path in ["/", links.category_path("thong-bao"), links.article_path(article.id)]:
        english = _get(site.url + path, headers=EN).text
        assert shown in english, path
        assert dates.when(article.published_at, site.settings.tz, "vi") in _get(site.url + path).text


# -- error pages ------------------------------------------------------------------------------------


def _error(response: httpx.Response, status: int, lang: str, heading: str) -> None:
    assert response.status_code == status
    assert response.headers["content-language"] == lang
    assert f'<html lang="{lang}">' in response.text
    assert _texts(response.text, "//h1") == [heading]


def test_error_pages_in_both_languages(site: Site) -> None:
    gone = site.first("y-te")
    assert site.store.withdraw(gone.id, site.now)
    cases = [
        ("GET", "/nope", 404, "Không tìm thấy trang", "Page not found"),
        ("GET", links.article_path(gone.id), 410, "Nội dung đã được gỡ bỏ", "This content has been removed"),
        ("GET", links.category_path("y-te"), 410, "Nội dung đã được gỡ bỏ", "This content has been removed"),
        ("POST", "/", 405, "Phương thức không được hỗ trợ", "Method not supported"),
    ]
    for method, path, status, vietnamese, english in cases:
        _error(httpx.request(method, site.url + path), status, "vi", vietnamese)
        en = httpx.request(method, site.url + path, headers=EN)
        _error(en, status, "en", english)
        assert "Back to the home page" in en.text


def _fails(request: Request) -> Response:
    raise RuntimeError("a fault of ours")


def test_the_500_page_in_both_languages(site: Site) -> None:
    app = Starlette(routes=[Route("/fails", _fails)], exception_handlers=dict(EXCEPTION_HANDLERS))
    app.state.web = web_state(site.service.services, Availability.of(site.store.engine))
    with live_server(app) as url:
        _error(httpx.get(url + "/fails"), 500, "vi", "Có lỗi xảy ra")
        english = httpx.get(url + "/fails?lang=en")
        _error(english, 500, "en", "Something went wrong")
        assert "The service has run into a problem. Please try again in a few minutes." in english.text


@pytest.fixture
def away(database_url: str, tmp_path: Path, now: datetime) -> Iterator[tuple[str, Relay | Path]]:
    """The site on a database a test can take away: a SQLite file whose folder goes, or PostgreSQL
    through a relay that stops."""
    if database_url.startswith("sqlite"):
        folder = tmp_path / "db"
        folder.mkdir()
        target: Relay | Path = folder
        database_url = f"sqlite:///{folder / 'store.db'}"
    else:
        parsed = make_url(database_url)
        relay = Relay(parsed.host or "127.0.0.1", parsed.port or 5432)
        relay.start()
        target = relay
        relayed = parsed.set(
            host="127.0.0.1", port=relay.port, query={**parsed.query, "connect_timeout": "2"}
        )
        database_url = relayed.render_as_string(hide_password=False)
    store, service = _open(_settings(database_url, tmp_path), now)
    with live_server(create_app(service.services)) as url:
        yield url, target
        if (tmp_path / "db-away").exists():  # back, so the store closes as it would
            shutil.move(tmp_path / "db-away", tmp_path / "db")
    service.close()
    store.close()
    if isinstance(target, Relay) and target.listener is not None:
        target.cut()


def test_the_503_page_in_both_languages_and_feeds_in_the_sites(away: tuple[str, Relay | Path]) -> None:
    url, target = away
    if isinstance(target, Path):
        shutil.move(target, target.parent / "db-away")
    else:
        target.cut()
    _error(httpx.get(url + "/"), 503, "vi", "Hệ thống tạm thời gián đoạn")
    english = httpx.get(url + "/", headers=EN)
    _error(english, 503, "en", "The service is temporarily unavailable")
    assert "Please try again in a few minutes." in english.text
    archive = httpx.get(url + "/feeds/thong-bao/archive/7.atom", headers=EN)  # rendered on demand
    assert archive.status_code == 503
    assert archive.headers["content-language"] == "vi"
    assert archive.text == "Tạm thời không truy cập được, xin thử lại sau.\n"


# -- feeds and OPML: in the site's language, saying so ----------------------------------------------


def test_feed_errors_are_plain_text_in_the_sites_language(site: Site) -> None:
    gone = site.first("y-te")
    assert site.store.withdraw(gone.id, site.now)
    site.service.services.builder.refresh(site.now)
    cases = [
        ("GET", "/feeds/nope.rss", 404, "Không có nguồn tin này."),
        ("POST", "/feeds/all.rss", 405, "Chỉ hỗ trợ GET và HEAD."),
        ("GET", "/feeds/y-te.rss", 410, "Chuyên mục này không còn tin bài nào."),
    ]
    for method, path, status, text in cases:
        response = httpx.request(method, site.url + path, headers=EN, cookies={"lang": "en"})
        assert (response.status_code, response.text) == (status, text + "\n"), path
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["content-language"] == "vi"
        assert "vary" not in response.headers or "accept-language" not in response.headers["vary"].lower()


def test_a_site_in_english_answers_feed_errors_and_opml_in_english(
    database_url: str, tmp_path: Path, now: datetime
) -> None:
    settings = _settings(database_url, tmp_path, site={"language": "en"})
    store, service = _open(settings, now)
    try:
        with live_server(create_app(service.services)) as url:
            missing = httpx.get(url + "/feeds/nope.rss", headers={"accept-language": "vi"})
            assert (missing.status_code, missing.text) == (404, "No such feed.\n")
            assert missing.headers["content-language"] == "en"
            opml = ET.fromstring(httpx.get(url + links.OPML_PATH).content)
            assert opml.findtext("head/title") == f"RSS feeds - {settings.site.name}"
            assert {o.get("language") for o in opml.iter("outline")} == {"en"}
            rss = ET.fromstring(httpx.get(url + links.feed_path("thong-bao", "rss")).content)
            assert rss.findtext("channel/description") == (
                f"News and announcements in Announcements from {settings.site.name}"
            )  # the feed's words and its category's name in the site's language
            assert {o.get("title") for o in opml.iter("outline")} >= {"Announcements", "Tin tức - Sự kiện"}
            home = _get(url + "/", headers={"accept-language": "vi"}).text
            assert _texts(home, "//section[@id='nguon-tin']/h2/span") == ["(tiếng Anh)"]
    finally:
        service.close()
        store.close()


def test_feeds_and_opml_say_their_language(site: Site) -> None:
    rss = ET.fromstring(httpx.get(site.url + links.feed_path("thong-bao", "rss"), headers=EN).content)
    assert rss.findtext("channel/language") == "vi"
    assert rss.findtext("channel/description", "").startswith("Tin bài chuyên mục Thông báo của ")
    atom = ET.fromstring(httpx.get(site.url + links.feed_path("thong-bao", "atom"), headers=EN).content)
    assert atom.get("{http://www.w3.org/XML/1998/namespace}lang") == "vi"
    feed = json.loads(httpx.get(site.url + links.feed_path("thong-bao", "json"), headers=EN).content)
    assert feed["language"] == "vi"

    opml = httpx.get(site.url + links.OPML_PATH, headers=EN, cookies={"lang": "en"})
    root = ET.fromstring(opml.content)
    assert root.findtext("head/title") == f"Nguồn tin RSS - {site.settings.site.name}"
    outlines = list(root.iter("outline"))
    assert len(outlines) == 11 and {o.get("language") for o in outlines} == {"vi"}
    assert "Thông báo" in {o.get("title") for o in outlines}  # the feeds' own names, in their language


def test_the_directory_says_which_language_the_feeds_are_in(site: Site) -> None:
    english = _get(site.url + "/", headers=EN).text
    assert _texts(english, "//section[@id='nguon-tin']/h2/span[@class='language']") == ["(in Vietnamese)"]
    tree = lxml.html.fromstring(english)
    assert set(tree.xpath("//section[@id='nguon-tin']//span[@class='feeds']/a/@hreflang")) == {"vi"}
    vietnamese = _get(site.url + "/").text
    assert _texts(vietnamese, "//section[@id='nguon-tin']/h2/span") == []  # the feeds' own language


# -- the footer's language link ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "lang", "link"),
    [
        ("", "en", "?lang=en"),
        ("trang=2", "en", "?trang=2&lang=en"),
        ("lang=en&trang=2", "vi", "?trang=2&lang=vi"),
        ("c=kinh-te&lang=en&lang=vi&c=y-te", "en", "?c=kinh-te&c=y-te&lang=en"),
        ("q=&x=a+b%26c", "vi", "?q=&x=a+b%26c&lang=vi"),
    ],
)
def test_the_language_link_keeps_the_other_parameters(query: str, lang: str, link: str) -> None:
    assert links.in_language(query, lang) == link


def test_the_footer_links_to_the_same_page_in_the_other_language(site: Site) -> None:
    def footer(response: httpx.Response) -> list[str]:
        tree = lxml.html.fromstring(response.text)
        return list(tree.xpath("//footer//p[@class='language']/a/@href"))

    category = site.url + links.category_path("thong-bao")
    assert footer(_get(category + "?trang=1", headers=EN)) == ["?trang=1&lang=vi"]
    assert footer(_get(category + "?trang=1&lang=vi")) == ["?trang=1&lang=en"]
    assert footer(_get(category + "?lang=en&trang=1")) == ["?trang=1&lang=vi"]
    assert footer(_get(site.url + "/subscribe?c=kinh-te", headers=EN)) == ["?c=kinh-te&lang=vi"]
    missing = _get(category + "?trang=9", headers=EN)  # an error page keeps them too
    assert missing.status_code == 404 and footer(missing) == ["?trang=9&lang=vi"]
    followed = _get(category + "?trang=1&lang=vi", headers=EN)
    assert followed.headers["content-language"] == "vi" and _texts(followed.text, "//h1") == ["Thông báo"]
