"""Pages link through links.py, as feeds and mails do: no template builds a public path of its own."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest

from syndicator import links
from syndicator.templating import TEMPLATES, environment

# a path of ours written out in a page template: href="/c/...", action="/subscribe", ".../feeds/..."
HAND_BUILT = re.compile(
    r'(?:href|action|src)="(?:\{\{ base_url \}\})?/'
    r"(?:a/|c/|feeds|subscribe|confirm|preferences|unsubscribe)"
)


def test_no_page_template_builds_a_public_path() -> None:
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted((TEMPLATES / "pages").glob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if HAND_BUILT.search(line)
    ]
    assert found == []


def test_the_check_finds_a_hand_built_path() -> None:
    assert HAND_BUILT.search('<a href="/c/{{ slug }}">')
    assert HAND_BUILT.search('<a href="{{ base_url }}/feeds/{{ slug }}.rss">')
    assert HAND_BUILT.search('<form action="/subscribe">')
    assert not HAND_BUILT.search('<a href="{{ category_path(slug) }}">')


def _render(source: str) -> str:
    return environment(ZoneInfo("Asia/Ho_Chi_Minh")).from_string(source).render()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ category_path("thong-bao") }}', "/c/thong-bao"),
        ('{{ article_path("9685aab5f3c71f64") }}', "/a/9685aab5f3c71f64"),
        ('{{ feed_path("all", "rss") }}', "/feeds/all.rss"),
        ("{{ subscribe_path() }}", "/subscribe"),
        ('{{ subscribe_path("thong-bao") }}', "/subscribe?c=thong-bao"),
        ("{{ opml_path }}", "/feeds.opml"),
    ],
)
def test_a_page_s_links_are_the_paths_it_wrote_before(source: str, expected: str) -> None:
    assert _render(source) == expected


def test_a_page_s_links_quote_as_links_py_does() -> None:
    odd = "tin tức/<b>&'x"
    assert _render("{{ category_path(slug) }}".replace("slug", repr(odd))) == links.category_path(odd)
    assert links.category_path(odd) == "/c/tin%20t%E1%BB%A9c/%3Cb%3E%26%27x"
    # article ids were quoted with Jinja's urlencode: the same text
    assert _render(f"{{{{ article_path({odd!r}) }}}}") == _render(f"/a/{{{{ {odd!r} | urlencode }}}}")
    assert _render(f"{{{{ subscribe_path({odd!r}) }}}}") == "/subscribe?c=tin%20t%E1%BB%A9c%2F%3Cb%3E%26%27x"
    assert links.category_page("https://x.vn/", "thong-bao") == "https://x.vn/c/thong-bao"
    assert links.feed("https://x.vn", "a b", "atom") == "https://x.vn/feeds/a%20b.atom"
