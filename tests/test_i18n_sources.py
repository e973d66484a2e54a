"""No words a person reads are left out of the catalogues: every Vietnamese string in the code and
every piece of text in the templates is marked for translation, and what is marked can be extracted.

tests/test_i18n.py checks the catalogues against what is marked; this checks that what should be
marked is. A string that is data or input (the portal's own wording that the importer parses, the
site's default name, an example in the API's schema) is listed below with the reason."""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from syndicator.templating import TEMPLATES
from tests.conftest import ROOT

SRC = ROOT / "src" / "syndicator"
# Vietnamese letters beyond ASCII: a string holding one is Vietnamese text
VIETNAMESE = re.compile(r"[À-ÃÈ-ÊÌÍÒ-ÕÙÚÝà-ãè-êìíò-õùúýĂăĐđĨĩŨũƠơƯưẠ-ỹ]")
MARKERS = {"_", "N_", "gettext", "ngettext"}
# whole files whose Vietnamese is the input they parse or the data they migrate, not what they say
DATA_FILES = {
    "ingest/portal.py": "parses the portal's page exports, which are written in Vietnamese",
}
DATA_STRINGS = {
    ("config.py", "Cổng thông tin điện tử huyện Thọ Xuân"): "the default site name: data, set per site",
    ("config.py", "Cổng TTĐT huyện Thọ Xuân"): "the default short name and sender name: data",
    (
        "config.py",
        "Tin tức, thông báo của Cổng thông tin điện tử huyện Thọ Xuân, tỉnh Thanh Hóa",
    ): "the default site description: data",
    ("i18n.py", "Tiếng Việt"): "Vietnamese named in itself, as its readers look for it on any page",
    ("dates.py", "Chủ nhật"): "locale data: how Vietnamese writes Sunday in running text (dates.py)",
    ("text.py", "đ"): "a letter folded in slugs, not text",
    ("mail/choices.py", "tất cả"): "input: an operator may type 'tất cả' for every category",
    ("mail/csvio.py", "địa chỉ email"): "input: a header a spreadsheet of addresses may have",
    ("web/api.py", "Category name, e.g. Thông báo"): "the API schema for developers, with a real example",
}
# text in templates that is the same in every language
NAMES = {"RSS", "Atom", "JSON", "Feed", "OPML", "Email", "English", "Tiếng", "Việt"}
SHOWN_ATTRIBUTES = re.compile(
    r"""\b(?:title|alt|placeholder|aria-label)\s*=\s*("[^"]*"|'[^']*')""", re.IGNORECASE
)


def _sources() -> Iterator[Path]:
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings (of the module, a class or a function)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _marked(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are a marker call's message arguments."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _marker_name(node) is not None:
            found.update(id(arg) for arg in node.args)
    return found


def _marker_name(call: ast.Call) -> str | None:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    return name if name in MARKERS else None


def unmarked_vietnamese(path: Path) -> list[str]:
    relative = path.relative_to(SRC).as_posix()
    return (
        [] if relative in DATA_FILES else unmarked_vietnamese_in(path.read_text(encoding="utf-8"), relative)
    )


def unmarked_vietnamese_in(source: str, relative: str) -> list[str]:
    tree = ast.parse(source)
    skip = _docstrings(tree) | _marked(tree)
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and VIETNAMESE.search(node.value)
            and (relative, node.value) not in DATA_STRINGS
        ):
            found.append(f"{relative}:{node.lineno}: {node.value!r}")
    return found


def test_every_vietnamese_string_in_the_code_is_marked() -> None:
    found = [line for path in _sources() for line in unmarked_vietnamese(path)]
    assert found == [], "mark these with _()/N_() (syndicator.i18n), or list them above as data"


def test_the_data_strings_listed_are_still_there() -> None:
    """A listed exception that the code no longer has is a hole waiting for a new string."""
    texts = {path.relative_to(SRC).as_posix(): path.read_text(encoding="utf-8") for path in _sources()}
    gone = [key for key in DATA_STRINGS if repr(key[1])[1:-1] not in texts.get(key[0], "")]
    assert gone == []


def bad_marker_arguments(path: Path) -> list[str]:
    """A marker's message must be a literal: pybabel extracts nothing from an f-string, a name
    (but `_(CONSTANT)` translating an `N_()` constant where it is shown) or a sum of strings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    relative = path.relative_to(SRC).as_posix()
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or (name := _marker_name(node)) is None or relative == "i18n.py":
            continue
        messages = node.args[:2] if name == "ngettext" else node.args[:1]
        for arg in messages:
            literal = isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            translating_a_marked_constant = name in ("_", "gettext") and isinstance(
                arg, ast.Name | ast.Attribute
            )
            if not (literal or translating_a_marked_constant):
                found.append(f"{relative}:{node.lineno}: {name}({ast.unparse(arg)})")
    return found


def test_every_marker_holds_a_literal_message() -> None:
    found = [line for path in _sources() for line in bad_marker_arguments(path)]
    assert found == []


def _templates() -> list[str]:
    return sorted(
        path.relative_to(TEMPLATES).as_posix()
        for path in TEMPLATES.rglob("*")
        if path.suffix in (".html", ".txt")
    )


# Jinja's own syntax, taken out of a template's source before its text is read (a placeholder stays,
# so that a tag with an expression in an attribute is still one tag)
JINJA = [
    re.compile(r"\{%-?\s*trans\b.*?%\}.*?\{%-?\s*endtrans\s*-?%\}", re.DOTALL),
    re.compile(r"\{#.*?#\}", re.DOTALL),
    re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL),
    re.compile(r"@@[A-Z_]+@@"),  # a mail's slot, filled per recipient (mail/mime.py)
]


def unmarked_template_text(name: str, source: str | None = None) -> list[str]:
    """Text of the template outside `_()`/`{% trans %}`: what a person would read untranslated.

    Jinja's syntax, HTML comments, <style> and <script>, tags and entities are taken out; the
    attributes a person reads (title, alt, placeholder, aria-label) are read too."""
    text = (TEMPLATES / name).read_text(encoding="utf-8") if source is None else source
    for syntax in JINJA:
        text = syntax.sub("\x00", text)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    text = re.sub(r"<(style|script)\b.*?</\1>", " ", text, flags=re.DOTALL | re.IGNORECASE)
    shown = [value[1:-1] for value in SHOWN_ATTRIBUTES.findall(text)]
    text = re.sub(r"<[^>]*>", "\n", text)
    found = []
    for piece in (*html.unescape(text).split("\n"), *shown):
        if [w for w in re.findall(r"[^\W\d_]{2,}", piece) if w not in NAMES]:
            found.append(f"{name}: {' '.join(piece.replace(chr(0), '…').split())!r}")
    return found


@pytest.mark.parametrize("name", _templates())
def test_every_text_of_the_templates_is_marked(name: str) -> None:
    assert unmarked_template_text(name) == []


def test_the_checks_find_what_is_not_marked() -> None:
    template = (
        '<p title="Xem thêm">{{ _("Trang chủ") }} <b>Liên hệ</b> RSS</p><a href="{{ x }}">…</a>'
        "{% trans n=1 %}Ổn {{ n }}{% endtrans %}<!-- ghi chú --><style>p { color: red }</style>{# Ghi #}"
    )
    assert unmarked_template_text("x.html", template) == ["x.html: 'Liên hệ'", "x.html: 'Xem thêm'"]
    code = '"""Tài liệu."""\na = "Chưa đánh dấu"\nb = _("Đã đánh dấu")\nc = N_("Cũng vậy")\n'
    assert unmarked_vietnamese_in(code, "x.py") == ["x.py:2: 'Chưa đánh dấu'"]
