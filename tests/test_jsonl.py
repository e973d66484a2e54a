"""The JSON Lines schema (also the CMS API's body): validation, sanitising, errors naming the field."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicator.ingest.errors import InvalidArticle
from syndicator.ingest.jsonl import KNOWN_FIELDS, LineTooLong, article_from_mapping, iter_lines, parse_line
from syndicator.model import ArticleInput, Status

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
VIETNAM = timezone(timedelta(hours=7))
FORBIDDEN = {chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)]}


def minimal(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "cms-1",
        "title": "Thông báo lịch tiếp công dân",
        "category": "Thông báo",
        "published_at": "2021-01-02T10:00:00",
        "body_text": "Đoạn một.\n\nĐoạn hai.",
    }
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not ...}


def parse(obj: Any) -> ArticleInput:
    return article_from_mapping(obj, TZ, source="test")


def problems(obj: Any) -> dict[str, str]:
    with pytest.raises(InvalidArticle) as caught:
        article_from_mapping(obj, TZ)
    error = caught.value
    assert error.fields, "the error lists the bad fields"
    for name, problem in error.fields:
        assert (f"{name}: " if name else "") + problem in error.message  # the message names each field
    assert "\n" not in error.message
    return dict(error.fields)


# --- accepted lines -----------------------------------------------------------------------------------


def test_minimal_line() -> None:
    article = parse(minimal())
    assert article.id == "cms-1"
    assert article.title == "Thông báo lịch tiếp công dân"
    assert (article.category_name, article.category_slug) == ("Thông báo", "thong-bao")
    assert article.body_html == "<p>Đoạn một.</p><p>Đoạn hai.</p>"
    assert article.status is Status.PUBLISHED
    assert (article.author, article.office, article.url, article.updated_at) == (None, None, None, None)
    assert article.summary == "Đoạn một.\nĐoạn hai."  # a line per paragraph
    assert article.source == "test"


def test_a_time_without_offset_is_in_ho_chi_minh_city() -> None:
    published = parse(minimal(published_at="2021-01-02T10:00:00")).published_at
    assert published.utcoffset() == timedelta(hours=7)
    assert published == datetime(2021, 1, 2, 3, 0, tzinfo=UTC)  # 2 January (ISO is never day first)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-01-02T10:00:00+07:00", datetime(2021, 1, 2, 10, tzinfo=VIETNAM)),
        ("2021-01-02T03:00:00Z", datetime(2021, 1, 2, 10, tzinfo=VIETNAM)),
        ("2021-01-02T03:00:00+00:00", datetime(2021, 1, 2, 10, tzinfo=VIETNAM)),
        ("2021-01-02 10:00", datetime(2021, 1, 2, 10, tzinfo=VIETNAM)),
        ("2021-01-02", datetime(2021, 1, 2, tzinfo=VIETNAM)),
        (" 2021-01-02T10:00:00.123456+07:00 ", datetime(2021, 1, 2, 10, 0, 0, 123456, tzinfo=VIETNAM)),
    ],
)
def test_iso_8601_variants(value: str, expected: datetime) -> None:
    assert parse(minimal(published_at=value)).published_at == expected


def test_all_fields() -> None:
    article = parse(
        minimal(
            body_text=...,
            body_html='<p>Xem <a href="https://thoxuan.thanhhoa.gov.vn/a">chi tiết</a>.</p>',
            summary="Tóm tắt  của\u00a0bài",
            author="Lê Hải",
            office="Trung tâm VHTT, TT và DL Thọ Xuân",
            url="https://thoxuan.thanhhoa.gov.vn/portal/Pages/2021-1-2/a.aspx",
            updated_at="2021-01-03T08:00:00+07:00",
            status="withdrawn",
        )
    )
    assert article.summary == "Tóm tắt của bài"
    assert (article.author, article.office) == ("Lê Hải", "Trung tâm VHTT, TT và DL Thọ Xuân")
    assert article.url == "https://thoxuan.thanhhoa.gov.vn/portal/Pages/2021-1-2/a.aspx"
    assert article.updated_at == datetime(2021, 1, 3, 8, tzinfo=VIETNAM)
    assert article.status is Status.WITHDRAWN
    assert 'href="https://thoxuan.thanhhoa.gov.vn/a"' in article.body_html


def test_numeric_id_becomes_text() -> None:
    assert parse(minimal(id=42)).id == "42"


def test_null_optional_fields_are_absent() -> None:
    article = parse(minimal(author=None, office=None, summary=None, url=None, updated_at=None))
    assert (article.author, article.office, article.url, article.updated_at) == (None, None, None, None)


def test_summary_defaults_to_the_start_of_the_body() -> None:
    long = "Nội dung bài viết dài. " * 40
    article = parse(minimal(body_text=long))
    assert len(article.summary) <= 300 and article.summary.endswith("…")
    assert long.startswith(article.summary[:-1].rstrip())


# --- HTML and text bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dangerous",
    [
        "<script>alert(1)</script>",
        "<style>body{display:none}</style>",
        '<img src="x.png" onerror="alert(1)">',
        '<p onclick="alert(1)">bấm</p>',
        '<a href="javascript:alert(1)">bấm</a>',
        '<a href="JaVaScRiPt:alert(1)">bấm</a>',
        '<a href=" javascript:alert(1)">bấm</a>',
        '<iframe src="https://evil.example/"></iframe>',
        '<object data="x.swf"></object>',
        '<form action="https://evil.example/"><input name="q"></form>',
        '<svg onload="alert(1)"></svg>',
        '<img src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">',
        '<p style="background:url(javascript:alert(1))">x</p>',
        "<!-- <script>alert(1)</script> -->",
    ],
)
def test_body_html_is_sanitised(dangerous: str) -> None:
    body = parse(minimal(body_text=..., body_html=f"<p>Trước</p>{dangerous}<p>Sau</p>")).body_html
    lowered = body.lower()
    for bad in ("<script", "<style", "onerror", "onclick", "onload", "javascript:", "<iframe", "<object"):
        assert bad not in lowered
    for bad in ("<form", "<input", "<svg", "data:text/html", "style=", "<!--"):
        assert bad not in lowered
    assert "<p>Trước</p>" in body and "<p>Sau</p>" in body


def test_safe_html_is_kept() -> None:
    html_in = (
        "<h2>Tiêu đề</h2><p><strong>Đậm</strong> và <em>nghiêng</em></p><ul><li>một</li></ul>"
        '<img src="https://example.org/a.jpg" alt="Ảnh"><a href="https://example.org/">liên kết</a>'
    )
    body = parse(minimal(body_text=..., body_html=html_in)).body_html
    for kept in ("<h2>Tiêu đề</h2>", "<strong>Đậm</strong>", "<em>nghiêng</em>", "<li>một</li>"):
        assert kept in body
    assert 'src="https://example.org/a.jpg"' in body
    assert 'rel="noopener noreferrer"' in body


def test_body_text_that_looks_like_markup_stays_text() -> None:
    text = "<script>alert(1)</script> A < B && C > D ]]> <b>không đậm</b>"
    body = parse(minimal(body_text=text)).body_html
    assert body == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt; A &lt; B &amp;&amp; C &gt; D ]]&gt; "
        "&lt;b&gt;không đậm&lt;/b&gt;</p>"
    )
    ElementTree.fromstring(f"<doc>{body}</doc>")


def test_markup_in_title_is_text() -> None:
    assert parse(minimal(title="A < B & C ]]>")).title == "A < B & C ]]>"


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_body_text_paragraphs(newline: str) -> None:
    text = f"Dòng một{newline}dòng hai{newline}{newline}Đoạn hai{newline} \u00a0 {newline}Đoạn ba"
    assert parse(minimal(body_text=text)).body_html == "<p>Dòng một dòng hai</p><p>Đoạn hai</p><p>Đoạn ba</p>"


def test_control_characters_are_removed() -> None:
    controls = "\x00\x01\x08\x0b\x0c\x1b\x7f\x85"
    article = parse(
        minimal(title=f"Tiêu{controls} đề", category=f"Thông{controls} báo", body_text=f"Nội{controls} dung")
    )
    assert (article.title, article.category_name, article.body_html) == (
        "Tiêu đề",
        "Thông báo",
        "<p>Nội dung</p>",
    )
    html_article = parse(minimal(body_text=..., body_html=f"<p>Nội{controls} dung</p>"))
    assert html_article.body_html == "<p>Nội dung</p>"


def test_nfd_line_is_the_same_article_as_nfc() -> None:
    nfc = minimal(author="Lê Hải", body_text=..., body_html="<p>Huyện Thọ Xuân tổ chức hội nghị</p>")
    nfd = {k: unicodedata.normalize("NFD", v) if isinstance(v, str) else v for k, v in nfc.items()}
    assert nfd != nfc
    assert parse(nfd).content_hash() == parse(nfc).content_hash()
    assert parse(nfd).category_slug == parse(nfc).category_slug
    text_nfc = minimal(body_text="Huyện Thọ Xuân")
    text_nfd = minimal(body_text=unicodedata.normalize("NFD", "Huyện Thọ Xuân"))
    assert parse(text_nfd).content_hash() == parse(text_nfc).content_hash()


def test_category_spelling_variants_are_one_category() -> None:
    slugs = {
        parse(minimal(category=c)).category_slug
        for c in ("Văn hóa - Xã hội", "VĂN HÓA-XÃ HỘI", "văn hóa – xã hội")
    }
    assert slugs == {"van-hoa-xa-hoi"}


# --- errors name the field ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": ...}, "id"),
        ({"id": ""}, "id"),
        ({"id": "bài 1"}, "id"),
        ({"id": "a/b"}, "id"),
        ({"id": "a\n"}, "id"),
        ({"id": "-a"}, "id"),
        ({"id": "a" * 129}, "id"),
        ({"id": True}, "id"),
        ({"id": 1.5}, "id"),
        ({"id": ["a"]}, "id"),
        ({"title": ...}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "\x01\x02"}, "title"),
        ({"title": 5}, "title"),
        ({"title": "x" * 501}, "title"),
        ({"category": ...}, "category"),
        ({"category": "!!!"}, "category"),
        ({"category": " - — "}, "category"),
        ({"category": {"name": "x"}}, "category"),
        ({"category": "-".join("a" * 150)}, "category"),
        ({"published_at": ...}, "published_at"),
        ({"published_at": "yesterday"}, "published_at"),
        ({"published_at": "02/01/2021 10:00"}, "published_at"),
        ({"published_at": "2021-02-31T10:00:00"}, "published_at"),
        ({"published_at": 1609556400}, "published_at"),
        ({"published_at": "0001-01-01T00:00:00"}, "published_at"),
        ({"published_at": "9999-12-31T23:59:59-12:00"}, "published_at"),
        ({"updated_at": "2020-01-01T00:00:00"}, "updated_at"),  # before published_at
        ({"updated_at": "soon"}, "updated_at"),
        ({"summary": 3}, "summary"),
        ({"author": ["Lê Hải"]}, "author"),
        ({"author": "x" * 201}, "author"),
        ({"office": "x" * 301}, "office"),
        ({"url": "ftp://example.org/a"}, "url"),
        ({"url": "/relative/path"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "http://[::1"}, "url"),
        ({"status": "draft"}, "status"),
        ({"status": ["published"]}, "status"),
        ({"status": {}}, "status"),
        ({"body_text": ...}, "body_html"),
        ({"body_html": "<p>x</p>"}, "body_html"),  # both bodies
        ({"body_text": 7}, "body_text"),
        ({"body_text": ..., "body_html": 7}, "body_html"),
        ({"body_text": ""}, "body_text"),
        ({"body_text": " \n\n \x01 "}, "body_text"),
        ({"body_text": ..., "body_html": "<script>alert(1)</script>"}, "body_html"),  # nothing left
        ({"tags": ["a"]}, "tags"),
    ],
)
def test_errors_name_the_field(changes: dict[str, Any], field: str) -> None:
    found = problems(minimal(**changes))
    assert field in found, found
    assert len(found) == 1, found


def test_every_problem_is_listed_at_once() -> None:
    found = problems({"id": "x y", "title": 1, "published_at": "later", "extra": 1, "status": "draft"})
    assert set(found) == {"id", "title", "category", "published_at", "body_html", "extra", "status"}


@pytest.mark.parametrize("value", [[], "text", 1, None, True, [{"id": "a"}]])
def test_not_an_object(value: Any) -> None:
    assert problems(value) == {"": "expected a JSON object"}


def test_known_fields_are_the_documented_schema() -> None:
    assert {
        "id", "title", "category", "published_at", "body_html", "body_text",
        "author", "office", "summary", "url", "updated_at", "status",
    } == KNOWN_FIELDS  # fmt: skip


# --- parse_line and iter_lines ----------------------------------------------------------------------


def test_parse_line_bytes_and_text() -> None:
    line = json.dumps(minimal(), ensure_ascii=False)
    assert parse_line(line, TZ) == parse_line(line.encode(), TZ) == article_from_mapping(minimal(), TZ)
    assert parse_line(line.encode(), TZ, source="f.jsonl:3").source == "f.jsonl:3"


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"{",
        b'{"id": "a",}',
        b"\xff\xfe{}",
        b'{"id": "\xff"}',
        b"1" * 5000,  # more digits than Python converts
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the decoder recurses
        b"NaN",
    ],
    ids=["words", "open", "trailing-comma", "utf16-bom", "bad-utf8", "huge-number", "deep", "nan"],
)
def test_parse_line_rejects_what_is_not_an_object(line: bytes) -> None:
    with pytest.raises(InvalidArticle) as caught:
        parse_line(line, TZ)
    assert caught.value.message
    assert len(caught.value.message) < 400


def test_iter_lines_numbers_skip_blanks_and_tolerate_a_bom() -> None:
    data = b'\xef\xbb\xbf{"a": 1}\r\n\r\n   \n{"b": 2}\n{"c": 3}'
    numbered = list(iter_lines(io.BytesIO(data), 100))
    assert [n for n, _ in numbered] == [1, 4, 5]
    assert [json.loads(line) for _, line in numbered if isinstance(line, bytes)] == [
        {"a": 1},
        {"b": 2},
        {"c": 3},
    ]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 1 << 16])
def test_iter_lines_skips_a_line_too_long_whatever_the_chunks(chunk_size: int) -> None:
    data = b'\xef\xbb\xbf{"a": 1}\n' + b"x" * 25 + b'\n{"b": 2}\n' + b"y" * 21 + b'\n\n{"c": 3}'
    numbered = list(iter_lines(io.BytesIO(data), 20, chunk_size=chunk_size))
    assert numbered == [
        (1, b'{"a": 1}'),
        (2, LineTooLong(25)),
        (3, b'{"b": 2}'),
        (4, LineTooLong(21)),
        (6, b'{"c": 3}'),  # the last line needs no line end
    ]
    assert list(iter_lines(io.BytesIO(b"z" * 20), 20, chunk_size=chunk_size)) == [(1, b"z" * 20)]


class CountingReader:
    """A stream of one endless line: what was read, and the largest chunk asked for."""

    def __init__(self, total: int) -> None:
        self.left, self.largest = total, 0

    def read(self, size: int, /) -> bytes:
        self.largest = max(self.largest, size)
        size = min(size, self.left)
        self.left -= size
        return b"x" * size


def test_iter_lines_never_holds_a_long_line() -> None:
    """Memory stays within the limit plus a chunk: a 300 MB line is counted past, not held."""
    stream = CountingReader(300_000_000)
    tracemalloc.start()
    try:
        numbered = list(iter_lines(stream, 1_000_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert numbered == [(1, LineTooLong(300_000_000))]
    assert stream.left == 0 and stream.largest <= 1 << 16
    assert peak < 3_000_000, peak


# --- properties ---------------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
FIELD_VALUES = st.one_of(
    JSON_VALUES,
    st.sampled_from(
        [
            "2021-01-02T10:00:00",
            "2021-01-02T10:00:00+07:00",
            "2021-13-01",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "Thông báo",
            "published",
            "withdrawn",
            "https://example.org/a",
            "http://[::1",
            "<script>x</script>",
            "<p>ok</p>",
            "\x00\x01",
            " - ",
            "a1",
            "9" * 129,
        ]
    ),
)
ARTICLE_LIKE = st.fixed_dictionaries(
    {}, optional={name: FIELD_VALUES for name in [*sorted(KNOWN_FIELDS), "extra"]}
)


def check_article(article: ArticleInput) -> None:
    assert article.id and article.title and article.category_slug and article.body_html
    assert article.published_at.utcoffset() is not None
    article.published_at.astimezone(UTC)  # the store can convert it
    if article.updated_at is not None:
        article.updated_at.astimezone(UTC)
    assert len(article.content_hash()) == 32
    for value in (article.title, article.category_name, article.summary, article.body_html):
        assert not FORBIDDEN & set(value)


@PROPERTY_SETTINGS
@given(st.one_of(JSON_VALUES, ARTICLE_LIKE))
def test_any_json_value_gives_an_article_or_invalid_article(obj: Any) -> None:
    try:
        article = article_from_mapping(obj, TZ)
    except InvalidArticle as error:
        assert error.fields
        return
    check_article(article)


@PROPERTY_SETTINGS
@given(st.one_of(st.binary(max_size=300), ARTICLE_LIKE.map(lambda o: json.dumps(o).encode())))
def test_any_line_gives_an_article_or_invalid_article(line: bytes) -> None:
    try:
        article = parse_line(line, TZ)
    except InvalidArticle as error:
        assert error.message
        return
    check_article(article)


# --- what the HTML parser would take seconds over -------------------------------------------------


@pytest.mark.parametrize("unit", ["a&b ", "&amp; ", "a&"])
def test_a_long_run_of_ampersands_is_refused_before_any_parse(unit: str) -> None:
    """nh3 (html5ever) takes time quadratic in the '&' of one text node: 1.2 MB of "a&b " took 90 s."""
    run = unit * 300_000
    started = time.perf_counter()
    assert (
        "more than 10000 '&' between two tags" in problems(minimal(body_html=run, body_text=...))["body_html"]
    )
    assert "more than 10000 '&' between two tags" in problems(minimal(body_text=run))["body_text"]
    assert time.perf_counter() - started < 1.0


def test_ampersands_spread_over_paragraphs_are_fine() -> None:
    many = "\n\n".join(["Đường & cầu, điện & nước."] * 5_000)  # 10,000 '&' in all, 2 per paragraph
    assert parse(minimal(body_text=many)).body_html.count("&amp;") == 10_000
    markup = "".join(["<p>A &amp; B &amp; C</p>"] * 5_000)
    assert parse(minimal(body_html=markup, body_text=...)).body_html.count("&amp;") == 10_000
