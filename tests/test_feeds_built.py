"""Every document the builder serves, from every sample export plus the messy cases, is valid.

Feeds are built the way the service builds them (import -> store -> FeedBuilder), then each one is
checked by the RFC 4287 RELAX NG schema (Atom), by feedparser (bozo == 0), and by the W3C feed
validator's rules as restated in tests/w3crules.py; archive pages included.
"""

from __future__ import annotations

import html
import json
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from syndicator.config import Settings, load_settings
from syndicator.ingest.importer import import_paths
from syndicator.links import archive_path
from syndicator.model import ArticleInput
from syndicator.publish.builder import FeedBuilder
from syndicator.publish.cache import FeedCache
from syndicator.store import Store
from syndicator.store import archives as store_archives
from syndicator.store.channels import ALL
from tests.conftest import DATA, EXAMPLES, ROOT
from tests.factories import article_input
from tests.w3crules import atom_problems, rss_problems

SAMPLE = (EXAMPLES / "001_9685aab5f3c71f64.txt").read_text(encoding="utf-8")


def _messy(folder: Path) -> None:
    """The messy cases of docs/portal-export.md, each as a file an export could really contain."""
    folder.mkdir()
    (folder / "bom.txt").write_bytes(b"\xef\xbb\xbf" + SAMPLE.replace("Thông báo lịch", "BOM: lịch").encode())
    crlf = SAMPLE.replace("Thông báo lịch", "CRLF: lịch").replace("\n", "\r\n")
    (folder / "crlf.txt").write_bytes(crlf.encode())
    nfd = unicodedata.normalize("NFD", SAMPLE.replace("Thông báo lịch", "NFD: lịch"))
    (folder / "nfd.txt").write_text(nfd.replace("\nThông báo\n", "\nTHÔNG  BÁO\n"), encoding="utf-8")
    markup = SAMPLE.replace(
        "Thông báo lịch tiếp công dân", "Giá <b>điện</b> & nước ]]> <script>alert(1)</script>"
    ).replace("Địa điểm:", "Ký hiệu <, &amp; và ]]> là chữ. Địa điểm:")
    (folder / "markup.txt").write_text(markup, encoding="utf-8")
    controls = SAMPLE.replace("Thông báo lịch", "Ký tự\x01điều\x0bkhiển\x1f lịch").replace(
        "Địa điểm", "Đ\x08ịa điểm"
    )
    (folder / "controls.txt").write_text(controls, encoding="utf-8")
    paragraph = "Nội dung rất dài của bài viết, lặp lại nhiều lần để thành một bài thật dài. " * 40
    long_body = SAMPLE.replace("Địa điểm:", ("\n\n".join([paragraph] * 300)) + "\n\nĐịa điểm:")
    (folder / "long.txt").write_text(long_body.replace("Thông báo lịch", "Bài dài: lịch"), encoding="utf-8")
    dash = SAMPLE.replace("\nThông báo\n", "\nTin tức-Sự  kiện\n").replace("Thông báo lịch", "Dấu gạch: lịch")
    (folder / "dash.txt").write_text(dash, encoding="utf-8")
    # failures that must not break anything: no date, bad date, not UTF-8
    (folder / "nodate.txt").write_text(SAMPLE.replace("Đăng lúc", "Đăng"), encoding="utf-8")
    (folder / "baddate.txt").write_text(
        SAMPLE.replace("08:15:00 28/12/2020", "08:15 31/02/2020"), encoding="utf-8"
    )
    (folder / "latin1.txt").write_bytes(SAMPLE.encode("utf-8").replace("ă".encode(), b"\xe3"))


@pytest.fixture
def built(
    database_url: str, tmp_path: Path, now: datetime
) -> Iterator[tuple[FeedBuilder, FeedCache, Store, datetime]]:
    settings: Settings = load_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret-key-0123456789",
        base_url="https://thoxuan.example.gov.vn",
        websub_hub="https://hub.example.org/",
        feeds={"max_entries": 4, "archive_page_size": 5},
    )
    _messy(tmp_path / "messy")
    store = Store.open(settings.database_url)
    report = import_paths(
        store, [EXAMPLES, ROOT / "examples" / "articles.jsonl", tmp_path / "messy"], now, settings.tz
    )
    assert report.failed == 3  # nodate, baddate, latin1: reported, and nothing else lost
    later = now + timedelta(days=30)  # the JSON Lines articles of March 2021 are visible too
    cache = FeedCache()
    builder = FeedBuilder(store, settings, cache)
    builder.refresh(later)
    yield builder, cache, store, later
    store.close()


def _check(path: str, body: bytes, location: str) -> None:
    if path.endswith(".json"):
        document = json.loads(body)
        assert document["version"] == "https://jsonfeed.org/version/1.1"
        assert document["feed_url"] == location
        for item in document["items"]:
            assert item["id"] and item["url"] and item["content_html"] and item["date_published"]
        return
    if path.endswith(".opml"):
        etree.fromstring(body)
        return
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
    if path.endswith(".atom"):
        schema = etree.RelaxNG(etree.parse(str(DATA / "atom.rng")))
        assert schema.validate(etree.fromstring(body)), (path, schema.error_log)
        assert atom_problems(body, location) == [], path
    else:
        assert rss_problems(body, location) == [], path


def test_every_built_document_is_valid(built: tuple[FeedBuilder, FeedCache, Store, datetime]) -> None:
    builder, cache, store, now = built
    paths = cache.paths()
    assert "/feeds/all.atom" in paths and "/feeds/thong-bao.rss" in paths and "/feeds.opml" in paths
    base = "https://thoxuan.example.gov.vn"
    for path in paths:
        doc = cache.get(path)
        assert doc is not None
        _check(path, doc.body, base + path)

    pages = 0
    for key in [ALL, *(c.category.slug for c in store.categories(now) if c.visible)]:
        for page in builder.archive_pages(key, now):
            pages += 1
            _check(page.path, page.body, base + page.path)
    assert pages >= 3
    assert builder.archive_page(ALL, 1, now) is not None
    assert cache.get(archive_path(ALL, 1)) is None  # archive pages are rendered on demand


def test_messy_exports_read_as_the_same_text(built: tuple[FeedBuilder, FeedCache, Store, datetime]) -> None:
    builder, cache, store, now = built
    names = {c.category.slug: c.category.name for c in store.categories(now)}
    # "THÔNG  BÁO" in NFD and "Tin tức-Sự  kiện" joined their categories instead of making new ones
    assert "thong-bao" in names and "tin-tuc-su-kien" in names
    assert len([s for s in names if s.startswith("thong")]) == 1
    doc = cache.get("/feeds/thong-bao.atom")
    assert doc is not None
    documents = [doc.body, *(page.body for page in builder.archive_pages("thong-bao", now))]
    # a title that looks like markup travels as escaped HTML (type="html"), which readers show as text
    titles = [html.unescape(entry.title) for body in documents for entry in feedparser.parse(body).entries]
    assert any(t.startswith("Giá <b>điện</b> & nước ]]> <script>alert(1)</script> định kỳ") for t in titles)
    for body in documents:
        text = body.decode("utf-8")
        assert "<script>" not in text and "\x01" not in text and "\x0b" not in text
    controls = store.article("controls")
    assert (
        controls is not None
        and controls.title
        == "Ký tựđiềukhiển lịch tiếp công dân định kỳ tháng 01/2021 của Chủ tịch UBND huyện"
    )
    long = store.article("long")
    assert long is not None and len(long.body_html) > 900_000  # about 1 MB, kept whole
    nfd = store.article("nfd")
    assert nfd is not None and unicodedata.is_normalized("NFC", nfd.title)


# --- RFC 5005 archive pages that hold ------------------------------------------------------------------

BASE = "https://thoxuan.example.gov.vn"
START = datetime(2020, 1, 1, 1, 0, tzinfo=UTC)


def _article(number: int, published: datetime) -> ArticleInput:
    """Article `number` of the archive tests (ids sort as the numbers do)."""
    return article_input(f"bai-{number:04d}", published=published)


class Channel:
    """A store with `count` articles an hour apart, and a builder as the service runs it."""

    def __init__(
        self, database_url: str, tmp_path: Path, count: int, max_entries: int, page_size: int
    ) -> None:
        self.settings = load_settings(
            database_url=database_url,
            var_dir=tmp_path / "var",
            secret_key="test-secret-key-0123456789",
            base_url=BASE,
            feeds={"max_entries": max_entries, "archive_page_size": page_size},
        )
        self.store = Store.open(self.settings.database_url)
        self.now = START + timedelta(days=365)
        self.store.write([_article(i, START + timedelta(hours=i)) for i in range(count)], self.now)
        self.cache = FeedCache()
        self.builder = FeedBuilder(self.store, self.settings, self.cache)
        self.builder.refresh(self.now)

    def later(self, minutes: int = 5) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now

    def feed(self, key: str = "thong-bao") -> bytes:
        doc = self.cache.get(f"/feeds/{key}.atom")
        assert doc is not None
        return doc.body

    def pages(self, key: str = "thong-bao") -> list[bytes]:
        """Every archive page, read over the links from the feed (prev-archive) back to page 1."""
        found: list[bytes] = []
        body = self.feed(key)
        while True:
            links = [link.href for link in feedparser.parse(body).feed.links if link.rel == "prev-archive"]
            if not links:
                return found[::-1]
            number = int(links[0].rsplit("/", 1)[-1].removesuffix(".atom"))
            doc = self.builder.archive_page(key, number, self.now)
            assert doc is not None, number
            assert doc.path == archive_path(key, number)
            _check(doc.path, doc.body, BASE + doc.path)
            body = doc.body
            found.append(body)


def _ids(body: bytes) -> list[str]:
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return [entry.id.rsplit("/", 1)[-1] for entry in parsed.entries]


@pytest.fixture
def channel(database_url: str, tmp_path: Path) -> Iterator[Channel]:
    made = Channel(database_url, tmp_path, count=20, max_entries=4, page_size=5)
    yield made
    made.store.close()


def test_feed_and_archive_pages_hold_every_article_exactly_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_archives, "CHUNK", 7)  # archived in several inserts, as a large store is
    made = Channel(database_url, tmp_path, count=130, max_entries=20, page_size=50)
    try:
        for key in ("thong-bao", ALL):
            feed = _ids(made.feed(key))
            pages = [_ids(body) for body in made.pages(key)]
            assert [len(p) for p in pages] == [50, 50, 10] and len(feed) == 20
            everything = feed + [i for page in pages for i in page]
            assert sorted(everything) == [f"bai-{i:04d}" for i in range(130)]  # 130 entries, none twice
            assert set(pages[0]) == {f"bai-{i:04d}" for i in range(50)}  # page 1 holds the oldest
            assert feed[0] == "bai-0129"  # the feed the newest
            static = [doc.body for doc in made.builder.archive_pages(key, made.now)]
            assert static == made.pages(key)  # the static tree writes the same pages
    finally:
        made.store.close()


def test_withdrawing_an_old_article_changes_only_its_own_page(channel: Channel) -> None:
    before = channel.pages()
    feed = channel.feed()
    assert [len(_ids(body)) for body in before] == [5, 5, 5, 1]
    withdrawn = _ids(before[1])[2]
    assert channel.store.withdraw(withdrawn, channel.later())
    channel.builder.refresh(channel.now)
    after = channel.pages()
    assert after[0] == before[0] and after[2] == before[2] and after[3] == before[3]  # byte for byte
    assert _ids(after[1]) == [i for i in _ids(before[1]) if i != withdrawn]  # that page is one shorter
    assert channel.feed() == feed

    number = int(withdrawn.removeprefix("bai-"))  # imported again: it returns to its page
    channel.store.write([_article(number, START + timedelta(hours=number))], channel.later())
    channel.builder.refresh(channel.now)
    back = channel.pages()
    assert _ids(back[1]) == _ids(before[1]) and back[0] == before[0] and back[2] == before[2]
    assert channel.feed() == feed


def test_a_backdated_arrival_changes_no_full_page(channel: Channel) -> None:
    before = channel.pages()
    feed = channel.feed()
    # older than every article: by date it belongs on page 1, but page 1 is full and stays as it was
    channel.store.write([_article(900, START - timedelta(days=30))], channel.later())
    channel.builder.refresh(channel.now)
    after = channel.pages()
    assert after[:3] == before[:3]
    assert sorted(_ids(after[3])) == ["bai-0015", "bai-0900"]  # the newest page, which had room
    assert channel.feed() == feed

    # once the newest page is full, the next one opens: the full pages keep their entries
    channel.store.write(
        [_article(901 + i, START - timedelta(days=20 - i)) for i in range(4)], channel.later()
    )
    channel.builder.refresh(channel.now)
    again = channel.pages()
    assert [len(_ids(body)) for body in again] == [5, 5, 5, 5, 1]
    assert again[:3] == before[:3]  # byte for byte
    # page 4, full now, kept its entries and gained the one link a full page ever gains: next-archive
    assert sorted(_ids(again[3])) == ["bai-0015", "bai-0900", "bai-0901", "bai-0902", "bai-0903"]
    assert _ids(again[4]) == ["bai-0904"]


def test_every_article_stays_once_through_withdrawals_returns_and_new_articles(channel: Channel) -> None:
    visible = {f"bai-{i:04d}" for i in range(20)}

    def assert_once() -> None:
        channel.builder.refresh(channel.now)
        everything = _ids(channel.feed()) + [i for body in channel.pages() for i in _ids(body)]
        assert sorted(everything) == sorted(visible)

    newest = _ids(channel.feed())[0]
    assert channel.store.withdraw(newest, channel.later())  # from the feed itself: the feed is shorter
    visible.discard(newest)
    assert_once()
    assert len(_ids(channel.feed())) == 3
    fresh = channel.later()
    channel.store.write([_article(100 + i, fresh - timedelta(minutes=i + 1)) for i in range(6)], fresh)
    visible |= {f"bai-{100 + i:04d}" for i in range(6)}
    assert_once()
    # the withdrawn one comes back much later, with its old date, after other changes were looked at
    channel.later(120)
    channel.builder.refresh(channel.now)
    channel.store.write([_article(19, START + timedelta(hours=19))], channel.later())
    visible.add(newest)
    assert_once()
    # a new builder (a restart, another instance taking over) sees the same feed and pages
    pages, feed = channel.pages(), channel.feed()
    channel.builder = FeedBuilder(channel.store, channel.settings, FeedCache())
    channel.cache = channel.builder.cache
    assert channel.builder.refresh(channel.now).rendered
    assert channel.feed() == feed and channel.pages() == pages


def test_an_emptied_category_has_no_archive_pages(channel: Channel) -> None:
    assert channel.builder.archive_page("thong-bao", 1, channel.now) is not None
    for i in range(20):
        channel.store.withdraw(f"bai-{i:04d}", channel.now)
    channel.builder.refresh(channel.later())
    assert channel.cache.is_gone("/feeds/thong-bao.atom")
    assert channel.builder.archive_page("thong-bao", 1, channel.now) is None
    assert list(channel.builder.archive_pages("thong-bao", channel.now)) == []


def test_an_archived_article_given_a_newer_date_keeps_its_page(channel: Channel) -> None:
    before = channel.pages()
    feed = channel.feed()
    moved = _ids(before[0])[0]
    number = int(moved.removeprefix("bai-"))
    channel.store.write([_article(number, channel.later() - timedelta(minutes=1))], channel.now)
    channel.builder.refresh(channel.now)
    after = channel.pages()
    assert [_ids(body) for body in after] == [_ids(body) for body in before]
    assert after[1:] == before[1:] and channel.feed() == feed
