"""The portal page-export parser: golden files for every sample, the messy cases, and property tests.

Regenerate the golden files after an intended parser change with

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_portal_parser.py

and review every changed file by eye (category, title, date, byline, paragraphs) before committing.
"""

from __future__ import annotations

import html
import json
import os
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicator.ingest.errors import InvalidArticle
from syndicator.ingest.portal import parse_export, split_byline
from syndicator.model import ArticleInput
from tests.conftest import EXAMPLES

GOLDEN = Path(__file__).resolve().parent / "golden" / "portal-export"
SAMPLES = sorted(EXAMPLES.glob("*.txt"))
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN", "") not in ("", "0")
VIETNAM = timezone(timedelta(hours=7))
# Characters XML 1.0 forbids (and the C1 controls the project drops too).
FORBIDDEN = {chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)]}
FORBIDDEN |= {"\ufffe", "\uffff"}

BANNER = (
    "Cổng thông tin điện tử huyện Thọ Xuân - Thanh Hóa\n"
    "THỌ XUÂN PHẤN ĐẤU ĐẾN NĂM 2025\u00a0 \u00a0 \u00a0 CHÀO MỪNG!\n"
    "date\n"
)


def export(
    *,
    category: str = "Thông báo",
    title: str = "Thông báo lịch tiếp công dân",
    date_line: str | None = "Đăng lúc: 08:15:00 28/12/2020 (GMT+7)",
    body: tuple[str, ...] = ("Đoạn thứ nhất của bài.", "Đoạn thứ hai của bài./."),
    byline: str | None = "Văn phòng HĐND và UBND huyện",
    banner: str = BANNER,
    newline: str = "\n",
) -> bytes:
    """An export shaped like the portal's: banner, category, title, date line, paragraphs, byline."""
    parts = [banner + "\n" + category, title]
    if date_line is not None:
        parts.append(date_line)
    parts.extend(body)
    if byline is not None:
        parts.append(byline)
    return "\n\n".join(parts).replace("\n", newline).encode("utf-8") + newline.encode()


def parse(data: bytes, article_id: str = "a1") -> ArticleInput:
    return parse_export(data, article_id, source="test")


def fields(article: ArticleInput) -> dict[str, Any]:
    """What the golden files pin down."""
    return {
        "id": article.id,
        "title": article.title,
        "category_name": article.category_name,
        "category_slug": article.category_slug,
        "published_at": article.published_at.isoformat(),
        "author": article.author,
        "office": article.office,
        "summary": article.summary,
        "body_html": article.body_html,
    }


def paragraphs(body_html: str) -> list[str]:
    assert body_html.startswith("<p>") and body_html.endswith("</p>")
    return [html.unescape(p) for p in body_html[3:-4].split("</p><p>")]


def assert_xml_safe(article: ArticleInput) -> None:
    """Every text field can go into an XML feed, and body_html is a well-formed fragment."""
    for value in (article.title, article.category_name, article.summary, article.author, article.office):
        assert not FORBIDDEN & set(value or "")
    assert not FORBIDDEN & set(article.body_html)
    ElementTree.fromstring(f"<doc>{article.body_html}</doc>")


# --- golden files -------------------------------------------------------------------------------------


def test_there_are_twelve_samples_each_with_a_golden_file() -> None:
    assert len(SAMPLES) == 12
    stale = [p for p in GOLDEN.glob("*.json") if not (EXAMPLES / f"{p.stem}.txt").is_file()]
    if UPDATE_GOLDEN:
        for path in stale:
            path.unlink()
        return  # the parametrised test below writes the missing ones
    goldens = sorted(p.stem for p in GOLDEN.glob("*.json"))
    assert goldens == [p.stem for p in SAMPLES], "a sample without a golden file, or a stale golden file"


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_sample_matches_its_golden_file(sample: Path) -> None:
    got = fields(parse_export(sample.read_bytes(), sample.stem, source=str(sample)))
    golden = GOLDEN / f"{sample.stem}.json"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert golden.is_file(), f"no golden file {golden.name}: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert got == json.loads(golden.read_text(encoding="utf-8"))


def test_the_real_page_000() -> None:
    """Checked by hand against the page: the facts the golden file must keep."""
    sample = EXAMPLES / "000_7aa2cdb3d5133083.txt"
    article = parse_export(sample.read_bytes(), sample.stem)
    assert article.id == "000_7aa2cdb3d5133083"
    assert article.category_name == "Chiến lược - Định Hướng - Quy hoạch"
    assert article.category_slug == "chien-luoc-dinh-huong-quy-hoach"
    assert article.title == (
        "Hội nghị tổng kết công tác Quốc phòng - An ninh năm 2020, triển khai nhiệm vụ năm 2021"
    )
    assert article.published_at == datetime(2020, 12, 18, 15, 50, 13, tzinfo=VIETNAM)
    assert article.published_at.isoformat() == "2020-12-18T15:50:13+07:00"
    assert (article.author, article.office) == ("Lê Hải", "Trung tâm VHTT, TT và DL Thọ Xuân")
    paras = paragraphs(article.body_html)
    # 13 paragraphs of text; the lines holding only NBSPs are not paragraphs
    assert len(paras) == 13
    assert all(p.strip() and p == p.strip() for p in paras)
    assert "\u00a0" not in article.body_html
    assert paras[0].startswith("Sáng 18/12/2020, UBND huyện Thọ Xuân đã tổ chức hội nghị")
    assert paras[6].startswith("Phát biểu chỉ đạo tại hội nghị, đồng chí Lê Đình Hải")
    assert paras[-1].endswith("trong công tác quốc phòng- an ninh năm 2020./.")  # the end mark stays
    assert "Lê Hải, Trung tâm" not in article.body_html  # the byline is not body text
    assert article.summary == paras[0]
    # the banner and the date widget are not part of the article
    assert "CHÀO MỪNG" not in article.body_html + article.title
    assert "Đăng lúc" not in article.body_html


def test_samples_have_distinct_ids_and_content() -> None:
    articles = [parse_export(p.read_bytes(), p.stem) for p in SAMPLES]
    assert len({a.id for a in articles}) == 12
    assert len({a.content_hash() for a in articles}) == 12
    assert len({a.title for a in articles}) == 12


# --- messy cases: a faithful import --------------------------------------------------------------------


def test_utf8_byte_order_mark_is_ignored() -> None:
    plain = export()
    assert fields(parse(b"\xef\xbb\xbf" + plain)) == fields(parse(plain))


def test_bom_on_the_real_page() -> None:
    sample = EXAMPLES / "000_7aa2cdb3d5133083.txt"
    with_bom = parse_export(b"\xef\xbb\xbf" + sample.read_bytes(), sample.stem)
    assert with_bom.content_hash() == parse_export(sample.read_bytes(), sample.stem).content_hash()


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "cr"])
def test_crlf_and_lone_cr_line_ends(newline: str) -> None:
    article = parse(export(newline=newline))
    assert fields(article) == fields(parse(export()))
    assert "\r" not in article.body_html + article.title + (article.office or "")


def test_crlf_on_the_real_page() -> None:
    sample = EXAMPLES / "000_7aa2cdb3d5133083.txt"
    crlf = sample.read_bytes().replace(b"\n", b"\r\n")
    assert fields(parse_export(crlf, sample.stem)) == fields(parse_export(sample.read_bytes(), sample.stem))


def test_nfd_text_is_the_same_as_nfc_text() -> None:
    sample = EXAMPLES / "000_7aa2cdb3d5133083.txt"
    text = sample.read_text(encoding="utf-8")
    nfc = parse_export(unicodedata.normalize("NFC", text).encode(), sample.stem)
    nfd_bytes = unicodedata.normalize("NFD", text).encode()
    assert nfd_bytes != sample.read_bytes()  # the test really feeds decomposed text
    nfd = parse_export(nfd_bytes, sample.stem)
    assert nfd.category_slug == nfc.category_slug == "chien-luoc-dinh-huong-quy-hoach"
    assert nfd.content_hash() == nfc.content_hash()
    assert fields(nfd) == fields(nfc)
    assert unicodedata.is_normalized("NFC", nfd.body_html + nfd.title + nfd.category_name)


@pytest.mark.parametrize(
    "name",
    [
        "Văn hóa - Xã hội",
        "VĂN HÓA - XÃ HỘI",
        "văn hóa - xã hội",
        "Văn hóa-Xã hội",
        "Văn hóa -Xã hội",
        "Văn  hóa   -   Xã  hội",
        "Văn hóa – Xã hội",  # en dash
        "Văn hóa — Xã hội",  # em dash
        "\u00a0Văn hóa\u00a0-\u00a0Xã hội\u00a0",
        "  Văn hóa - Xã hội\t",
        unicodedata.normalize("NFD", "Văn hóa - Xã hội"),
    ],
)
def test_category_names_differing_in_case_spacing_or_dashes_are_one_category(name: str) -> None:
    article = parse(export(category=name))
    assert article.category_slug == "van-hoa-xa-hoi"
    assert article.category_name.casefold() == "văn hóa - xã hội"  # the display form: ' - ' around dashes


def test_d_with_stroke_in_slugs() -> None:
    assert parse(export(category="Đảng - Đoàn thể")).category_slug == "dang-doan-the"


def test_markup_characters_are_text() -> None:
    title = "Giá lúa < 7.000 đồng & lợn > 50.000 đồng ]]> <b>không đậm</b>"
    body = ("Chi phí: A < B && C > D; ]]> kết thúc CDATA; <script>alert(1)</script>", "Hết./.")
    article = parse(export(title=title, body=body))
    assert article.title == title  # titles are plain text; the feed writer escapes them
    paras = paragraphs(article.body_html)
    assert paras[0] == body[0]
    assert "<script>" not in article.body_html and "<b>" not in article.body_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in article.body_html
    assert "A &lt; B &amp;&amp; C &gt; D; ]]&gt; kết thúc" in article.body_html
    assert article.summary == body[0]
    assert_xml_safe(article)


def test_xml_forbidden_control_characters_are_removed() -> None:
    controls = "\x00\x01\x02\x07\x08\x0b\x0c\x0e\x1b\x1f\x7f\x80\x85\x9f\ufffe\uffff"
    article = parse(
        export(
            category=f"Thông{controls} báo",
            title=f"Tiêu{controls} đề",
            body=(f"Đoạn{controls} một.", "Đoạn\x00 hai\x1f./."),
            byline=f"Lê Hải,{controls} Phòng Văn hóa",
        )
    )
    assert (article.category_name, article.title) == ("Thông báo", "Tiêu đề")
    assert paragraphs(article.body_html) == ["Đoạn một.", "Đoạn hai./."]
    assert (article.author, article.office) == ("Lê Hải", "Phòng Văn hóa")
    assert_xml_safe(article)


def test_tabs_and_odd_spaces_collapse() -> None:
    article = parse(export(title="Tiêu\tđề\u200b \u00a0 bài", body=("  Một\t\tdòng  ", "Dòng\u00a0hai./.")))
    assert article.title == "Tiêu đề bài"
    assert paragraphs(article.body_html) == ["Một dòng", "Dòng hai./."]


def test_lines_of_one_paragraph_are_joined() -> None:
    article = parse(export(body=("Dòng một\ndòng hai\n   dòng ba.", "Đoạn sau./.")))
    assert paragraphs(article.body_html) == ["Dòng một dòng hai dòng ba.", "Đoạn sau./."]


def test_very_long_article_imports() -> None:
    paragraph = "Nội dung rất dài của bài viết về công tác chuyển đổi số ở Thọ Xuân. " * 30
    count = 2_000_000 // len(paragraph.encode())
    data = export(body=tuple(paragraph for _ in range(count)))
    assert len(data) > 2_000_000
    article = parse(data)
    assert len(paragraphs(article.body_html)) == count
    assert len(article.body_html) == count * (len(paragraph.strip()) + len("<p></p>"))
    assert len(article.summary) <= 300 and article.summary.endswith("…")


@pytest.mark.parametrize(
    ("date_line", "expected"),
    [
        ("Đăng lúc: 15:50:13 18/12/2020 (GMT+7)", datetime(2020, 12, 18, 15, 50, 13, tzinfo=VIETNAM)),
        ("Đăng lúc: 15:50:13 18/12/2020", datetime(2020, 12, 18, 15, 50, 13, tzinfo=VIETNAM)),
        ("Đăng lúc: 10:00 02/01/2021", datetime(2021, 1, 2, 10, 0, tzinfo=VIETNAM)),  # day first
        ("Đăng lúc: 7:05 2/1/2021", datetime(2021, 1, 2, 7, 5, tzinfo=VIETNAM)),
        ("Đăng lúc:15:50:13 18/12/2020(GMT+7)", datetime(2020, 12, 18, 15, 50, 13, tzinfo=VIETNAM)),
        (
            "   Đăng   lúc :  15:50:13   18/12/2020   ( GMT+7 )  ",
            datetime(2020, 12, 18, 15, 50, 13, tzinfo=VIETNAM),
        ),
        ("ĐĂNG LÚC: 15:50:13 18/12/2020 (GMT+7)", datetime(2020, 12, 18, 15, 50, 13, tzinfo=VIETNAM)),
        ("Đăng lúc: 15:50:13 18/12/2020 (UTC+07:00)", datetime(2020, 12, 18, 15, 50, 13, tzinfo=VIETNAM)),
        ("Đăng lúc: 00:00:00 01/01/2021 (GMT+0)", datetime(2021, 1, 1, tzinfo=UTC)),
        (
            "Đăng lúc: 00:00:00 01/01/2021 (GMT-0:30)",
            datetime(2021, 1, 1, tzinfo=timezone(-timedelta(minutes=30))),
        ),
        (
            "\u00a0Đăng lúc:\u00a015:50:13\u00a018/12/2020\u00a0(GMT+7)",
            datetime(2020, 12, 18, 15, 50, 13, tzinfo=VIETNAM),
        ),
    ],
)
def test_date_line_variants(date_line: str, expected: datetime) -> None:
    published = parse(export(date_line=date_line)).published_at
    assert published == expected
    assert published.utcoffset() == expected.utcoffset()


def test_published_at_is_aware_and_in_vietnam_time() -> None:
    published = parse(export(date_line="Đăng lúc: 23:30:00 31/12/2020")).published_at
    assert published.utcoffset() == timedelta(hours=7)
    assert published.astimezone(UTC) == datetime(2020, 12, 31, 16, 30, tzinfo=UTC)


def test_a_date_in_the_body_is_body_text() -> None:
    body = ("Đăng lúc: 10:00 01/01/1999 là dòng của nội dung.", "Hết./.")
    article = parse(export(body=body))
    assert article.published_at == datetime(2020, 12, 28, 8, 15, tzinfo=VIETNAM)
    assert paragraphs(article.body_html)[0] == body[0]


def test_another_portals_banner() -> None:
    """The anchor is the date line, not the banner's line count."""
    for banner in ("", "Cổng TTĐT xã Xuân Hồng\n", "A\nB\nC\nD\nE\n\n\n"):
        article = parse(export(banner=banner))
        assert (article.category_name, article.title) == ("Thông báo", "Thông báo lịch tiếp công dân")


@pytest.mark.parametrize(
    ("byline", "author", "office"),
    [
        ("Lê Hải, Trung tâm VHTT, TT và DL Thọ Xuân", "Lê Hải", "Trung tâm VHTT, TT và DL Thọ Xuân"),
        ("Phòng Nội vụ huyện Thọ Xuân", None, "Phòng Nội vụ huyện Thọ Xuân"),
        ("Văn phòng HĐND và UBND huyện", None, "Văn phòng HĐND và UBND huyện"),
        ("Nguyễn Văn An", "Nguyễn Văn An", None),
        ("Phòng Văn hóa, Thông tin huyện", None, "Phòng Văn hóa, Thông tin huyện"),
    ],
)
def test_bylines(byline: str, author: str | None, office: str | None) -> None:
    article = parse(export(byline=byline))
    assert (article.author, article.office) == (author, office)
    assert byline not in article.body_html
    assert split_byline(byline) == (author, office)


def test_last_paragraph_ending_like_a_sentence_is_body() -> None:
    article = parse(export(body=("Đoạn một.", "Đoạn hai."), byline=None))
    assert (article.author, article.office) == (None, None)
    assert paragraphs(article.body_html) == ["Đoạn một.", "Đoạn hai."]


def test_a_single_paragraph_is_body_not_byline() -> None:
    article = parse(export(body=("Chỉ một đoạn ngắn",), byline=None))
    assert paragraphs(article.body_html) == ["Chỉ một đoạn ngắn"]
    assert article.office is None


# --- messy cases: a clear error ------------------------------------------------------------------------


def invalid(data: bytes, article_id: str = "a1") -> str:
    with pytest.raises(InvalidArticle) as caught:
        parse_export(data, article_id)
    message = caught.value.message
    assert message and message == str(caught.value)
    assert "\n" not in message
    return message


def test_missing_date_line() -> None:
    assert "Đăng lúc" in invalid(export(date_line=None))


@pytest.mark.parametrize(
    ("date_line", "reason"),
    [
        ("Đăng lúc: 25:99 18/12/2020", "impossible date"),
        ("Đăng lúc: 25:99:00 18/12/2020 (GMT+7)", "impossible date"),
        ("Đăng lúc: 10:00 31/02/2021", "impossible date"),
        ("Đăng lúc: 10:00 29/02/2021", "impossible date"),
        ("Đăng lúc: 10:00 12/13/2021", "impossible date"),
        ("Đăng lúc: 10:00 00/01/2021", "impossible date"),
        ("Đăng lúc: 10:00:61 01/01/2021", "impossible date"),
        ("Đăng lúc: hôm qua", "malformed date line"),
        ("Đăng lúc: mười giờ sáng ngày mười tám", "malformed date line"),
        ("Đăng lúc:", "malformed date line"),
        ("Đăng lúc: 18/12/2020", "malformed date line"),
        ("Đăng lúc: 15:50:13", "malformed date line"),
        ("Đăng lúc: 15:50:13 2020-12-18", "malformed date line"),
        ("Đăng lúc: 15:50:13 18/12/20", "malformed date line"),
        ("Đăng lúc: 15:50:13 18/12/2020 sáng", "malformed date line"),
        ("Đăng lúc: 15:50:13 18/12/2020 (GMT+99)", "impossible time zone"),
        ("Đăng lúc: 15:50:13 18/12/2020 (GMT+7:75)", "impossible time zone"),
        ("Đăng lúc: 10:00 01/01/0001", "impossible year"),
        ("Đăng lúc: 23:00 31/12/9999 (GMT-7)", "impossible year"),
    ],
)
def test_malformed_date_line(date_line: str, reason: str) -> None:
    message = invalid(export(date_line=date_line))
    assert reason in message
    assert date_line.strip()[:20] in message  # the operator sees the offending line


def test_a_date_line_before_an_impossible_day_is_not_used_as_day_first_fallback() -> None:
    """13/01 is 13 January; 01/13 is no date at all (never month first)."""
    assert parse(export(date_line="Đăng lúc: 10:00 13/01/2021")).published_at.month == 1
    assert "impossible date" in invalid(export(date_line="Đăng lúc: 10:00 01/13/2021"))


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe" + "Đăng lúc: 10:00 01/01/2021".encode("utf-16-le"),
        export().replace("Thông báo".encode(), b"Th\xf4ng b\xe1o"),  # Windows-1258-ish bytes
        export() + b"\xc3",  # truncated sequence
        b"\xed\xa0\x80",  # an encoded surrogate
    ],
    ids=["utf16", "latin-bytes", "truncated", "surrogate"],
)
def test_invalid_utf8(data: bytes) -> None:
    assert "not valid UTF-8" in invalid(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"\n\n\n", b"\xef\xbb\xbf", "\u00a0 \u00a0\n".encode()],
    ids=["empty", "blank", "bom", "nbsp"],
)
def test_empty_file(data: bytes) -> None:
    assert "Đăng lúc" in invalid(data)


def test_only_a_banner() -> None:
    assert "Đăng lúc" in invalid(BANNER.encode())


def test_missing_category_or_title() -> None:
    assert "category or title" in invalid(
        b"\n\nChi mot dong\n\nDang luc\n".replace(b"Dang luc", "Đăng lúc: 10:00 01/01/2021".encode())
    )


def test_category_without_letters() -> None:
    assert "no letters or digits" in invalid(export(category="— - —"))


def test_overlong_category_and_title() -> None:
    assert "category" in invalid(export(category="Chuyên mục " * 30))
    # dashes gain spaces in the stored name, which must still fit
    assert "category" in invalid(export(category="-".join("a" * 100)))
    assert "title" in invalid(export(title="Tiêu đề rất dài " * 40))


def test_no_body() -> None:
    assert "no body" in invalid(export(body=(), byline=None))
    assert "no body" in invalid(export(body=("\u00a0", "   "), byline=None))


@pytest.mark.parametrize(
    "article_id",
    ["", "bài viết", "bai viet", "../etc/passwd", "a/b", ".hidden", "-dash", "a\n", "a" * 129, "x\udcff"],
)
def test_file_name_not_usable_as_id(article_id: str) -> None:
    assert "file name" in invalid(export(), article_id)


@pytest.mark.parametrize("article_id", ["000_7aa2cdb3d5133083", "a", "A.b-c_1", "9" * 128])
def test_file_names_usable_as_id(article_id: str) -> None:
    assert parse(export(), article_id).id == article_id


# --- properties ----------------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def check_article(article: ArticleInput) -> None:
    """What every parsed article guarantees to the store and the feeds."""
    assert article.title and article.category_name and article.category_slug and article.body_html
    assert article.published_at.utcoffset() is not None
    article.published_at.astimezone(UTC)  # the store converts to UTC: no overflow
    assert len(article.content_hash()) == 32
    assert unicodedata.is_normalized("NFC", article.title + article.body_html)
    assert_xml_safe(article)


def parse_or_invalid(data: bytes) -> None:
    try:
        article = parse_export(data, "prop-1")
    except InvalidArticle as error:
        assert error.message
        return
    check_article(article)


@PROPERTY_SETTINGS
@given(st.binary(max_size=2000))
def test_any_bytes_give_an_article_or_invalid_article(data: bytes) -> None:
    parse_or_invalid(data)


@PROPERTY_SETTINGS
@given(st.text(max_size=1000))
def test_any_text_gives_an_article_or_invalid_article(text: str) -> None:
    parse_or_invalid(text.encode("utf-8", "surrogatepass"))


_two = st.integers(0, 99).map(lambda n: f"{n:02d}")
DATE_LINES = st.builds(
    "{}{}: {}:{}{} {}/{}/{}{}".format,
    st.sampled_from(["Đăng lúc", "ĐĂNG LÚC", "  đăng lúc", "Đăng\u00a0lúc", "Đăng  lúc"]),
    st.sampled_from(["", " "]),
    st.integers(0, 30).map(str),
    _two,
    st.sampled_from(["", ":00", ":59", ":60"]),
    st.integers(0, 35).map(str),
    st.integers(0, 14).map(str),
    st.sampled_from(["2020", "2021", "0000", "0001", "1899", "1900", "2999", "3000", "9999"]),
    st.sampled_from(
        ["", " (GMT+7)", " (GMT-12)", " (UTC+14:00)", " (GMT+15)", " (GMT-0:30)", " (GMT+7", "x"]
    ),
)
REAL_LINES = st.sampled_from(
    [line for sample in SAMPLES[:3] for line in sample.read_text(encoding="utf-8").splitlines()]
)
EXPORT_LINES = st.one_of(
    REAL_LINES,
    DATE_LINES,
    st.sampled_from(["", " ", "\u00a0", "\u00a0 \u00a0", "\t", "date", "./.", "—", "-", "Thông báo"]),
    st.sampled_from(
        ["Lê Hải, Trung tâm VHTT", "<b>&amp;</b> ]]>", "\x00\x01\x1b\x7f\x85", "\ufeff", "\u200b"]
    ),
    st.text(max_size=30),
)


@PROPERTY_SETTINGS
@given(
    st.lists(EXPORT_LINES, max_size=20),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.booleans(),
    st.booleans(),
)
def test_export_like_lines_give_an_article_or_invalid_article(
    lines: list[str], newline: str, bom: bool, decompose: bool
) -> None:
    text = newline.join(lines)
    if decompose:
        text = unicodedata.normalize("NFD", text)
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass")
    parse_or_invalid(data)


@PROPERTY_SETTINGS
@given(st.lists(EXPORT_LINES, max_size=20))
def test_line_ends_bom_and_unicode_form_do_not_change_the_article(lines: list[str]) -> None:
    text = "\n".join(lines)
    variants = [
        text.encode(),
        text.replace("\n", "\r\n").encode(),
        b"\xef\xbb\xbf" + text.encode(),
        unicodedata.normalize("NFD", text).encode(),
    ]
    outcomes: list[str] = []
    for data in variants:
        try:
            outcomes.append(parse_export(data, "prop-1").content_hash())
        except InvalidArticle:
            outcomes.append("invalid")
    assert len(set(outcomes)) == 1, outcomes


def test_the_date_placeholder_is_never_a_category() -> None:
    """An export that lost its category line must not be filed under "date"."""
    sample = (EXAMPLES / "001_9685aab5f3c71f64.txt").read_text(encoding="utf-8")
    missing = sample.replace("\nThông báo\n\n", "\n")
    with pytest.raises(InvalidArticle) as raised:
        parse_export(missing.encode(), "x")
    assert "category" in raised.value.message
    only_date = "date\n\nTiêu đề\n\nĐăng lúc: 08:15:00 28/12/2020\n\nNội dung.\n"
    with pytest.raises(InvalidArticle, match="missing category or title"):
        parse_export(only_date.encode(), "y")


def test_a_closing_formula_is_not_a_byline() -> None:
    sample = (EXAMPLES / "001_9685aab5f3c71f64.txt").read_text(encoding="utf-8")
    article = parse_export(sample.replace("Văn phòng HĐND và UBND huyện", "Trân trọng!").encode(), "z")
    assert (article.author, article.office) == (None, None)
    assert article.body_html.endswith("<p>Trân trọng!</p>")


def test_a_paragraph_of_endless_ampersands_is_refused_naming_the_body() -> None:
    """The feeds parse the body again: a paragraph the HTML parser would take seconds over is refused."""
    export = "Thông báo\nTiêu đề\nĐăng lúc: 15:50:00 07/12/2020\n" + "a&b " * 20_000 + "\n"
    with pytest.raises(InvalidArticle, match="body: more than 10000 '&' between two tags"):
        parse_export(export.encode(), "000_0123456789abcdef")
