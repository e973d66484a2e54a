"""Feeds carry an article's full content up to feeds.max_content_bytes; past it, its summary and a link.

One very long article (1.5 MB of text) used to make every feed holding it 1.5 MB, downloaded again by
every poller at each change. Built the way the service builds them (import -> store -> FeedBuilder) on
both databases, and checked by parsing what is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from lxml import etree

from syndicator import feeds
from syndicator.config import Settings, load_settings
from syndicator.feeds.entries import prepare
from syndicator.ingest.importer import import_paths
from syndicator.publish.builder import FeedBuilder
from syndicator.publish.cache import FeedCache
from syndicator.store import Store
from tests.conftest import DATA
from tests.factories import article
from tests.feedkit import channel
from tests.w3crules import atom_problems, rss_problems

BASE = "https://thoxuan.example.gov.vn"
LONG_ID = "bai-rat-dai"
SHORT_ID = "bai-ngan"
READ_MORE = "Đọc toàn bài trên Cổng TTĐT huyện Thọ Xuân"  # site.short_name by default
PARAGRAPH = "<p>" + "Báo cáo tổng kết công tác năm của huyện Thọ Xuân, phần chi tiết từng xã. " * 3 + "</p>"
KEYS = ("all", "thong-bao")


def long_body() -> str:
    """About 1.5 MB of UTF-8 HTML, in paragraphs as the portal writes them."""
    return PARAGRAPH * (1_500_000 // len(PARAGRAPH.encode()) + 1)


def jsonl(folder: Path, now: datetime) -> Path:
    published = (now - timedelta(days=1)).isoformat()
    rows: list[dict[str, Any]] = [
        {
            "id": LONG_ID,
            "title": "Báo cáo tổng kết năm (toàn văn)",
            "category": "Thông báo",
            "published_at": published,
            "summary": "Báo cáo tổng kết công tác năm của huyện, toàn văn.",
            "body_html": long_body(),
        },
        {
            "id": SHORT_ID,
            "title": "Lịch tiếp công dân",
            "category": "Thông báo",
            "published_at": published,
            "body_html": "<p>Chủ tịch UBND huyện tiếp công dân <b>ngày 15</b>.</p><ul><li>Trụ sở.</li></ul>",
        },
    ]
    path = folder / "articles.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


@dataclass
class Built:
    settings: Settings
    store: Store
    now: datetime

    def builder(self, **feed_settings: int) -> tuple[FeedBuilder, FeedCache]:
        """A builder as a fresh start makes it: the kept documents loaded, then brought up to date."""
        settings = self.settings.model_copy(
            update={"feeds": self.settings.feeds.model_copy(update=feed_settings)}
        )
        cache = FeedCache()
        builder = FeedBuilder(self.store, settings, cache)
        builder.load_kept()
        return builder, cache

    def body(self, cache: FeedCache, key: str, kind: str) -> bytes:
        doc = cache.get(f"/feeds/{key}.{kind}")
        assert doc is not None, (key, kind)
        return doc.body


@pytest.fixture
def built(database_url: str, tmp_path: Path, now: datetime) -> Iterator[Built]:
    settings = load_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret-key-0123456789",
        base_url=BASE,
    )
    store = Store.open(settings.database_url)
    report = import_paths(store, [jsonl(tmp_path, now)], now, settings.tz)
    assert (report.created, report.failed) == (2, 0)
    yield Built(settings, store, now)
    store.close()


def entries(body: bytes, kind: str) -> dict[str, dict[str, str]]:
    """Each entry's summary and content as a reader gets them, by article id."""
    found: dict[str, dict[str, str]] = {}
    if kind == "json":
        for item in json.loads(body)["items"]:
            found[item["id"].removeprefix(f"{BASE}/a/")] = {
                "summary": item["summary"],
                "content": item["content_html"],
            }
        return found
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    for entry in parsed.entries:
        found[entry.id.removeprefix(f"{BASE}/a/")] = {
            "summary": entry.summary,
            "content": entry.content[0].value,
        }
    return found


def valid(body: bytes, kind: str, location: str) -> None:
    if kind == "json":
        document = json.loads(body)
        assert document["version"] == "https://jsonfeed.org/version/1.1"
        assert all(item["content_html"] for item in document["items"])
    elif kind == "atom":
        schema = etree.RelaxNG(etree.parse(str(DATA / "atom.rng")))
        assert schema.validate(etree.fromstring(body)), schema.error_log
        assert atom_problems(body, location) == []
    else:
        assert rss_problems(body, location) == []


def test_a_long_article_gives_its_summary_and_a_link_in_every_feed(built: Built) -> None:
    builder, cache = built.builder()
    builder.refresh(built.now)
    cap = built.settings.feeds.max_content_bytes
    assert cap == 100_000
    for key in KEYS:
        for kind in ("rss", "atom", "json"):
            body = built.body(cache, key, kind)
            # the feed of two articles, one of them 1.5 MB: well under the cap, plus a little
            assert len(body) < cap // 10, (key, kind, len(body))
            valid(body, kind, f"{BASE}/feeds/{key}.{kind}")
            shown = entries(body, kind)[LONG_ID]
            assert shown["summary"] == "Báo cáo tổng kết công tác năm của huyện, toàn văn."
            content = shown["content"]
            assert "Báo cáo tổng kết công tác năm của huyện, toàn văn." in content
            assert f'<a href="{BASE}/a/{LONG_ID}">{READ_MORE}</a>' in content
            assert "phần chi tiết từng xã" not in content  # none of the body itself


def test_the_rss_description_and_content_of_a_long_article(built: Built) -> None:
    builder, cache = built.builder()
    builder.refresh(built.now)
    item = next(
        i
        for i in etree.fromstring(built.body(cache, "all", "rss")).iter("item")
        if i.findtext("guid", "").endswith(LONG_ID)
    )
    assert item.findtext("description") == "Báo cáo tổng kết công tác năm của huyện, toàn văn."
    encoded = item.findtext("{http://purl.org/rss/1.0/modules/content/}encoded") or ""
    assert encoded.endswith(f'<p><a href="{BASE}/a/{LONG_ID}">{READ_MORE}</a></p>')


def test_an_article_under_the_cap_is_carried_whole(built: Built) -> None:
    capped, capped_cache = built.builder()
    capped.refresh(built.now)
    whole, whole_cache = built.builder(max_content_bytes=10_000_000)
    whole.refresh(built.now)
    for kind in ("rss", "atom", "json"):
        short = entries(built.body(capped_cache, "all", kind), kind)[SHORT_ID]
        assert short == entries(built.body(whole_cache, "all", kind), kind)[SHORT_ID]
        assert "<b>ngày 15</b>" in short["content"] and READ_MORE not in short["content"]
        # without the cap the long article is back in full: it was the cap that made the difference
        whole_content = entries(built.body(whole_cache, "all", kind), kind)[LONG_ID]["content"]
        assert len(whole_content.encode()) > 1_500_000


def test_changing_the_setting_renders_the_feeds_again(built: Built) -> None:
    first, _ = built.builder()
    assert first.refresh(built.now).rendered  # kept in the database
    again, _ = built.builder()
    assert again.refresh(built.now).rendered == []  # the same setting: the kept feeds stand
    raised, cache = built.builder(max_content_bytes=2_000_000)
    rendered = raised.refresh(built.now).rendered
    assert {f"/feeds/{key}.{kind}" for key in KEYS for kind in ("rss", "atom", "json")} <= set(rendered)
    assert len(built.body(cache, "all", "atom")) > 1_500_000
    lowered, cache = built.builder(max_content_bytes=50)
    assert "/feeds/all.json" in lowered.refresh(built.now).rendered
    short = entries(built.body(cache, "all", "json"), "json")[SHORT_ID]
    assert READ_MORE in short["content"]  # 50 bytes: the short article is past it too


# -- the boundary, on the pure renderer ---------------------------------------------------------------


def test_content_of_exactly_the_cap_is_whole_and_one_byte_more_is_not() -> None:
    item = article(0, body_html="<p>" + "đ" * 20 + "</p>")  # 47 bytes of UTF-8
    size = len(prepare(channel(), item).content_html.encode())
    assert size == 47
    at_cap = prepare(channel(max_content_bytes=size, read_more="Đọc tiếp"), item)
    assert at_cap.content_html == "<p>" + "đ" * 20 + "</p>"
    past = prepare(channel(max_content_bytes=size - 1, read_more="Đọc tiếp"), item)
    assert past.content_html == (f'<p>{past.summary}</p>\n<p><a href="{past.id}">Đọc tiếp</a></p>')
    assert prepare(channel(), item).content_html == at_cap.content_html  # no cap: the renderer's own


def test_the_replacement_is_escaped_html() -> None:
    item = article(0, summary="Giá <điện> & nước", body_html="<p>" + "x" * 500 + "</p>")
    chan = channel(max_content_bytes=100, read_more="Đọc <toàn> bài & hơn")
    entry = prepare(chan, item)
    assert entry.content_html.startswith("<p>Giá &lt;điện&gt; &amp; nước</p>")
    assert ">Đọc &lt;toàn&gt; bài &amp; hơn</a></p>" in entry.content_html
    for kind in ("rss", "atom"):
        parsed = feedparser.parse(feeds.render(kind, chan, [item], None))
        assert parsed.bozo == 0
        assert "Giá &lt;điện&gt; &amp; nước" in parsed.entries[0].content[0].value
    document = json.loads(feeds.render("json", chan, [item], None))
    assert document["items"][0]["content_html"] == entry.content_html
