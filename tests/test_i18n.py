"""The message catalogues: they parse, they hold every marked string of the sources and no other, the
English one is complete, and a template rendered in `i18n.using("en")` comes out in English."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from syndicator import i18n
from syndicator.config import load_settings
from syndicator.templating import environment

ROOT = Path(__file__).resolve().parents[1]
TZ = ZoneInfo("Asia/Ho_Chi_Minh")

MessageId = str | tuple[str, ...]


def _extracted() -> set[MessageId]:
    """What `pybabel extract -F babel.cfg .` finds now, through Babel's own API (no pybabel run)."""
    with (ROOT / "babel.cfg").open() as cfg:
        # Babel's own parser of the mapping file, which has no annotations
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")  # type: ignore[no-untyped-call]
    found = extract_from_dir(ROOT, method_map, options_map, keywords=DEFAULT_KEYWORDS)
    return {message for _, _, message, _, _ in found}


def _ids(catalogue: Catalog) -> set[MessageId]:
    return {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalogue if m.id}


@pytest.fixture(scope="module")
def extracted() -> set[MessageId]:
    return _extracted()


@pytest.mark.parametrize(("lang", "forms"), [("vi", 1), ("en", 2)])
def test_each_catalogue_parses_with_its_plural_forms(lang: str, forms: int) -> None:
    catalogue = i18n.read_catalogue(lang)
    assert str(catalogue.locale) == lang
    assert catalogue.num_plurals == forms
    assert i18n.translations(lang).gettext("Trang chủ")  # compiles


def test_the_sources_mark_strings_in_templates_with_plurals(extracted: set[MessageId]) -> None:
    """The completeness checks below only mean something if extraction finds the marked strings."""
    assert "Trang chủ" in extracted
    assert ("%(num)d tin", "%(num)d tin") in extracted  # ngettext keeps its plural


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_marked_string_is_in_the_catalogue_and_none_is_stale(
    lang: str, extracted: set[MessageId]
) -> None:
    ids = _ids(i18n.read_catalogue(lang))
    assert sorted(map(str, extracted - ids)) == [], "run pybabel extract and update (babel.cfg)"
    assert sorted(map(str, ids - extracted)) == [], "the sources dropped these: run pybabel update"


def test_the_template_file_matches_the_sources(extracted: set[MessageId]) -> None:
    with (i18n.LOCALE_DIR / "messages.pot").open("rb") as pot:
        assert _ids(read_po(pot)) == extracted


def test_english_translates_every_message_and_guesses_none() -> None:
    missing = [
        str(message.id)
        for message in i18n.read_catalogue("en")
        if message.id and (message.fuzzy or not all(i18n._strings(message.string)))
    ]
    assert missing == []


def test_a_fuzzy_message_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pybabel update marks a guessed translation fuzzy; until someone checks it, the msgid shows."""
    po = i18n.catalogue_path("en").read_text(encoding="utf-8")
    po = po.replace('msgid "Trang chủ"', '#, fuzzy\nmsgid "Trang chủ"')
    (tmp_path / "en" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "en" / "LC_MESSAGES" / "messages.po").write_text(po, encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translations.cache_clear()
    try:
        assert i18n.translations("en").gettext("Trang chủ") == "Trang chủ"
        assert i18n.translations("en").gettext("Về trang chủ") == "Back to the home page"
    finally:
        i18n.translations.cache_clear()


def _page(name: str, **context: Any) -> str:
    site = SimpleNamespace(name="UBND Quận 1", description="Cổng thông tin", language="vi")
    shared = {"site": site, "base_url": "https://q1.example.vn", "subscribe_url": "/dang-ky"}
    return environment(TZ).get_template(name).render(**shared, **context)


def _home(visible: int) -> str:
    category = SimpleNamespace(slug="xa-hoi", name="Xã hội")
    categories = [SimpleNamespace(category=category, visible=visible)]
    return _page("pages/home.html", articles=[], categories=categories)


def test_pages_render_in_vietnamese_by_default() -> None:
    html = _page("pages/error.html", heading="Không tìm thấy", message="Trang này không có.")
    assert '<a href="/">Trang chủ</a> <a href="/#nguon-tin">Nguồn tin RSS</a>' in html
    assert "Nguồn tin RSS, Atom và JSON Feed cho mọi chuyên mục: <a" in html
    assert '<a href="/">Về trang chủ</a>' in html


def test_pages_render_in_english_inside_using_en() -> None:
    with i18n.using("en"):
        html = _page("pages/error.html", heading="Not found", message="No such page.")
    nav = '<a href="/">Home</a> <a href="/#nguon-tin">RSS feeds</a> <a href="/dang-ky">News by email</a>'
    assert nav in html
    assert "RSS, Atom and JSON Feed for every category: <a" in html
    assert ">download the OPML list</a>" in html
    assert '<a href="/">Back to the home page</a>' in html
    assert "Trang chủ" not in html


def test_ngettext_has_one_form_in_vietnamese_and_two_in_english() -> None:
    assert [i18n.translations("vi").plural(n) for n in (0, 1, 2, 21)] == [0, 0, 0, 0]
    assert [i18n.translations("en").plural(n) for n in (0, 1, 2, 21)] == [1, 0, 1, 1]
    for n in (1, 5):
        assert f"({n} tin)" in _home(n)
    with i18n.using("en"):
        assert "(1 article)" in _home(1)
        assert "(5 articles)" in _home(5)
        assert i18n.ngettext("%(num)d tin", "%(num)d tin", 0) == "%(num)d articles"


def test_using_restores_the_language_before_it() -> None:
    assert i18n.current() == "vi"
    with i18n.using("en"):
        with i18n.using("vi"):
            assert i18n._("Trang chủ") == "Trang chủ"
        assert i18n._("Trang chủ") == "Home"
    assert i18n.current() == "vi"


def test_another_thread_keeps_its_own_language() -> None:
    seen: list[str] = []
    with i18n.using("en"):
        worker = threading.Thread(target=lambda: seen.append(i18n.gettext("Trang chủ")))
        worker.start()
        worker.join()
    assert seen == ["Trang chủ"]  # a new thread starts in the source language, not in ours


def test_an_unknown_language_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no message catalogue for language 'fr': one of vi, en"):
        i18n.check("fr")
    with pytest.raises(ValueError, match="'fr'"), i18n.using("fr"):
        pass
    assert i18n.current() == "vi"


# Data a page shows as it is (names, titles, addresses): Vietnamese in any language, so the checks
# below take it out of the page before they look for Vietnamese UI text.
# (the footer's link names each language in itself, "Tiếng Việt" on every page: an endonym, not UI text)
DATA = (
    *("UBND Quận 1", "Cổng thông tin", "Xã hội", "Giáo dục", "Lịch tiếp dân tháng 12", "Phòng Văn hóa"),
    "Tiếng Việt",
)
PAGES = ROOT / "templates" / "pages"


def _page_contexts() -> dict[str, list[dict[str, Any]]]:
    """Every page with its branches open: each block of text a person may read shows in one of them."""
    when = datetime(2026, 11, 28, 9, 30, tzinfo=TZ)
    social = SimpleNamespace(slug="xa-hoi", name="Xã hội")
    item = SimpleNamespace(
        id="a1", title="Lịch tiếp dân tháng 12", summary="Lịch tiếp dân tháng 12",
        category=social, published_at=when, updated_at=when + timedelta(hours=2),
        body_html="<p>Lịch tiếp dân tháng 12</p>", byline="Phòng Văn hóa", url="https://q1.example.vn/a1",
    )  # fmt: skip
    education = SimpleNamespace(slug="giao-duc", name="Giáo dục")
    categories = [SimpleNamespace(category=social, visible=3), SimpleNamespace(category=education, visible=1)]
    choices = {
        "categories": categories, "chosen": {"xa-hoi"}, "everything": False,
        "frequencies": [("daily", "Daily"), ("weekly", "Weekly")], "frequency": "daily",
    }  # fmt: skip

    def wanted(frequency: str, names: list[str]) -> dict[str, Any]:
        person = SimpleNamespace(email="an@example.vn", frequency=SimpleNamespace(value=frequency))
        return {"wanted": person, "person": person, "names": names}

    confirmations = [wanted(f, n) for f in ("immediate", "weekly", "daily") for n in ([], ["Xã hội"])]
    person = {"person": SimpleNamespace(email="an@example.vn")}
    languages = {"languages": {"vi": "Tiếng Việt", "en": "English"}, "language": "en"}
    return {
        "home.html": [{"articles": [item], "categories": categories}, {"articles": [], "categories": []}],
        "category.html": [{"category": social, "articles": [item], "page": 2, "has_next": True}],
        "article.html": [{"article": item, "permalink": "https://q1.example.vn/a/a1"}],
        "error.html": [{"heading": "Not found", "message": "No such page."}],
        "subscribe.html": [{**choices, "error": "", "email": ""}],
        "subscribe_sent.html": [{}],
        "confirm.html": confirmations,
        "confirmed.html": confirmations,
        "preferences.html": [
            {**choices, **person, **languages, "saved": True, "listed": True, "active": False},
            {
                **choices,
                **person,
                **languages,
                "saved": False,
                "listed": False,
                "active": True,
                "everything": True,
            },
        ],
        "unsubscribe.html": [person],
        "unsubscribed.html": [person],
    }


def _english_pages() -> list[tuple[str, str]]:
    """Each page rendered in English, its data and the addresses and names of its markup taken out
    (a fragment `#nguon-tin` is an address, not a word a person reads)."""
    # feeds in Vietnamese (the directory says so), one category named in English, the other not
    site = SimpleNamespace(name="UBND Quận 1", description="Cổng thông tin", language="vi")
    shared = {"site": site, "base_url": "https://q1.example.vn", "subscribe_url": "/dang-ky"}
    shared |= {"csrf_field": "csrf", "csrf_token": "t", "page_query": "trang=2"}
    names = load_settings(categories={"en": {"xa-hoi": "Society"}}).category_display_name
    env = environment(TZ, category_names=names)  # dates in English too, inside i18n.using("en")
    pages = []
    with i18n.using("en"):
        for name, contexts in _page_contexts().items():
            for context in contexts:
                html = env.get_template(f"pages/{name}").render(**shared, **context)
                for data in DATA:
                    html = html.replace(data, "")
                html = re.sub(r'\b(href|src|id|name|value|for)="[^"]*"', "", html)
                pages.append((name, html))
    return pages


def test_the_english_pages_cover_every_page_template() -> None:
    pages = {path.name for path in PAGES.glob("*.html") if not path.name.startswith("_")}
    assert pages - {"base.html"} == set(_page_contexts())


def _ui_pieces(message: MessageId) -> set[str]:
    """The words of a msgid between its placeholders and tags: what a page would show of it."""
    texts = (message,) if isinstance(message, str) else message
    pieces = {p.strip() for t in texts for p in re.split(r"<[^>]*>|%\(\w+\)[sd]", t)}
    return {p for p in pieces if any(c.isalpha() for c in p)}


def test_no_vietnamese_ui_text_is_left_on_an_english_page() -> None:
    """A marked string missing from the English page's output shows its msgid; an unmarked one shows
    its Vietnamese letters. Neither may be left once the data is taken out."""
    vietnamese = set().union(*(_ui_pieces(m) for m in _ids(i18n.read_catalogue("vi"))))
    for name, html in _english_pages():
        left = [p for p in sorted(vietnamese) if re.search(rf"(?<!\w){re.escape(p)}(?!\w)", html)]
        assert left == [], name
        assert [c for c in html if c.isalpha() and not c.isascii()] == [], name


def test_the_english_pages_show_english_names_dates_and_the_feeds_language() -> None:
    """What the check above cannot see once data is taken out: the English name of a category is
    shown, the one without is not dropped, the directory says the feeds are in Vietnamese."""
    pages: dict[str, str] = {}
    for name, html in _english_pages():
        pages.setdefault(name, html)  # the first context of each page: the one with data
    home = pages["home.html"]
    assert "Society" in home and '<span class="language">(in Vietnamese)</span>' in home
    assert "(1 article)" in home and "(3 articles)" in home
    assert "Society" in pages["category.html"] and "Society" in pages["article.html"]
    assert "9:30 AM, Saturday 28 November 2026" in pages["article.html"]
