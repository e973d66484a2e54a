"""Our RSS and Atom feeds against the rules of the W3C Feed Validation Service (tests/w3crules.py
re-states them from its source), and the checks catching what they are meant to catch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree

from syndicator.feeds import ArchiveLinks, Channel, render
from syndicator.model import Article
from tests.feedkit import article, articles, channel, nasty_articles, sample_articles
from tests.w3crules import Report, atom_problems, canonical, rss_problems

# -- our feeds pass ------------------------------------------------------------------------------


def _cases() -> Iterator[tuple[str, Channel, list[Article], ArchiveLinks | None]]:
    samples = sample_articles()
    yield "samples", channel("all"), samples, None
    yield "nasty", channel(), nasty_articles(), None
    yield "empty", channel(), [], None
    yield "no hub", channel(hub=None), articles(5), None
    yield (
        "same updated",
        channel(),
        [article(n, updated_at=articles(1)[0].updated_at) for n in range(20)],
        None,
    )
    current = channel().feed_urls["atom"]
    older = "https://thoxuan.example.vn/feeds/thong-bao/archive/1.atom"
    newer = "https://thoxuan.example.vn/feeds/thong-bao/archive/3.atom"
    yield "subscription", channel(), articles(3), ArchiveLinks(current, older, None, is_archive=False)
    page = channel(self_url="https://thoxuan.example.vn/feeds/thong-bao/archive/2.atom")
    yield "archive page", page, articles(4)[2:], ArchiveLinks(current, older, newer, is_archive=True)


CASES = list(_cases())


@pytest.mark.parametrize(("name", "chan", "items", "archive"), CASES, ids=[c[0] for c in CASES])
def test_rss_passes_w3c_rules(
    name: str, chan: Channel, items: list[Article], archive: ArchiveLinks | None
) -> None:
    assert rss_problems(render("rss", chan, items), chan.self_link("rss")) == []


@pytest.mark.parametrize(("name", "chan", "items", "archive"), CASES, ids=[c[0] for c in CASES])
def test_atom_passes_w3c_rules(
    name: str, chan: Channel, items: list[Article], archive: ArchiveLinks | None
) -> None:
    assert atom_problems(render("atom", chan, items, archive), chan.self_link("atom")) == []


# -- the checks find what they are meant to find (so a pass above means something) -----------------

BAD_RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcx="http://purl.org/dc/elements/1.1/"
 xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
<title>x &lt;y</title><link>https://x.example/</link><description>d</description>
<lastBuildDate>2020-12-18 15:50:13</lastBuildDate>
<item><title>Avoid &lt;b&gt;html&lt;/b&gt;</title><link>https://x.example/a/1</link>
<content:encoded>&lt;a href="/rel"&gt;x&lt;/a&gt;</content:encoded>
<description>&lt;script&gt;x()&lt;/script&gt;</description>
<author>Nguyen Van A</author><dc:creator>Nguyen Van A</dc:creator>
<pubDate>Sat, 18 Dec 2020 15:50:13 +0700</pubDate></item>
<item><title>t</title><guid>tag:x.example,2020:1</guid></item>
<ttl>5</ttl>
</channel></rss>"""

BAD_ATOM = b"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:fh="http://purl.org/syndication/history/1.0">
<id>HTTP://X.example:80/feed</id><title>t</title><updated>2020-12-18 15:50:13</updated>
<fh:archive/>
<entry><id>https://x.example/a/1</id><title>a &lt;/b&gt;</title><updated>2020-12-18T08:50:13Z</updated>
<link href="https://x.example/a/1"/><content type="CDATA">x</content></entry>
<entry><id>https://x.example/a/1</id><title>b</title><updated>2020-12-18T08:50:13Z</updated>
<link rel="alternate" type="text/html" href="https://x.example/a/2"/>
<link rel="prev-archive" type="text/html" href="https://x.example/a/3"/></entry>
<subtitle>late</subtitle>
</feed>"""


def _names(problems: list[str]) -> set[str]:
    return {p.split(":")[0] for p in problems}


def test_rss_checks_catch_known_faults() -> None:
    found = _names(rss_problems(BAD_RSS, "https://x.example/feed.rss"))
    assert {
        "MissingAtomSelfLink",
        "CharacterData",  # the channel title's "<" with no hex reference on its line
        "ProblematicalRFC822Date",
        "ContainsHTML",
        "ContainsRelRef",
        "SecurityRisk",
        "NeedDescriptionBeforeContent",
        "DuplicateItemSemantics",
        "EmailFormat",
        "IncorrectDOW",
        "MissingGuid",
        "InvalidPermalink",
        "MisplacedItem",
        "NonstdPrefix",
    } <= found


def test_atom_checks_catch_known_faults() -> None:
    found = _names(atom_problems(BAD_ATOM, "https://x.example/feed.atom"))
    assert {
        "MissingSelf",
        "NonCanonicalURI",
        "InvalidRFC3339Date",
        "MissingElement",  # no author anywhere
        "ContainsUndeclaredHTML",
        "DuplicateEntries",
        "DuplicateUpdated",
        "InvalidMIMEType",
        "EntryLinkWithoutRelOrType",
        "FeedHistoryRelInEntry",
        "MisplacedMetadata",
        "MissingCurrentInArchive",
    } <= found


def test_bare_feedgen_output_fails_the_checks() -> None:
    """feedgen used naively (its defaults) draws validator messages that our wrapper avoids."""
    from feedgen.feed import FeedGenerator

    fg = FeedGenerator()
    fg.id("https://x.example/feed")
    fg.title("Tin")
    fg.description("Tin")
    fg.link(href="https://x.example/", rel="alternate")
    for n in range(2):
        fe = fg.add_entry()
        fe.id(f"https://x.example/a/{n}")
        fe.title(f"Bài {n} </b>")
        fe.link(href=f"https://x.example/a/{n}", rel="alternate", type="text/html")
        fe.content("<p>x</p>", type="CDATA")
        fe.author(name="A")
        fe.updated(article(0).updated_at)
    atom = _names(atom_problems(fg.atom_str(), "https://x.example/feed.atom"))
    rss = _names(rss_problems(fg.rss_str(), "https://x.example/feed.rss"))
    assert {"MissingSelf", "EntryLinkWithoutRelOrType", "InvalidMIMEType", "ContainsUndeclaredHTML"} <= atom
    assert {"MissingAtomSelfLink", "ContainsHTML"} <= rss


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://thoxuan.example.vn/a/tb-001", "https://thoxuan.example.vn/a/tb-001"),
        ("HTTP://Example.ORG:80/a/./b/../c", "http://example.org/a/c"),
        ("https://example.org", "https://example.org/"),
        ("https://example.org/%7euser/%c3%a1", "https://example.org/~user/%C3%A1"),
        ("tag:example.org,2000:/a/1", "tag:example.org,2000:/a/1"),
    ],
)
def test_canonical_form(uri: str, expected: str) -> None:
    assert canonical(uri) == expected


def test_report_uses_lines_for_hex_references() -> None:
    raw = b"<rss version='2.0'><channel><title>a &#x26;copy; b</title></channel></rss>"
    report = Report(raw)
    title = etree.fromstring(raw).find("channel/title")
    assert title is not None
    report.plain_text(title, title.text or "", "ContainsHTML", rss=True)
    assert report.problems == []
    split = b"<rss version='2.0'><channel>\n<title>a &amp;copy; b</title>\n<x>&#x26;</x></channel></rss>"
    report = Report(split)
    title = etree.fromstring(split).find("channel/title")
    assert title is not None
    report.plain_text(title, title.text or "", "ContainsHTML", rss=True)
    assert report.problems and report.problems[0].startswith("ContainsHTML")
