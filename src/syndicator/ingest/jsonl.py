"""The JSON Lines schema (one article per line), shared with the CMS API's request body.

Fields: id, title, category, published_at (ISO 8601; no offset = the site's time zone), body_html or
body_text, and optionally summary, author, office, url, updated_at, status (published | withdrawn).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Protocol
from urllib.parse import urlsplit

from syndicator.ingest.errors import InvalidArticle
from syndicator.ingest.sanitize import TooCostly, check_cost, sanitize_html, text_to_html
from syndicator.model import ARTICLE_ID, ArticleInput, Status
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
    problems: list[tuple[str, str]] = []
    unknown = sorted(set(obj) - KNOWN_FIELDS)
    for name in unknown:
        problems.append((name, "unknown field"))

    def text(name: str, *, required: bool, limit: int) -> str | None:
        value = obj.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                problems.append((name, "required"))
            return None
        if not isinstance(value, str):
            problems.append((name, "must be a string"))
            return None
        cleaned = clean_line(value)
        if not cleaned:  # only spaces or control characters
            if required:
                problems.append((name, "required"))
            return None
        if len(cleaned) > limit:
            problems.append((name, f"longer than {limit} characters"))
        return cleaned

    def when(name: str, *, required: bool) -> datetime | None:
        value = obj.get(name)
        if value is None:
            if required:
                problems.append((name, "required"))
            return None
        if not isinstance(value, str):
            problems.append((name, "must be an ISO 8601 string"))
            return None
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            problems.append((name, f"not an ISO 8601 date-time: {value[:40]!r}"))
            return None
        if not MIN_YEAR <= moment.year <= MAX_YEAR:
            problems.append((name, f"year {moment.year} is out of range ({MIN_YEAR}-{MAX_YEAR})"))
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=tz)

    article_id = obj.get("id")
    if isinstance(article_id, int) and not isinstance(article_id, bool):
        article_id = str(article_id)
    if not isinstance(article_id, str) or not ARTICLE_ID.fullmatch(article_id):
        problems.append(("id", "required: 1-128 letters, digits, '.', '_' or '-'"))
    title = text("title", required=True, limit=500)
    category = text("category", required=True, limit=200)
    if category is not None and not category_slug(category):
        problems.append(("category", "has no letters or digits"))
    elif category is not None and len(category_name(category)) > 200:
        problems.append(("category", "longer than 200 characters"))
    published_at = when("published_at", required=True)
    updated_at = when("updated_at", required=False)
    summary = text("summary", required=False, limit=2000)
    author = text("author", required=False, limit=200)
    office = text("office", required=False, limit=300)
    url = text("url", required=False, limit=2000)
    if url is not None and not _is_http_url(url):
        problems.append(("url", "must be an absolute http(s) URL"))

    body_html = obj.get("body_html")
    body_text = obj.get("body_text")
    body = ""
    if body_html is not None and body_text is not None:
        problems.append(("body_html", "give body_html or body_text, not both"))
    elif isinstance(body_html, str):
        try:
            body = sanitize_html(body_html)
        except TooCostly as error:
            problems.append(("body_html", str(error)))
    elif isinstance(body_text, str):
        body = text_to_html(body_text)
        try:
            check_cost(body)  # the feeds and mails parse it again
        except TooCostly as error:
            problems.append(("body_text", str(error)))
            body = ""
    elif body_html is not None or body_text is not None:
        problems.append(("body_html" if body_html is not None else "body_text", "must be a string"))
    else:
        problems.append(("body_html", "required (or body_text)"))
    if not body and not any(name == "body_html" or name == "body_text" for name, _ in problems):
        problems.append(("body_html" if body_html is not None else "body_text", "no content"))

    status_value = obj.get("status", "published")
    try:
        status = Status(status_value)
    except ValueError:
        problems.append(("status", "must be 'published' or 'withdrawn'"))
        status = Status.PUBLISHED

    if updated_at and published_at and updated_at < published_at:
        problems.append(("updated_at", "earlier than published_at"))

    if problems:
        raise InvalidArticle("; ".join(f"{f or 'line'}: {p}" for f, p in problems), problems)
    assert isinstance(article_id, str) and title and category and published_at
    if not summary:
        summary = summary_of_html(body, SUMMARY_CHARS)  # a line per paragraph or list item
    return ArticleInput(
        id=article_id,
        title=title,
        category_name=category,
        published_at=published_at,
        updated_at=updated_at,
        body_html=body,
        summary=summary,
        author=author,
        office=office,
        url=url,
        status=status,
        source=source,
    )


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
