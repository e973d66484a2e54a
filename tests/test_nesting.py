"""The nesting limit in front of the sanitiser: deep HTML is refused in one linear pass, before nh3 parses
it, and the count never comes out shallower than what the real parser (html5ever, inside nh3) builds."""

from __future__ import annotations

import json
import time
from datetime import UTC
from html.parser import HTMLParser

import nh3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicator.ingest.errors import InvalidArticle
from syndicator.ingest.jsonl import article_from_mapping, parse_line
from syndicator.nesting import exceeds_depth
from syndicator.sanitize import MAX_NESTING, TooDeep, sanitize_html

LIMIT = 5


@pytest.mark.parametrize(
    "html",
    [
        "<div>" * LIMIT,
        "<div></div>" * 100,
        "<p>a" * 100,  # <p> closes an open <p>
        "<ul>" + "<li>a" * 100 + "</ul>",
        "<dl>" + "<dt>a<dd>b" * 100 + "</dl>",
        "<table><tr><td>a<td>b<tr><td>c</table>" * 20,
        "<br><img src=x><hr><input>" * 100,
        "<div><script>if (a<b && c<d) x()</script></div>" * 20,
        "<div><style>p > b { color: red }</style></div>" * 20,
        "<div><!-- <div><div><div><div><div><div> --></div>" * 20,
        '<div title="<div><div><div><div><div><div>"></div>' * 20,
        "<DIV></div>" * 20,
    ],
)
def test_ordinary_html_is_within_the_limit(html: str) -> None:
    assert not exceeds_depth(html, LIMIT)


@pytest.mark.parametrize(
    "html",
    [
        "<div>" * (LIMIT + 1),
        '<div title="</div>">' * (LIMIT + 1),  # an end tag in an attribute value closes nothing
        '<div a"b>' * (LIMIT + 1),  # a quote opens a value only after '='
        '<div a=\xa0"x>' * (LIMIT + 1),  # NBSP is no HTML whitespace: this value is unquoted
        "<div><!--</div>-->" * (LIMIT + 1),
        "<div><textarea></div></textarea>" * (LIMIT + 1),
        "<div><script><!--<script></script></div></script>" * (LIMIT + 1),  # script escape states
        "<span><div></span>" * (LIMIT + 1),  # </span> does not close the <div> inside it
        "<svg>" + "<input>" * LIMIT,  # void in HTML, not inside <svg>
        "<svg><style>" + "<div>" * LIMIT,  # inside <svg>, <style> holds markup
        "<span/>" * (LIMIT + 1),  # HTML ignores the slash
        "<rt>" * (LIMIT + 1),  # outside <ruby> an <rt> does not close the one before
    ],
)
def test_deep_or_disguised_nesting_is_over_the_limit(html: str) -> None:
    assert exceeds_depth(html, LIMIT)


def test_deep_nesting_is_refused_in_milliseconds_and_long_flat_html_takes_linear_time() -> None:
    started = time.perf_counter()
    for depth in (40_000, 100_000):
        with pytest.raises(TooDeep, match=f"deeper than {MAX_NESTING}"):
            sanitize_html("<div>" * depth + "x" + "</div>" * depth)
    assert time.perf_counter() - started < 0.5  # nh3 alone: 7 s and 72 s

    within = "<div>" * MAX_NESTING + "x" + "</div>" * MAX_NESTING
    assert sanitize_html(within).count("<div>") == MAX_NESTING
    small, large = within * 10, within * 100
    timings = []
    for html in (small, large):
        started = time.perf_counter()
        assert not exceeds_depth(html, MAX_NESTING)
        timings.append(time.perf_counter() - started)
    assert timings[1] < timings[0] * 30  # 10 times the input: about 10 times the time, not 100


def test_too_deep_body_html_is_an_invalid_field_in_the_jsonl_schema() -> None:
    obj = {
        "id": "sau-qua",
        "title": "Sâu quá",
        "category": "Thông báo",
        "published_at": "2021-03-01T08:00:00",
        "body_html": "<div>" * 40_000,
    }
    with pytest.raises(InvalidArticle) as caught:
        article_from_mapping(obj, UTC)
    assert caught.value.fields == [("body_html", f"HTML nested deeper than {MAX_NESTING} elements")]
    with pytest.raises(InvalidArticle) as from_file:  # a line of a .jsonl file: the same failure
        parse_line(json.dumps(obj), UTC)
    assert from_file.value.fields == caught.value.fields


# -- against the real parser -----------------------------------------------------------------------------

PIECES = [
    "<div>", "</div>", "<span>", "</span>", "<p>", "</p>", "<li>", "</li>", "<ul>", "</ul>", "<b>", "</b>",
    "<i>", "</i>", "<a>", "</a>", "<dd>", "<dt>", "<dl>", "<font>", "<em>", "<u>", "<s>", "<nobr>", "</nobr>",
    "<table>", "</table>", "<td>", "<tr>", "<th>", "<tbody>", "<caption>", "<colgroup>", "<col>",
    "<table><td>", "<select>", "</select>", "<option>", "<optgroup>", "<ruby>", "<rb>", "<rt>",
    "<svg>", "</svg>", "<math>", "</math>", "<foreignObject>", "<desc>", "<mi>", "<object>", "</object>",
    "<template>", "</template>", "<button>", "</button>", "<form>", "</form>", "<h1>", "</h1>", "<pre>",
    "<textarea>", "</textarea>", "<script>", "</script>", "<style>", "</style>", "<title>", "</title>",
    "<noscript>", "</noscript>", "<xmp>", "<plaintext>", "<iframe>", "</iframe>", "<noembed>",
    "<br>", "<img>", "<input>", "</br>", "<body>", "<html>", "<frame>",
    "<!--", "-->", "--!>", "<!", "<?", "</", "<![CDATA[", "]]>", ">", "/>",
    '"', "'", "=", " title=", "<div title=", "<a href='", "x", " ",
]  # fmt: skip
# elements the reference keeps (so their depth shows in its output); raw-text ones it unwraps, because
# their content is serialised unescaped and would read as markup
KEPT = {p.strip("</>").split()[0].lower() for p in PIECES if p[:1] == "<" and p[1:2].isalpha()} - {
    "script", "style", "textarea", "title", "noscript", "xmp", "plaintext", "iframe", "noembed",
}  # fmt: skip
VOID = {"br", "img", "input", "col", "frame", "hr", "area", "embed", "wbr"}


class _Depth(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = self.deepest = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in VOID:
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)

    def handle_endtag(self, tag: str) -> None:
        self.depth -= tag not in VOID


def real_depth(html: str) -> int:
    """How deep html5ever nests it: nh3 keeping every element, its well-formed output measured."""
    out = nh3.clean(html, tags=KEPT, attributes={}, clean_content_tags=set(), strip_comments=True)
    parser = _Depth()
    parser.feed(out)
    parser.close()
    return parser.deepest


def counted_depth(html: str) -> int:
    return next(depth for depth in range(10_000) if not exceeds_depth(html, depth))


@settings(max_examples=1500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=80))
def test_the_count_is_never_far_below_what_the_parser_builds(pieces: list[str]) -> None:
    """The parser adds elements no tag names (<tbody> and <tr> in `<table><td>`): at most twice the count,
    so the limit holds the real depth within 2 * MAX_NESTING + 2."""
    html = "".join(pieces)
    assert real_depth(html) <= 2 * counted_depth(html) + 2, html


@pytest.mark.parametrize("shift", range(-12, 4))
def test_markup_across_a_search_window_boundary_is_read_whole(shift: int) -> None:
    """The scan searches 64 KiB at a time (no regex call holds the interpreter lock for long): a tag,
    comment or end tag that straddles two windows reads as if it did not."""
    pad = "x" * (65_536 + shift)
    assert exceeds_depth(pad + "<div>" * (LIMIT + 1), LIMIT)
    assert not exceeds_depth(pad + "<div></div>" * (LIMIT + 1), LIMIT)
    assert not exceeds_depth("<div>" + pad + "<!-- <div><div><div><div><div><div> -->", LIMIT)
    assert exceeds_depth("<div><!--" + pad + "-->" + "<div>" * LIMIT, LIMIT)
    assert not exceeds_depth(("<div><xmp>" + pad + "</xmp></div>") * (LIMIT + 1), LIMIT)
    assert not exceeds_depth(("<div><script>" + pad + "</script></div>") * (LIMIT + 1), LIMIT)
    assert exceeds_depth(
        "<div><script><!--<script>" + pad + "</script></div></script>" + "<div>" * LIMIT, LIMIT
    )
    many = "<div " + " a" * 1000 + ' title="</div>">'  # more attributes than one regex call reads
    assert exceeds_depth(many * (LIMIT + 1), LIMIT)
