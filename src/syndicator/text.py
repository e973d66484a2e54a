"""Text normalisation shared by every input route: one notion of "the same text" everywhere."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

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
    """Cut on a word boundary and mark the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def clean_truncated(text: str, limit: int) -> str:
    """truncate(clean_line(text), limit), reading only as much of a long text as the result needs: the
    text of a 4 MB article cleaned whole is one regex pass that holds the interpreter lock for 70 ms,
    and the web server's event loop with it."""
    size = 4 * limit
    while size < len(text):
        cleaned = clean_line(text[:size])  # the clean form of a prefix is a prefix of the clean form,
        if len(cleaned) > limit + 1:  # but for its last character or so
            return truncate(cleaned, limit)
        size *= 4
    return truncate(clean_line(text), limit)
