"""Our RSS and Atom feeds against the rules of the W3C Feed Validation Service (tests/w3crules.py
re-states them from its source, and proves on import that its checks catch known faults), and feedgen's
own output failing them (what feeds/xml.py fixes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syndicator.feeds import ArchiveLinks, Channel, render
from syndicator.model import Article
from tests.factories import article
from tests.feedkit import articles, channel, nasty_articles, sample_articles
from tests.w3crules import atom_problems, rss_problems, rule_names

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


# -- feedgen alone would fail them ------------------------------------------------------------


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
    atom = rule_names(atom_problems(fg.atom_str(), "https://x.example/feed.atom"))
    rss = rule_names(rss_problems(fg.rss_str(), "https://x.example/feed.rss"))
    assert {"MissingSelf", "EntryLinkWithoutRelOrType", "InvalidMIMEType", "ContainsUndeclaredHTML"} <= atom
    assert {"MissingAtomSelfLink", "ContainsHTML"} <= rss
