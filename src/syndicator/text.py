"""Text normalisation shared by every input route: one notion of "the same text" everywhere."""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

import nh3
from slugify import slugify

# XML 1.0 allows TAB, LF, CR and everything from U+0020 except surrogates and U+FFFE/U+FFFF.
# C1 controls (U+0080-U+009F) are allowed by XML but feed validators warn on them, and no real
# Vietnamese text contains them, so they go too.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_DASHES = re.compile(r"\s*[-\u2010-\u2015\u2212]+\s*")
RESERVED_SLUGS = frozenset({"all"})
_SPACES = re.compile(r"[\s\u00a0\u200b\ufeff]+")
# Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): a right-to-left override in
# a title shows "gpj.exe" as "exe.jpg"; Vietnamese never needs them in a line of text.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")

# Elements that begin a new line where a browser draws them (HTML's block and table elements, list
# items, line breaks): their tags are the boundaries of the text a person reads. Every other element
# runs on inline: "<b>Thọ</b>Xuân" reads "ThọXuân".
_BOUNDARIES = {
    "address", "article", "aside", "blockquote", "br", "caption", "center", "dd", "details", "dialog",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
    "h6", "header", "hgroup", "hr", "legend", "li", "main", "menu", "nav", "ol", "p", "pre", "section",
    "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}  # fmt: skip
# nh3 writes what it keeps as `<name>` or `</name>`, lower case, when no attribute may stay, and escapes
# every "<" of the text: on its output this finds each tag and nothing else, whatever case, attributes
# or `<br/>` spelling the input had.
_TAG = re.compile(r"<(/?)([a-z][a-z0-9]*)>")
# built once: nh3.clean() converts its sets of tags and attributes at every call (20 µs against 5)
_SKELETON = nh3.Cleaner(tags=_BOUNDARIES, attributes={"*": set()}, link_rel=None)
# HTML's white space (NBSP is a character of the text) in runs a browser shows as one space
_HTML_SPACES = re.compile(r"[\t\n\r\f][ \t\n\r\f]*| [ \t\n\r\f]+")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def strip_forbidden(text: str) -> str:
    """Remove characters that XML 1.0 cannot carry (they would make a feed unparseable)."""
    return _XML_FORBIDDEN.sub("", text)


def clean_line(text: str) -> str:
    """NFC, no forbidden characters nor bidi controls, runs of any whitespace (NBSP included) as one
    space, trimmed. Titles, author and office names, subscriber names and category names pass here."""
    return _SPACES.sub(" ", _BIDI_CONTROLS.sub("", strip_forbidden(nfc(text)))).strip()


def category_name(text: str) -> str:
    """The display form of a category name: clean spacing and ' - ' around dashes."""
    return _DASHES.sub(" - ", clean_line(text)).strip(" -")


@lru_cache(maxsize=4096)
def category_slug(name: str) -> str:
    """The identity of a category: names differing only in case, spacing, dashes or Unicode form agree.

    >>> category_slug("Chiến lược - Định Hướng - Quy hoạch")
    'chien-luoc-dinh-huong-quy-hoach'

    Cached: a few dozen names recur across 100,000 articles, and python-slugify costs ~40 µs a call
    (it looks for the optional `unidecode` module every time).
    """
    folded = category_name(name).casefold().replace("đ", "d")
    slug = slugify(folded, max_length=80, word_boundary=True)
    # "all" names the feed of every category; a category called that must not shadow it.
    return f"{slug}-1" if slug in RESERVED_SLUGS else slug


def truncate(text: str, limit: int) -> str:
    """Cut on a word boundary (a space or a line break) and mark the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-\n") + "…"


def clean_truncated(text: str, limit: int, *, lines: bool = False) -> str:
    """truncate(clean_line(text), limit), or with `lines` truncate(clean_lines(text), limit), reading
    only as much of a long text as the result needs: the text of a 4 MB article cleaned whole is one
    regex pass that holds the interpreter lock for 70 ms, and the web server's event loop with it."""
    clean = clean_lines if lines else clean_line
    size = 4 * limit
    while size < len(text):
        cleaned = clean(text[:size])  # the clean form of a prefix is a prefix of the clean form,
        if len(cleaned) > limit + 1:  # but for its last character or so
            return truncate(cleaned, limit)
        size *= 4
    return truncate(clean(text), limit)


def html_to_text(fragment: str) -> str:
    """The text a person reads in an HTML fragment: one line per block (paragraph, list item, heading,
    table cell, `<br>`...), white space inside a block collapsed as a browser does (kept line by line
    in `<pre>`), entities decoded; no empty line. Inline elements add nothing: "<a>x</a>, y" is "x, y".

    The fragment must have passed sanitize.check_cost (the parser inside nh3 is quadratic in
    nesting): sanitize_html's output, or text_to_html's once checked. Not cleaned: see clean_lines."""
    skeleton = _SKELETON.clean(fragment)
    pieces = _TAG.split(skeleton)  # text, "/" or "", name, text, ..., text
    lines: list[str] = []
    line: list[str] = []
    in_pre = 0
    for index in range(0, len(pieces), 3):
        text = html.unescape(pieces[index])
        if in_pre:
            first, *rest = text.split("\n")
            line.append(first)
            for part in rest:
                _end_line(line, lines)
                line.append(part)
        elif "  " in text or not text.isprintable():  # C-speed looks: most text needs no change
            line.append(_HTML_SPACES.sub(" ", text))
        else:
            line.append(text)
        if index + 2 < len(pieces):  # a tag follows: every tag left is a boundary
            _end_line(line, lines)
            if pieces[index + 2] == "pre":
                in_pre += -1 if pieces[index + 1] else 1
    _end_line(line, lines)
    return "\n".join(lines)


def _end_line(line: list[str], lines: list[str]) -> None:
    text = "".join(line).strip()
    if text:
        lines.append(text)
    line.clear()


def clean_lines(text: str) -> str:
    """clean_line of each line of the text, empty lines dropped: text whose line breaks a reader sees."""
    return "\n".join(cleaned for cleaned in map(clean_line, text.split("\n")) if cleaned)


def summary_of_html(fragment: str, limit: int) -> str:
    """The summary an article without one gets: the start of its text, a line per block, `limit`
    characters at most (html_to_text's conditions apply)."""
    return clean_truncated(html_to_text(fragment), limit, lines=True)


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """A count in operators' English (the CLI's output, the log's lines; never a resident's words, which
    go through the catalogue's ngettext): "1 mail", "2 mails", "0 mails"; an irregular noun gives its
    plural ("1 category", "3 categories")."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
