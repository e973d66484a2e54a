"""Every document the builder serves, from every sample export plus the messy cases, is valid.

Feeds are built the way the service builds them (import -> store -> FeedBuilder), then each one is
checked by the RFC 4287 RELAX NG schema (Atom), by feedparser (bozo == 0), and by the W3C feed
validator's rules as restated in tests/test_feeds_w3c_rules.py; archive pages included.
"""

from __future__ import annotations

import html
import json
import unicodedata
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from syndicator.config import Settings, load_settings
from syndicator.ingest.importer import import_paths
from syndicator.publish.builder import FeedBuilder, archive_path
from syndicator.publish.cache import FeedCache
from syndicator.store import Store
from syndicator.store.channels import ALL
from tests.conftest import DATA, EXAMPLES, ROOT
from tests.test_feeds_w3c_rules import atom_problems, rss_problems

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
