"""Parser of the portal's page exports (docs/portal-export.md): bytes -> ArticleInput or ImportError_.

Pure: no I/O, no clock. The "Đăng lúc:" line is the anchor; the two non-blank lines before it are the
category and the title, everything after it is the body, and its last short paragraph is the byline.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone

from syndicator.ingest.errors import InvalidArticle
from syndicator.model import ARTICLE_ID, ArticleInput, Status
from syndicator.sanitize import TooCostly, check_cost
from syndicator.text import category_name, category_slug, clean_line, nfc, strip_forbidden, truncate

SUMMARY_CHARS = 300
BYLINE_MAX_CHARS = 120
MAX_CATEGORY_CHARS = 200
DATE_PLACEHOLDER = "date"
# closing formulas of letters and notices: the last line of the text, not who wrote it
_CLOSINGS = frozenset(
    {"trân trọng", "trân trọng cảm ơn", "xin trân trọng cảm ơn", "xin cảm ơn", "trân trọng thông báo"}
)
MAX_TITLE_CHARS = 500
VIETNAM = timezone(timedelta(hours=7))
MIN_YEAR, MAX_YEAR = 1900, 2999  # beyond these a date is a typo, and the store cannot convert it to UTC

_ANCHOR = re.compile(r"^\s*đăng\s+lúc\s*:?", re.IGNORECASE)
_DATE = re.compile(
    r"""^\s*đăng\s+lúc\s*:?\s*
        (?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?\s+
        (?P<d>\d{1,2})/(?P<mo>\d{1,2})/(?P<y>\d{4})
        \s*(?:\(\s*(?:GMT|UTC)\s*(?P<off>[+-]\s*\d{1,2})(?::?(?P<offm>\d{2}))?\s*\))?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
# A paragraph ending like a sentence is body text, not a byline.
_SENTENCE_END = re.compile(r"[.!?:;…]$|\./\.$")
_OFFICE_WORDS = re.compile(
    r"^(văn phòng|phòng|trung tâm|ban|ubnd|hđnd|ủy ban|uỷ ban|chi cục|cục|trạm|công ty|hội|sở|"
    r"huyện|xã|thị trấn|bộ|tổng cục|đảng|mặt trận|đoàn|liên đoàn|bệnh viện|trường|viện|kho bạc|"
    r"công an|ban chỉ huy|hạt|đội|thanh tra|tòa án|toà án|viện kiểm sát|chi nhánh|ngân hàng|điện lực|"
    r"hợp tác xã|bảo hiểm xã hội|báo|đài)\b",
    re.IGNORECASE,
)


def parse_export(data: bytes, article_id: str, *, source: str = "") -> ArticleInput:
    """Read one export. Raises InvalidArticle (and nothing else) with the reason when it cannot."""
    if not ARTICLE_ID.fullmatch(article_id):
        raise InvalidArticle(
            f"file name {article_id!r} cannot be an article id (letters, digits, '.', '_', '-')"
        )
    text = _decode(data)
    lines = [strip_forbidden(line) for line in text.split("\n")]

    anchor = next((i for i, line in enumerate(lines) if _ANCHOR.match(line)), None)
    if anchor is None:
        raise InvalidArticle("no 'Đăng lúc:' (posted at) line")
    published_at = _parse_date(lines[anchor])

    before = [clean_line(line) for line in lines[:anchor]]
    # the date widget's placeholder is page furniture: without this an export that lost its category
    # line would be filed under a category called "date"
    before = [line for line in before if line and line.casefold() != DATE_PLACEHOLDER]
    if len(before) < 2:
        raise InvalidArticle("missing category or title before the 'Đăng lúc:' line")
    category, title = before[-2], before[-1]
    if not category_slug(category):
        raise InvalidArticle(f"category line {category[:60]!r} has no letters or digits")
    if len(category_name(category)) > MAX_CATEGORY_CHARS:  # as stored: ' - ' around dashes
        raise InvalidArticle(
            f"category line longer than {MAX_CATEGORY_CHARS} characters (is it missing, so that the "
            f"banner was taken for it?): {category[:60]!r}…"
        )
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidArticle(f"title longer than {MAX_TITLE_CHARS} characters: {title[:60]!r}…")

    paragraphs = _paragraphs(lines[anchor + 1 :])
    author, office = None, None
    if len(paragraphs) >= 2 and _looks_like_byline(paragraphs[-1]):
        author, office = split_byline(paragraphs.pop())
    if not paragraphs:
        raise InvalidArticle("no body text after the 'Đăng lúc:' line")

    body_html = "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)
    try:
        check_cost(body_html)  # the feeds and mails parse it again
    except TooCostly as error:
        raise InvalidArticle(f"body: {error}") from None
    return ArticleInput(
        id=article_id,
        title=title,
        category_name=category,
        published_at=published_at,
        body_html=body_html,
        summary=truncate(paragraphs[0], SUMMARY_CHARS),
        author=author,
        office=office,
        status=Status.PUBLISHED,
        source=source,
    )


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidArticle(
            f"not valid UTF-8 (byte {error.start}: {data[error.start : error.start + 1]!r})"
        ) from None
    text = text.removeprefix("\ufeff")
    return nfc(text.replace("\r\n", "\n").replace("\r", "\n"))


def _parse_date(line: str) -> datetime:
    match = _DATE.match(line)
    shown = clean_line(line)[:80]
    if not match:
        raise InvalidArticle(f"malformed date line {shown!r} (expected 'Đăng lúc: HH:MM:SS DD/MM/YYYY')")
    if not MIN_YEAR <= int(match["y"]) <= MAX_YEAR:
        raise InvalidArticle(f"impossible year in {shown!r}")
    offset = VIETNAM
    if match["off"]:
        sign = -1 if match["off"].startswith("-") else 1  # the sign of "-0:30" is not in int("-0")
        hours = abs(int(match["off"].replace(" ", "")))
        minutes = int(match["offm"] or 0)
        if hours > 14 or minutes > 59:
            raise InvalidArticle(f"impossible time zone in {shown!r}")
        offset = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return datetime(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"]),
            int(match["mi"]),
            int(match["s"] or 0),
            tzinfo=offset,
        )
    except ValueError as error:
        raise InvalidArticle(f"impossible date in {shown!r}: {error}") from None


def _paragraphs(lines: list[str]) -> list[str]:
    """Blank lines (spaces and NBSPs count as blank) separate paragraphs; lines within one are joined."""
    paragraphs: list[str] = []
    current: list[str] = []
    for raw in lines:
        line = clean_line(raw)
        if line:
            current.append(line)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def _looks_like_byline(paragraph: str) -> bool:
    return (
        len(paragraph) <= BYLINE_MAX_CHARS
        and not _SENTENCE_END.search(paragraph)
        and paragraph.casefold().strip(" !.") not in _CLOSINGS
    )


def split_byline(byline: str) -> tuple[str | None, str | None]:
    """'Lê Hải, Trung tâm VHTT...' -> (author, office); 'Phòng Nội vụ huyện' -> (None, office)."""
    head, sep, rest = byline.partition(",")
    head = head.strip()
    if sep and rest.strip() and len(head.split()) <= 5 and not _OFFICE_WORDS.match(head):
        return head, rest.strip()
    if not sep and len(byline.split()) <= 4 and not _OFFICE_WORDS.match(byline):
        return byline, None
    return None, byline
