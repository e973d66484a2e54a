"""The JSON Lines schema (one article per line), shared with the CMS API's request body.

Fields: id, title, category, published_at (ISO 8601; no offset = the site's time zone), body_html or
body_text, and optionally summary, author, office, url, updated_at, status (published | withdrawn).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Protocol
from urllib.parse import urlsplit

from syndicator.ingest.errors import InvalidArticle
from syndicator.model import ARTICLE_ID, ArticleInput, Status
from syndicator.sanitize import TooCostly, check_cost, sanitize_html, text_to_html
from syndicator.text import category_name, category_slug, clean_line, summary_of_html

SUMMARY_CHARS = 300
MIN_YEAR, MAX_YEAR = 1900, 2999  # beyond these a date is a typo, and the store cannot convert it to UTC
KNOWN_FIELDS = frozenset(
    {"id", "title", "category", "published_at", "updated_at", "body_html", "body_text", "summary",
     "author", "office", "url", "status"}
)  # fmt: skip


def article_from_mapping(obj: Any, tz: tzinfo, *, source: str = "") -> ArticleInput:
    """Validate one JSON object. Raises InvalidArticle listing every bad field at once."""
    if not isinstance(obj, Mapping):
        raise InvalidArticle("expected a JSON object", [("", "expected a JSON object")])
    fields = _Fields(obj, tz)
    for name in sorted(set(obj) - KNOWN_FIELDS):
        fields.problem(name, "unknown field")
    article_id = fields.article_id()
    title = fields.text("title", required=True, limit=500)
    category = fields.category()
    published_at = fields.when("published_at", required=True)
    updated_at = fields.when("updated_at", required=False)
    summary = fields.text("summary", required=False, limit=2000)
    author = fields.text("author", required=False, limit=200)
    office = fields.text("office", required=False, limit=300)
    url = fields.url()
    body = fields.body()
    status = fields.status()
    if updated_at and published_at and updated_at < published_at:
        fields.problem("updated_at", "earlier than published_at")
    if fields.problems:
        problems = fields.problems
        raise InvalidArticle("; ".join(f"{f or 'line'}: {p}" for f, p in problems), problems)
    assert article_id and title and category and published_at
    return ArticleInput(
        id=article_id,
        title=title,
        category_name=category,
        published_at=published_at,
        updated_at=updated_at,
        body_html=body,
        # a line per paragraph or list item
        summary=summary or summary_of_html(body, SUMMARY_CHARS),
        author=author,
        office=office,
        url=url,
        status=status,
        source=source,
    )


class _Fields:
    """One JSON object's fields read one by one, every problem collected rather than the first raised."""

    def __init__(self, obj: Mapping[str, Any], tz: tzinfo) -> None:
        self.obj = obj
        self.tz = tz
        self.problems: list[tuple[str, str]] = []

    def problem(self, name: str, message: str) -> None:
        self.problems.append((name, message))

    def text(self, name: str, *, required: bool, limit: int) -> str | None:
        value = self.obj.get(name)
        if isinstance(value, str):
            value = clean_line(value) or None  # only spaces or control characters: as if absent
        elif value is not None:
            self.problem(name, "must be a string")
            return None
        if value is None:
            if required:
                self.problem(name, "required")
            return None
        if len(value) > limit:
            self.problem(name, f"longer than {limit} characters")
        return value

    def when(self, name: str, *, required: bool) -> datetime | None:
        value = self.obj.get(name)
        if value is None:
            if required:
                self.problem(name, "required")
            return None
        if not isinstance(value, str):
            self.problem(name, "must be an ISO 8601 string")
            return None
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            self.problem(name, f"not an ISO 8601 date-time: {value[:40]!r}")
            return None
        if not MIN_YEAR <= moment.year <= MAX_YEAR:
            self.problem(name, f"year {moment.year} is out of range ({MIN_YEAR}-{MAX_YEAR})")
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=self.tz)

    def article_id(self) -> str | None:
        value = self.obj.get("id")
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not ARTICLE_ID.fullmatch(value):
            self.problem("id", "required: 1-128 letters, digits, '.', '_' or '-'")
            return None
        return value

    def category(self) -> str | None:
        category = self.text("category", required=True, limit=200)
        if category is not None and not category_slug(category):
            self.problem("category", "has no letters or digits")
        elif category is not None and len(category_name(category)) > 200:
            self.problem("category", "longer than 200 characters")
        return category

    def url(self) -> str | None:
        url = self.text("url", required=False, limit=2000)
        if url is not None and not _is_http_url(url):
            self.problem("url", "must be an absolute http(s) URL")
        return url

    def body(self) -> str:
        """The sanitised HTML of body_html, or body_text made into paragraphs: exactly one is given."""
        body_html, body_text = self.obj.get("body_html"), self.obj.get("body_text")
        before = len(self.problems)
        body = ""
        if body_html is not None and body_text is not None:
            self.problem("body_html", "give body_html or body_text, not both")
        elif isinstance(body_html, str):
            body = self._guarded("body_html", lambda: sanitize_html(body_html))
        elif isinstance(body_text, str):
            body = self._guarded("body_text", lambda: _paragraphs(body_text))
        elif body_html is not None or body_text is not None:
            self.problem("body_html" if body_html is not None else "body_text", "must be a string")
        else:
            self.problem("body_html", "required (or body_text)")
        if not body and len(self.problems) == before:
            self.problem("body_html" if body_html is not None else "body_text", "no content")
        return body

    def _guarded(self, name: str, make: Callable[[], str]) -> str:
        try:
            return make()
        except TooCostly as error:
            self.problem(name, str(error))
            return ""

    def status(self) -> Status:
        try:
            return Status(self.obj.get("status", Status.PUBLISHED))
        except ValueError:
            self.problem("status", "must be 'published' or 'withdrawn'")
            return Status.PUBLISHED


def _paragraphs(text: str) -> str:
    html = text_to_html(text)
    check_cost(html)  # the feeds and mails parse it again
    return html


def parse_line(line: bytes | str, tz: tzinfo, *, source: str = "") -> ArticleInput:
    try:
        obj = json.loads(line)
    except RecursionError:  # Python's decoder recurses once per level
        raise InvalidArticle("not valid JSON: arrays or objects nested too deep") from None
    except ValueError as error:  # also a number of more digits than Python converts
        raise InvalidArticle(f"not valid JSON: {_json_problem(error)}") from None
    return article_from_mapping(obj, tz, source=source)


def _json_problem(error: ValueError) -> str:
    if "integer string conversion" in str(error):  # its own words advise a Python setting
        return f"a number of more than {sys.get_int_max_str_digits()} digits"
    return str(error)[:200]


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced '[' in the host
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class Readable(Protocol):
    def read(self, size: int, /) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """A line longer than the limit: skipped to its end without being held, only its length known."""

    length: int  # bytes, without the line end


def iter_lines(
    stream: Readable, max_bytes: int, *, chunk_size: int = 1 << 16
) -> Iterator[tuple[int, bytes | LineTooLong]]:
    """Numbered non-blank lines (1-based), BOM tolerated on the first. Read in chunks, so memory stays
    within max_bytes plus a chunk: a 300 MB line is counted past, never held whole."""
    number = 0
    held = bytearray()
    skipped = 0  # while skipping a line too long: its length so far
    while chunk := stream.read(chunk_size):
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if skipped or len(held) + len(piece) > max_bytes:
                skipped += len(held) + len(piece)
                held.clear()
            else:
                held += piece
            if end < 0:
                break
            number += 1
            line = _finished(number, held, skipped)
            if line is not None:
                yield number, line
            held, skipped, start = bytearray(), 0, end + 1
    line = _finished(number + 1, held, skipped) if held or skipped else None
    if line is not None:  # the last line had no line end
        yield number + 1, line


def _finished(number: int, held: bytearray, skipped: int) -> bytes | LineTooLong | None:
    if skipped:
        return LineTooLong(skipped)
    line = bytes(held).removeprefix(b"\xef\xbb\xbf") if number == 1 else bytes(held)
    return line if line.strip() else None
