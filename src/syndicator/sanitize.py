"""HTML that reaches a feed, a page or a mail passes through here: no script, style, handlers, js: URLs.

The parser inside nh3 takes time quadratic in nesting depth (40,000 nested `<div>`: 7 s) and in runs of
`&` (400,000 `&amp;` in one paragraph: 3 s), so a fragment nested deeper than MAX_NESTING, or with more
than MAX_AMPERSANDS `&` between two tags, is refused before it is parsed (`check_cost`, linear).
"""

from __future__ import annotations

import html
import re

import nh3

from syndicator.nesting import exceeds_depth
from syndicator.text import nfc, strip_forbidden

MAX_NESTING = 256  # open elements at once; web browsers stop nesting at 512, real articles stay under 30
MAX_AMPERSANDS = 10_000  # in one run of text between tags: a paragraph of a real article has a few dozen

# Sectioning and other block elements stay (without attributes): stripped, their texts would run
# together on the page and in the summary ("<section>Phần một</section><section>Phần hai</section>").
_TAGS = {
    "a", "abbr", "address", "article", "aside", "b", "blockquote", "br", "caption", "center", "cite",
    "code", "dd", "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "footer", "h2", "h3",
    "h4", "h5", "h6", "header", "hgroup", "hr", "i", "img", "ins", "li", "main", "nav", "ol", "p", "pre",
    "q", "s", "section", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "abbr": {"title"},
    "q": {"cite"},
    "blockquote": {"cite"},
}


_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")  # spaces (NBSP too) on a line between paragraphs


class TooCostly(ValueError):
    """HTML the parser inside nh3 would take seconds or minutes over: refused before it is parsed."""


class TooDeep(TooCostly):
    """HTML nested deeper than MAX_NESTING."""


class TooManyAmpersands(TooCostly):
    """More than MAX_AMPERSANDS `&` between two tags."""


def check_cost(fragment: str) -> None:
    """Raise TooCostly for HTML that html5ever parses in quadratic time: deep nesting, and long runs
    of `&` (each named character reference, or bare `&`, in one text node or attribute value costs time
    in proportion to what came before it: 400,000 `&amp;` in a row take 3 s, 200,000 `a&` 0.7 s)."""
    if fragment.count("&") > MAX_AMPERSANDS:  # the usual case skips the split
        most = max(run.count("&") for run in fragment.split("<"))
        if most > MAX_AMPERSANDS:
            raise TooManyAmpersands(
                f"more than {MAX_AMPERSANDS} '&' between two tags ({most}): split the text into paragraphs"
            )
    if exceeds_depth(fragment, MAX_NESTING):
        raise TooDeep(f"HTML nested deeper than {MAX_NESTING} elements")


def sanitize_html(fragment: str) -> str:
    unified = nfc(strip_forbidden(fragment))  # NFD and NFC text must be the same article
    check_cost(unified)
    return nh3.clean(
        unified,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


def text_to_html(text: str) -> str:
    """Plain text (blank-line separated paragraphs) as escaped <p> elements: markup-like text stays text."""
    unified = nfc(strip_forbidden(text)).replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [" ".join(p.split()) for p in _BLANK_LINE.split(unified)]
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs if p)
