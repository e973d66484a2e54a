"""Text normalisation: one notion of "the same text" for every input route."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicator.text import (
    category_name,
    category_slug,
    clean_line,
    clean_lines,
    clean_truncated,
    counted,
    nfc,
    strip_forbidden,
    truncate,
)

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, database=None)
XML_FORBIDDEN = [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF]


def test_nfc_composes() -> None:
    decomposed = unicodedata.normalize("NFD", "Thọ Xuân")
    assert decomposed != "Thọ Xuân"
    assert nfc(decomposed) == "Thọ Xuân"


@pytest.mark.parametrize("code", [*XML_FORBIDDEN, 0x7F, 0x80, 0x85, 0x9F, 0xD800, 0xDFFF])
def test_strip_forbidden_removes_what_xml_cannot_carry(code: int) -> None:
    assert strip_forbidden(f"a{chr(code)}b") == "ab"


@pytest.mark.parametrize("kept", ["\t", "\n", "\r", " ", "\u00a0", "ư", "€", "\U0001f600", "\ufffd"])
def test_strip_forbidden_keeps_allowed_characters(kept: str) -> None:
    assert strip_forbidden(f"a{kept}b") == f"a{kept}b"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  Thọ   Xuân  ", "Thọ Xuân"),
        ("\u00a0Thọ\u00a0\u00a0Xuân\u00a0", "Thọ Xuân"),
        ("Thọ\tXuân\r\n", "Thọ Xuân"),
        ("Thọ\u200bXuân", "Thọ Xuân"),
        ("\ufeffThọ Xuân", "Thọ Xuân"),
        ("Thọ\x00\x1f Xuân", "Thọ Xuân"),
        (unicodedata.normalize("NFD", "Thọ Xuân"), "Thọ Xuân"),
        ("\u00a0 \u00a0", ""),
    ],
)
def test_clean_line(raw: str, clean: str) -> None:
    assert clean_line(raw) == clean


@pytest.mark.parametrize(
    "raw",
    [
        "Văn hóa - Xã hội",
        "Văn hóa-Xã hội",
        "Văn hóa  -Xã hội",
        "Văn hóa – Xã hội",
        "Văn hóa—Xã hội",
        "Văn hóa − Xã hội",
        " - Văn hóa - Xã hội - ",
        "Văn\u00a0hóa\u00a0-\u00a0Xã\u00a0hội",
    ],
)
def test_category_name_spaces_dashes(raw: str) -> None:
    assert category_name(raw) == "Văn hóa - Xã hội"


def test_category_slug_example() -> None:
    assert category_slug("Chiến lược - Định Hướng - Quy hoạch") == "chien-luoc-dinh-huong-quy-hoach"


@pytest.mark.parametrize(
    "variant",
    [
        "Chiến lược - Định Hướng - Quy hoạch",
        "CHIẾN LƯỢC - ĐỊNH HƯỚNG - QUY HOẠCH",
        "chiến lược-định hướng-quy hoạch",
        "Chiến  lược – Định  Hướng — Quy  hoạch",
        unicodedata.normalize("NFD", "Chiến lược - Định Hướng - Quy hoạch"),
        "\u00a0Chiến lược\u00a0-\u00a0Định Hướng - Quy hoạch\u00a0",
    ],
)
def test_category_slug_ignores_case_spacing_dashes_and_unicode_form(variant: str) -> None:
    assert category_slug(variant) == "chien-luoc-dinh-huong-quy-hoach"


@pytest.mark.parametrize(("name", "slug"), [("Đảng", "dang"), ("đoàn thể", "doan-the"), ("Y tế", "y-te")])
def test_category_slug_d_with_stroke(name: str, slug: str) -> None:
    assert category_slug(name) == slug


def test_category_slug_is_at_most_80_characters() -> None:
    assert len(category_slug("Chuyên mục rất dài " * 20)) <= 80


def test_truncate_short_text_is_unchanged() -> None:
    assert truncate("Thọ Xuân", 300) == "Thọ Xuân"
    assert truncate("x" * 300, 300) == "x" * 300


def test_truncate_cuts_on_a_word_and_marks_the_cut() -> None:
    text = "Huyện Thọ Xuân tổ chức hội nghị tổng kết công tác năm 2020, triển khai nhiệm vụ"
    cut = truncate(text, 30)
    assert cut == "Huyện Thọ Xuân tổ chức hội…"
    assert len(cut) <= 30


def test_truncate_without_spaces() -> None:
    cut = truncate("x" * 50, 10)
    assert cut == "x" * 9 + "…"


@PROPERTY_SETTINGS
@given(st.text())
def test_strip_forbidden_leaves_no_forbidden_character(text: str) -> None:
    stripped = strip_forbidden(text)
    assert not {chr(c) for c in XML_FORBIDDEN} & set(stripped)
    stripped.encode("utf-8")  # no lone surrogates either


@PROPERTY_SETTINGS
@given(st.text())
def test_clean_line_is_idempotent_and_nfc(text: str) -> None:
    once = clean_line(text)
    assert clean_line(once) == once
    assert unicodedata.is_normalized("NFC", once)
    assert once == once.strip() and "  " not in once and "\n" not in once


@PROPERTY_SETTINGS
@given(st.text())
def test_category_identity_is_stable(text: str) -> None:
    name = category_name(text)
    assert category_name(name) == name
    assert category_slug(name) == category_slug(text)
    assert category_slug(unicodedata.normalize("NFD", text)) == category_slug(text)


@PROPERTY_SETTINGS
@given(st.text(), st.integers(2, 400))
def test_truncate_respects_the_limit(text: str, limit: int) -> None:
    cut = truncate(text, limit)
    assert len(cut) <= limit
    if len(text) <= limit:
        assert cut == text


BIDI_CONTROLS = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]


@pytest.mark.parametrize("code", BIDI_CONTROLS)
def test_clean_line_strips_bidi_controls(code: int) -> None:
    """A right-to-left override in a title or a name would show text reversed, disguising it."""
    assert clean_line(f"Thông báo {chr(code)}gpj.exe") == "Thông báo gpj.exe"
    assert category_name(f"Văn hóa{chr(code)} - Xã hội") == "Văn hóa - Xã hội"
    assert category_slug(f"Thông{chr(code)} báo") == "thong-bao"


@PROPERTY_SETTINGS
@given(st.text())
def test_clean_line_leaves_no_bidi_control(text: str) -> None:
    assert not any(ord(char) in BIDI_CONTROLS for char in clean_line(text))


@PROPERTY_SETTINGS
@given(
    st.lists(
        st.sampled_from(["Thọ", "Xuân", " ", "\n\n", "\u00a0", "\u200b", "o\u0323", "\u202e", "x" * 50]),
        max_size=400,
    ),
    st.integers(min_value=2, max_value=60),
)
def test_clean_truncated_is_truncate_of_clean_line(pieces: list[str], limit: int) -> None:
    """The summary of a long text is read from its start only, and comes out the same."""
    text = "".join(pieces)
    assert clean_truncated(text, limit) == truncate(clean_line(text), limit)


@PROPERTY_SETTINGS
@given(
    st.lists(
        st.sampled_from(
            ["Thọ", "Xuân", " ", "\n", "\n \n", "\u00a0", "\u200b", "o\u0323", "\u202e", "x" * 50]
        ),
        max_size=400,
    ),
    st.integers(min_value=2, max_value=60),
)
def test_clean_truncated_lines_is_truncate_of_clean_lines(pieces: list[str], limit: int) -> None:
    """A derived summary keeps its lines, and is read from the start of a long text only too."""
    text = "".join(pieces)
    assert clean_truncated(text, limit, lines=True) == truncate(clean_lines(text), limit)


def test_clean_lines_cleans_each_line_and_drops_empty_ones() -> None:
    assert clean_lines(" Thọ  Xuân \n\u00a0\n\n\tThanh\u202e Hóa\r\n") == "Thọ Xuân\nThanh Hóa"


def test_truncate_cuts_at_a_line_break_too() -> None:
    assert truncate("Thông báo lịch cắt điện:\nThời_gian_từ_sáu_giờ", 34) == "Thông báo lịch cắt điện…"


def test_counted_says_one_and_many_in_english() -> None:
    """Operators' counts (the CLI's output, the log's lines): one copy, used by cliout too."""
    from syndicator import cliout

    assert [counted(n, "mail") for n in (0, 1, 2)] == ["0 mails", "1 mail", "2 mails"]
    assert counted(1, "category", "categories") == "1 category"
    assert counted(3, "category", "categories") == "3 categories"
    assert counted(1, "address", "addresses") == "1 address"
    assert cliout.counted is counted
