"""The feeds as their readers see them: RFC 4287's RELAX NG grammar, feedparser, JSON Feed 1.1's rules.

Everything is checked by parsing what the renderer writes, never by comparing strings.
"""

from __future__ import annotations

import calendar
import html
import json
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import feedparser
import pytest
from lxml import etree

from syndicator import links
from syndicator.feeds import EMPTY_FEED_UPDATED, MEDIA_TYPES, ArchiveLinks, Channel, render
from syndicator.feeds.xml import WORD_JOINER
from syndicator.model import Article
from tests.conftest import DATA
from tests.factories import article
from tests.feedkit import (
    BASE,
    HUB,
    VIETNAM,
    articles,
    channel,
    nasty_articles,
    sample_articles,
)

ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
KINDS = ("rss", "atom", "json")


@cache
def atom_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(DATA / "atom.rng")))


def parse(kind: str, chan: Channel, items: list[Article], archive: ArchiveLinks | None = None) -> Any:
    body = render(kind, chan, items, archive)
    if kind == "json":
        return json.loads(body)
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def shown(value: str, detail: Any) -> str:
    """The text a reader displays: feedparser hands HTML constructs over as markup."""
    return html.unescape(value) if detail.type == "text/html" else value


def shown_title(entry: Any) -> str:
    """Atom titles may come as escaped HTML; RSS ones may hold a U+2060 (see xml._break_end_tags)."""
    return shown(str(entry.title), entry.title_detail).replace(WORD_JOINER, "")


def shown_summary(entry: Any, kind: str) -> str:
    return str(entry["summary"]) if kind == "json" else shown(str(entry.summary), entry.summary_detail)


def body_of(entry: Any, kind: str) -> str:
    if kind == "json":
        return str(entry.get("content_html", ""))
    return str(entry.content[0].value) if "content" in entry else ""


def utc(struct: Any) -> datetime:
    return datetime.fromtimestamp(calendar.timegm(struct), UTC)


def nfc_clean(text: str) -> str:
    from syndicator.text import clean_line

    return clean_line(text)


# -- validity --------------------------------------------------------------------------------------

CASES: dict[str, tuple[Channel, list[Article], ArchiveLinks | None]] = {
    "samples": (channel("all"), sample_articles(), None),
    "nasty": (channel(), nasty_articles(), None),
    "empty": (channel(), [], None),
    "no hub": (channel(hub=None), articles(2), None),
    "subscription with archive": (
        channel(),
        articles(3),
        ArchiveLinks(channel().feed_urls["atom"], f"{BASE}/feeds/thong-bao/archive/4.atom", None, False),
    ),
    "archive page": (
        channel(self_url=f"{BASE}/feeds/thong-bao/archive/2.atom"),
        articles(6)[3:],
        ArchiveLinks(
            channel().feed_urls["atom"],
            f"{BASE}/feeds/thong-bao/archive/1.atom",
            f"{BASE}/feeds/thong-bao/archive/3.atom",
            True,
        ),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_atom_matches_the_rfc4287_grammar(case: str) -> None:
    chan, items, archive = CASES[case]
    document = etree.fromstring(render("atom", chan, items, archive))
    schema = atom_schema()
    assert schema.validate(document), schema.error_log


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_feedparser_reads_without_complaint(kind: str, case: str) -> None:
    chan, items, archive = CASES[case]
    parsed = parse(kind, chan, items, archive if kind == "atom" else None)
    assert parsed.version == ("rss20" if kind == "rss" else "atom10")
    assert len(parsed.entries) == len(items)


@pytest.mark.parametrize("case", list(CASES))
def test_json_feed_has_the_required_fields(case: str) -> None:
    chan, items, _ = CASES[case]
    feed = parse("json", chan, items)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"]
    assert feed["home_page_url"] == chan.page_url
    assert feed["feed_url"] == chan.self_link("json")
    assert isinstance(feed["items"], list) and len(feed["items"]) == len(items)
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert item.get("content_html") or item.get("content_text")
        published = datetime.fromisoformat(item["date_published"])
        assert published.tzinfo is not None
        assert datetime.fromisoformat(item["date_modified"]) >= published - timedelta(days=36500)


@pytest.mark.parametrize("kind", KINDS)
def test_media_types(kind: str) -> None:
    assert MEDIA_TYPES[kind].endswith("; charset=utf-8")
    assert MEDIA_TYPES[kind].split(";")[0] in (
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
    )


# -- what readers see --------------------------------------------------------------------------------


def test_rss_channel_and_items() -> None:
    chan, items = channel(), articles(3)
    parsed = parse("rss", chan, items)
    assert parsed.feed.title == chan.title
    assert parsed.feed.link == chan.page_url  # <channel><link>, not the last atom:link
    assert parsed.feed.language == "vi"
    assert parsed.feed.generator == "syndicator"
    feed_links = {(link.rel, link.href) for link in parsed.feed.links}
    assert ("self", chan.feed_urls["rss"]) in feed_links
    assert ("hub", HUB) in feed_links
    for entry, item in zip(parsed.entries, items, strict=True):
        assert shown_title(entry) == item.title
        assert entry.link == links.permalink(BASE, item)
        assert entry.id == links.article_page(BASE, item.id)
        assert utc(entry.published_parsed) == item.published_at
        assert shown_summary(entry, "rss") == item.summary
        assert item.body_html in entry.content[0].value
        assert entry.author == item.author
        assert [t.term for t in entry.tags] == [item.category.name]


def test_rss_guid_is_a_permalink_only_when_it_is_the_link() -> None:
    root = etree.fromstring(render("rss", channel(), articles(1)))
    guid = root.find("channel/item/guid")
    assert guid is not None
    assert guid.get("isPermaLink") == "true"  # no source URL: our article page is both
    assert guid.text == root.findtext("channel/item/link") == links.article_page(BASE, "tb-000")


def test_rss_dates_are_rfc822_in_vietnam_time() -> None:
    root = etree.fromstring(render("rss", channel(), articles(2)))
    assert root.findtext("channel/item/pubDate") == "Mon, 01 Mar 2021 15:50:13 +0700"
    assert root.findtext("channel/lastBuildDate") == "Mon, 01 Mar 2021 15:50:13 +0700"
    assert root.findtext("channel/pubDate") == "Mon, 01 Mar 2021 15:50:13 +0700"


def test_atom_feed_and_entries() -> None:
    chan, items = channel(), articles(3)
    parsed = parse("atom", chan, items)
    assert parsed.feed.title == chan.title
    assert parsed.feed.subtitle == chan.description
    assert parsed.feed.id == chan.feed_urls["atom"]
    assert parsed.feed.link == chan.page_url
    root = etree.fromstring(render("atom", chan, items))
    feed_links = {
        (link.get("rel"), link.get("href"), link.get("type")) for link in root.findall(f"{ATOM}link")
    }
    assert feed_links == {
        ("self", chan.feed_urls["atom"], "application/atom+xml"),
        ("hub", HUB, None),
        ("alternate", chan.page_url, "text/html"),
    }
    assert parsed.feed.generator == "syndicator"
    for entry, item in zip(parsed.entries, items, strict=True):
        assert shown_title(entry) == item.title
        assert entry.id == links.article_page(BASE, item.id)
        # feedgen issue #135 drops rel and type from entry links; ours keep them
        assert [(link.rel, link.type, link.href) for link in entry.links] == [
            ("alternate", "text/html", links.permalink(BASE, item))
        ]
        assert shown_summary(entry, "atom") == item.summary
        assert entry.content[0].type == "text/html"
        assert item.body_html in entry.content[0].value
        assert entry.author == item.author
        assert [(t.term, t.label) for t in entry.tags] == [(item.category.slug, item.category.name)]
        # The sub-second shift (see xml._atom_moment) is shared by published and updated.
        published, updated = _atom_times(chan, items, item.id)
        assert timedelta(0) <= published - item.published_at < timedelta(seconds=1)
        assert updated - published == item.updated_at - item.published_at


def _atom_times(chan: Channel, items: list[Article], article_id: str) -> tuple[datetime, datetime]:
    root = etree.fromstring(render("atom", chan, items))
    for entry in root.iter(f"{ATOM}entry"):
        if entry.findtext(f"{ATOM}id") == links.article_page(BASE, article_id):
            published = datetime.fromisoformat(entry.findtext(f"{ATOM}published") or "")
            updated = datetime.fromisoformat(entry.findtext(f"{ATOM}updated") or "")
            return published, updated
    raise AssertionError(article_id)


def test_json_items() -> None:
    chan, items = channel(), articles(3)
    feed = parse("json", chan, items)
    assert feed["language"] == "vi"
    assert feed["hubs"] == [{"type": "WebSub", "url": HUB}]
    for entry, item in zip(feed["items"], items, strict=True):
        assert entry["id"] == links.article_page(BASE, item.id)
        assert entry["url"] == links.permalink(BASE, item)
        assert entry["title"] == item.title
        assert entry["content_html"] == item.body_html
        assert entry["summary"] == item.summary
        assert datetime.fromisoformat(entry["date_published"]) == item.published_at
        assert datetime.fromisoformat(entry["date_published"]).utcoffset() == timedelta(hours=7)
        assert datetime.fromisoformat(entry["date_modified"]) == item.updated_at
        assert entry["authors"] == [{"name": item.author}]
        assert entry["tags"] == [item.category.name]


@pytest.mark.parametrize("kind", KINDS)
def test_entries_keep_the_given_order(kind: str) -> None:
    items = articles(5)
    shuffled = [items[2], items[0], items[4], items[1], items[3]]  # the order is the caller's business
    feed = parse(kind, channel(), shuffled)
    ids = [e["id"] for e in feed["items"]] if kind == "json" else [e.id for e in feed.entries]
    assert ids == [links.article_page(BASE, a.id) for a in shuffled]


@pytest.mark.parametrize("kind", KINDS)
def test_rendering_twice_gives_the_same_bytes(kind: str) -> None:
    chan, items = channel(), sample_articles()
    archive = ArchiveLinks(chan.feed_urls["atom"], f"{BASE}/a1.atom", None, False) if kind == "atom" else None
    assert render(kind, chan, items, archive) == render(kind, chan, list(items), archive)


def test_feed_updated_is_the_newest_entry_update_not_the_clock() -> None:
    items = articles(3)
    edited = items[2].published_at + timedelta(days=3, minutes=7)  # the oldest entry, edited last
    items[2] = replace(items[2], updated_at=edited)
    rss = etree.fromstring(render("rss", channel(), items))
    assert rss.findtext("channel/lastBuildDate") == "Thu, 04 Mar 2021 13:57:13 +0700"
    atom = feedparser.parse(render("atom", channel(), items))
    newest = utc(atom.feed.updated_parsed)
    assert timedelta(0) <= newest - edited < timedelta(seconds=1)


@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_empty_feed_is_dated_by_the_fallback(kind: str) -> None:
    chan = channel()
    parsed = parse(kind, chan, [])
    assert parsed.entries == []
    when = parsed.feed.updated_parsed
    assert utc(when) == EMPTY_FEED_UPDATED
    given = datetime(2021, 1, 2, 3, 4, 5, tzinfo=UTC)
    again = feedparser.parse(render(kind, chan, [], fallback_updated=given))
    assert utc(again.feed.updated_parsed) == given


def test_empty_feeds_still_say_what_they_are() -> None:
    chan = channel()
    atom = etree.fromstring(render("atom", chan, []))
    assert atom.findtext(f"{ATOM}author/{ATOM}name") == chan.title  # an entry-less Atom feed needs one
    feed = parse("json", chan, [])
    assert feed["items"] == [] and feed["title"] == chan.title


# -- archives (RFC 5005) ---------------------------------------------------------------------------


def _atom_links(root: etree._Element) -> dict[str, str]:
    return {link.get("rel", ""): link.get("href", "") for link in root.findall(f"{ATOM}link")}


def test_subscription_feed_links_its_newest_archive_only() -> None:
    chan, items, archive = CASES["subscription with archive"]
    assert archive is not None
    root = etree.fromstring(render("atom", chan, items, archive))
    found = _atom_links(root)
    assert found["self"] == chan.feed_urls["atom"]
    assert found["prev-archive"] == archive.prev_archive
    assert "current" not in found and "next-archive" not in found
    assert root.find(f"{FH}archive") is None


def test_archive_page_links_both_ways_and_says_it_is_an_archive() -> None:
    chan, items, archive = CASES["archive page"]
    assert archive is not None
    root = etree.fromstring(render("atom", chan, items, archive))
    found = _atom_links(root)
    assert found["self"] == chan.self_url
    assert found["current"] == chan.feed_urls["atom"]
    assert found["prev-archive"] == archive.prev_archive
    assert found["next-archive"] == archive.next_archive
    assert found["alternate"] == chan.page_url
    assert root.find(f"{FH}archive") is not None
    assert root.findtext(f"{ATOM}id") == chan.feed_urls["atom"]  # one logical feed, one id


def test_archive_links_are_atom_only() -> None:
    archive = ArchiveLinks(channel().feed_urls["atom"], None, None, True)
    for kind in ("rss", "json"):
        with pytest.raises(ValueError, match="Atom"):
            render(kind, channel(), [], archive)
    with pytest.raises(ValueError, match="unknown feed kind"):
        render("rdf", channel(), [])


# -- nasty text --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nasty() -> dict[str, Any]:
    items = nasty_articles()
    return {"items": items, **{kind: parse(kind, channel(), items) for kind in KINDS}}


def _entries(nasty: dict[str, Any], kind: str) -> list[Any]:
    return list(nasty[kind]["items"] if kind == "json" else nasty[kind].entries)


def _title(entry: Any, kind: str) -> str:
    return str(entry["title"]) if kind == "json" else shown_title(entry)


@pytest.mark.parametrize("kind", KINDS)
def test_markup_in_titles_stays_text(nasty: dict[str, Any], kind: str) -> None:
    first, second = _entries(nasty, kind)[:2]
    assert _title(first, kind) == "Cảnh báo <script>alert('x')</script> & lừa đảo"
    assert _title(second, kind) == "Điều kiện a < b && c > d, kết thúc CDATA ]]> ở đây"


ENTITY_TITLE = "Tiêu đề có thực thể &amp; &copy; &#x41; R&D2 </p>"


@pytest.mark.parametrize("kind", ["atom", "json"])
def test_entity_like_text_in_titles_stays_text(nasty: dict[str, Any], kind: str) -> None:
    assert _title(_entries(nasty, kind)[8], kind) == ENTITY_TITLE


def test_entity_like_text_in_rss_titles_is_written_as_text() -> None:
    """RSS cannot declare a title plain text, and feedparser decodes "&amp;" typed into one as HTML;
    what we can do is write the text exactly, which is what an XML parser reads back."""
    root = etree.fromstring(render("rss", channel(), nasty_articles()))
    titles = [t.replace(WORD_JOINER, "") for t in root.xpath("channel/item/title/text()")]
    assert ENTITY_TITLE in titles


@pytest.mark.parametrize("kind", KINDS)
def test_summaries_are_plain_text(nasty: dict[str, Any], kind: str) -> None:
    first, second = _entries(nasty, kind)[:2]
    assert shown_summary(first, kind) == "Đừng bấm <b>liên kết</b> lạ & đừng trả lời"
    assert shown_summary(second, kind) == "Chuỗi ]]> và <![CDATA[ trong tóm tắt"


@pytest.mark.parametrize("kind", KINDS)
def test_scripts_and_handlers_never_reach_the_content(nasty: dict[str, Any], kind: str) -> None:
    for entry in _entries(nasty, kind):
        body = body_of(entry, kind)
        assert "<script" not in body and "onclick" not in body and "javascript:" not in body
    assert "Sau &amp; hết" in body_of(_entries(nasty, kind)[0], kind)


@pytest.mark.parametrize("kind", KINDS)
def test_control_characters_are_dropped_and_text_is_nfc(nasty: dict[str, Any], kind: str) -> None:
    third, fourth = _entries(nasty, kind)[2:4]
    assert _title(third, kind) == "Ký tự điều khiển giữa chữ"
    assert shown_summary(third, kind) == "Tóm tắt có ký tự điều khiển"
    title = _title(fourth, kind)
    assert title == "Hội nghị tổng kết công tác Quốc phòng - An ninh"
    assert unicodedata.is_normalized("NFC", title)
    assert unicodedata.is_normalized("NFC", shown_summary(fourth, kind))
    assert unicodedata.is_normalized("NFC", body_of(fourth, kind))


def test_control_characters_in_author_names(nasty: dict[str, Any]) -> None:
    assert nasty["atom"].entries[2].author == "Trần Thị Bình"
    assert nasty["rss"].entries[2].author == "Trần Thị Bình"
    assert nasty["json"]["items"][3]["authors"] == [{"name": "Lê Đình Hải"}]


@pytest.mark.parametrize("kind", KINDS)
def test_very_long_bodies_arrive_whole(nasty: dict[str, Any], kind: str) -> None:
    body = body_of(_entries(nasty, kind)[4], kind)
    assert body == nasty["items"][4].body_html
    assert len(body.encode()) > 1_000_000


@pytest.mark.parametrize("kind", KINDS)
def test_empty_summary_is_taken_from_the_body(nasty: dict[str, Any], kind: str) -> None:
    entry = _entries(nasty, kind)[5]
    assert shown_summary(entry, kind) == "Nội dung thông báo số 5. Đoạn thứ hai."


def test_no_byline_leaves_the_feed_author(nasty: dict[str, Any]) -> None:
    assert "author" not in nasty["atom"].entries[5]
    assert nasty["atom"].feed.author == channel().title  # the feed-level <author> stands in
    assert "author" not in nasty["rss"].entries[5]  # no dc:creator, and never an RSS <author>
    assert "authors" not in nasty["json"]["items"][5]
    assert nasty["atom"].entries[7].author == "Phòng Tư pháp"  # the office when there is no author


def test_source_url_is_the_link_but_not_the_id(nasty: dict[str, Any]) -> None:
    item = nasty["items"][6]
    source = "https://thoxuan.thanhhoa.gov.vn/tin-tuc/hoi-nghi.html?id=12&p=3"
    own_page = links.article_page(BASE, item.id)
    rss, atom, js = nasty["rss"].entries[6], nasty["atom"].entries[6], nasty["json"]["items"][6]
    assert rss.link == atom.link == js["url"] == source
    assert rss.id == atom.id == js["id"] == own_page
    root = etree.fromstring(render("rss", channel(), [item]))
    assert root.find("channel/item/guid").get("isPermaLink") == "false"
    moved = replace(item, url="https://thoxuan.thanhhoa.gov.vn/new-place/12")
    again = parse("atom", channel(), [moved])
    assert again.entries[0].id == own_page  # readers do not see a "new" article when the source moves


def test_vietnamese_source_urls_become_uris(nasty: dict[str, Any]) -> None:
    expected = "https://thoxuan.thanhhoa.gov.vn/tin%20t%E1%BB%A9c/h%E1%BB%99i%20ngh%E1%BB%8B"
    assert nasty["rss"].entries[7].link == expected
    assert nasty["atom"].entries[7].link == expected
    assert nasty["json"]["items"][7]["url"] == expected


@pytest.mark.parametrize("kind", KINDS)
def test_relative_links_in_content_are_made_absolute(nasty: dict[str, Any], kind: str) -> None:
    body = body_of(_entries(nasty, kind)[6], kind)
    fragment = etree.fromstring(f"<div>{body}</div>", etree.HTMLParser())
    refs = [e.get("href") for e in fragment.iter("a")] + [e.get("src") for e in fragment.iter("img")]
    assert "https://thoxuan.thanhhoa.gov.vn/van-ban/qd-12.pdf" in refs
    assert "https://thoxuan.thanhhoa.gov.vn/tin-tuc/anh/1.jpg" in refs
    assert "https://thoxuan.thanhhoa.gov.vn/tin-tuc/hoi-nghi.html?id=12&p=3#muc-2" in refs
    assert all(ref is None or ref.startswith("https://") for ref in refs)


@pytest.mark.parametrize("kind", KINDS)
def test_blank_title_falls_back_to_the_article_id(nasty: dict[str, Any], kind: str) -> None:
    entry = _entries(nasty, kind)[9]
    assert _title(entry, kind) == nasty["items"][9].id


# -- realistic input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_sample_exports(kind: str) -> None:
    items = sample_articles()
    feed = parse(kind, channel("all"), items)
    entries = feed["items"] if kind == "json" else feed.entries
    titles = [entry["title"] if kind == "json" else shown_title(entry) for entry in entries]
    assert titles == [nfc_clean(a.title) for a in items]
    for entry, item in zip(entries, items, strict=True):
        if kind == "json":
            published = datetime.fromisoformat(entry["date_published"])
        else:
            published = utc(entry.published_parsed).replace(microsecond=0)
        assert published == item.published_at.replace(microsecond=0)


def test_category_names_and_times_follow_the_channel() -> None:
    chan = channel(tz=UTC)
    root = etree.fromstring(render("rss", chan, articles(1)))
    assert root.findtext("channel/item/pubDate") == "Mon, 01 Mar 2021 08:50:13 +0000"
    assert VIETNAM.utcoffset(datetime(2021, 3, 1)) == timedelta(hours=7)


@pytest.mark.parametrize("kind", KINDS)
def test_a_stored_body_too_deep_to_parse_leaves_the_entry_its_summary(kind: str) -> None:
    """Bodies stored before nesting was limited are not re-parsed at any cost: the feed stays whole."""
    deep = article(0, body_html="<div>" * 5000 + "sâu" + "</div>" * 5000)
    items = [deep, article(1)]
    document = parse(kind, channel(), items)
    entries = document["items"] if kind == "json" else document.entries
    assert len(entries) == 2
    assert shown_summary(entries[0], kind) == "Tóm tắt thông báo số 0."
    assert "sâu" not in body_of(entries[0], kind)
    assert "Nội dung thông báo số 1." in body_of(entries[1], kind)
