"""Block boundaries in the text people read: a line per paragraph, list item, heading or cell where
lines are kept (derived summaries, the plain-text part of mails), a space in one-line text (pages,
RSS description, Atom and JSON summary); inline elements run on. And migration 0011, which re-derives
the summaries the old code glued together."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import feedparser
import httpx
import lxml.html
import pytest
from alembic import command
from sqlalchemy import select

from syndicator.feeds.entries import prepare
from syndicator.ingest.importer import import_paths
from syndicator.ingest.jsonl import article_from_mapping
from syndicator.mail.sender import Sender
from syndicator.model import ArticleInput, WriteOutcome
from syndicator.sanitize import sanitize_html
from syndicator.service import assemble
from syndicator.store import Store
from syndicator.store import articles as store_articles
from syndicator.store.database import MIGRATIONS, alembic_config, create_store_engine, upgrade
from syndicator.store.schema import articles, categories
from syndicator.text import clean_line, html_to_text, summary_of_html
from syndicator.web.app import create_app
from tests.factories import FakeClock, article, subscribe
from tests.feedkit import channel
from tests.live import live_server
from tests.mailkit import IN_WINDOW, RUN_AT, TZ, by_recipient, make_settings, parts, queue_daily
from tests.smtp_server import smtp_server

# the sample of examples/articles.jsonl that showed "(Chủ nhật).Khu vực" everywhere
OUTAGE = (
    "<p>Điện lực Thọ Xuân thông báo tạm ngừng cung cấp điện:</p><ul><li>Thời gian: từ 6 giờ 30 ngày "
    "14/3/2021 (Chủ nhật).</li><li>Khu vực: thôn Phong Mỹ, xã Xuân Phong.</li></ul>"
    "<p>Rất mong quý khách hàng thông cảm.</p>"
)
OUTAGE_LINES = [
    "Điện lực Thọ Xuân thông báo tạm ngừng cung cấp điện:",
    "Thời gian: từ 6 giờ 30 ngày 14/3/2021 (Chủ nhật).",
    "Khu vực: thôn Phong Mỹ, xã Xuân Phong.",
    "Rất mong quý khách hàng thông cảm.",
]
OUTAGE_LINE = " ".join(OUTAGE_LINES)


@pytest.mark.parametrize(
    ("fragment", "lines"),
    [
        ("<p>Một.</p><p>Hai.</p>", ["Một.", "Hai."]),
        (OUTAGE, OUTAGE_LINES),
        (
            "<ul><li>Xã<ol><li>thôn Một</li><li>thôn Hai<ul><li>xóm Ba</li></ul></li></ol>hết</li>"
            "<li>Huyện</li></ul>",
            ["Xã", "thôn Một", "thôn Hai", "xóm Ba", "hết", "Huyện"],
        ),
        ("<h2>Tiêu đề</h2>Đoạn<h3>Mục</h3>Chữ", ["Tiêu đề", "Đoạn", "Mục", "Chữ"]),
        (
            "<table><thead><tr><th>Ngày</th><th>Giờ</th></tr></thead>"
            "<tbody><tr><td>14/3</td><td>6:30</td></tr></tbody></table>",
            ["Ngày", "Giờ", "14/3", "6:30"],
        ),
        ("<div><div>Một<div>Hai</div>Ba</div><span>Bốn</span></div>Năm", ["Một", "Hai", "Ba", "Bốn", "Năm"]),
        ("<blockquote>Trích</blockquote><dl><dt>Từ</dt><dd>Nghĩa</dd></dl>", ["Trích", "Từ", "Nghĩa"]),
        ("<figure><img src=x.png><figcaption>Ảnh</figcaption></figure>Sau<hr>Cuối", ["Ảnh", "Sau", "Cuối"]),
        ("<pre>dòng 1\n  dòng 2</pre>sau", ["dòng 1", "dòng 2", "sau"]),
        ("<p>a\n   b\t c</p>", ["a b c"]),  # white space inside a block is a space, as a browser shows it
        ("<p> </p><p>\u00a0</p><div>\n\t</div><p>Chữ</p><li> </li>", ["Chữ"]),  # blank blocks: no line
    ],
)
def test_blocks_are_lines(fragment: str, lines: list[str]) -> None:
    assert html_to_text(fragment).split("\n") == lines
    assert clean_line(html_to_text(fragment)) == " ".join(lines)  # one-line text: a space each


@pytest.mark.parametrize(
    "br", ["<br>", "<br/>", "<br />", "<BR>", "<Br/>", '<br class="x">', "<br\n>", "</br>"]
)
def test_a_line_break_in_any_spelling(br: str) -> None:
    assert html_to_text(f"Dòng một{br}Dòng hai") == "Dòng một\nDòng hai"


@pytest.mark.parametrize(
    "fragment",
    [
        '<P CLASS="a">Một</P><P>Hai</P>',
        '<p title="a > b">Một</p><p>Hai</p>',
        "<p>Một<p>Hai",
        "<LI>Một<LI>Hai",
    ],
)
def test_case_attributes_and_omitted_end_tags_do_not_hide_a_boundary(fragment: str) -> None:
    assert html_to_text(fragment) == "Một\nHai"


@pytest.mark.parametrize(
    ("fragment", "text"),
    [
        ("<b>Thọ</b>Xuân", "ThọXuân"),
        ('<a href="https://x.test/">Thọ Xuân</a>, Thanh Hóa', "Thọ Xuân, Thanh Hóa"),
        ("<p>Giá <strong>5</strong><sup>2</sup> <em>đồng</em>.</p>", "Giá 52 đồng."),
        ("<p>Tôi<span> </span>đi</p>", "Tôi đi"),
    ],
)
def test_inline_elements_are_not_boundaries(fragment: str, text: str) -> None:
    assert html_to_text(fragment) == text


def test_entities_are_decoded_once_and_markup_in_text_stays_text() -> None:
    fragment = "<p>A &amp; B &lt;p&gt; &amp;lt; &quot;x&quot; &#273;&#x1EBF;n &copy;</p><p>&nbsp;</p>"
    assert html_to_text(fragment) == 'A & B <p> &lt; "x" đến ©'


def test_scripts_and_comments_show_nothing() -> None:
    assert html_to_text("<p>a<!-- b --></p><script>c</script><style>d</style><p>e</p>") == "a\ne"


def test_a_derived_summary_keeps_lines_and_is_cut_on_a_word() -> None:
    assert summary_of_html(OUTAGE, 300) == "\n".join(OUTAGE_LINES)
    cut = summary_of_html(OUTAGE, 80)
    assert cut == "Điện lực Thọ Xuân thông báo tạm ngừng cung cấp điện:\nThời gian: từ 6 giờ 30…"
    assert len(cut) <= 80
    assert summary_of_html("<p>Một</p>" + "<p>hai ba</p>" * 2000, 300).endswith("hai ba…")


def test_feeds_derive_a_spaced_one_line_summary_from_a_body_without_one() -> None:
    assert prepare(channel(), article(summary="", body_html=OUTAGE)).summary == OUTAGE_LINE


# --- end to end: a JSONL article with a list, on the pages, in the feeds, in a digest ---------------


def test_a_list_body_reads_with_its_boundaries_everywhere(database_url: str, tmp_path: Path) -> None:
    with smtp_server() as smtp:
        settings = make_settings(database_url, tmp_path, smtp_url=smtp.url)
        store = Store.open(settings.database_url, settings.categories)
        try:
            line = {
                "id": "cat-dien",
                "title": "Lịch tạm ngừng cung cấp điện",
                "category": "Thông báo",
                "published_at": IN_WINDOW.isoformat(),
                "body_html": OUTAGE,
            }
            source = tmp_path / "articles.jsonl"
            source.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
            assert import_paths(store, [source], IN_WINDOW.astimezone(UTC), settings.tz).failed == 0
            now = RUN_AT.astimezone(UTC)
            service = assemble(settings, store, lambda: now)
            with live_server(create_app(service.services)) as server:
                for path in ("/", "/c/thong-bao", "/a/cat-dien"):
                    page = httpx.get(server + path).text
                    assert "(Chủ nhật).Khu vực" not in page
                    if path != "/a/cat-dien":
                        (summary,) = lxml.html.fromstring(page).find_class("summary")
                        assert " ".join(summary.text_content().split()) == OUTAGE_LINE
                rss = feedparser.parse(httpx.get(server + "/feeds/all.rss").content)
                atom = feedparser.parse(httpx.get(server + "/feeds/thong-bao.atom").content)
                json_feed = httpx.get(server + "/feeds/all.json").json()
            assert rss.entries[0].description == OUTAGE_LINE
            assert atom.entries[0].summary == OUTAGE_LINE
            assert json_feed["items"][0]["summary"] == OUTAGE_LINE

            subscribe(store, "an@xa.test")
            queue_daily(store, settings)
            assert Sender(store, settings, clock=FakeClock(RUN_AT)).deliver().sent == 1
        finally:
            store.close()
        (message,) = by_recipient(smtp.recorder)["an@xa.test"]
    body = parts(message)
    # the plain-text part keeps the lines, indented under the article's bullet
    assert "\r\n".join(f"  {line}" for line in OUTAGE_LINES) in body.text  # CRLF: MIME's line ends
    (summary,) = lxml.html.fromstring(body.html).find_class("summary")
    assert " ".join(summary.text_content().split()) == OUTAGE_LINE


# --- migration 0011 ---------------------------------------------------------------------------------

WRITTEN = datetime(2021, 3, 12, 9, tzinfo=UTC)
MIGRATED_AFTER = datetime(2026, 1, 1, tzinfo=UTC)  # the migration stamps the wall clock's time


def _migration() -> ModuleType:
    path = MIGRATIONS / "versions" / "0011_summary_boundaries.py"
    spec = importlib.util.spec_from_file_location("migration_0011", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _as_imported_before(item: ArticleInput) -> ArticleInput:
    """The article as an import before 0011 stored it: with the summary the old code derived."""
    return replace(item, summary=_migration().old_summary(item.body_html))


def _jsonl(article_id: str, body: str, **fields: Any) -> ArticleInput:
    line = {"id": article_id, "title": f"Bài {article_id}", "category": "Thông báo"}
    return article_from_mapping(
        {**line, "published_at": "2021-03-12T16:00:00", "body_html": body, **fields}, TZ
    )


def test_migration_0011_re_derives_only_the_summaries_the_old_code_derived(database_url: str) -> None:
    derived = _jsonl("derived", OUTAGE)
    edited = _jsonl("edited", OUTAGE, updated_at="2021-03-12T17:00:00")  # the source's own edit time
    given = _jsonl("given", OUTAGE, summary="Cắt điện ngày 14/3 (Chủ nhật).")
    one_paragraph = _jsonl("one-paragraph", "<p>Chỉ một đoạn.</p>")  # the same text then and now
    respelled = _jsonl("respelled", OUTAGE, category="THÔNG BÁO")
    withdrawn = _jsonl("withdrawn", OUTAGE)
    glued = _as_imported_before(derived).summary
    assert "(Chủ nhật).Khu vực" in glued  # the defect the migration repairs
    engine = create_store_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0010")
        with engine.begin() as conn:
            old = [_as_imported_before(a) for a in (derived, edited, respelled, withdrawn, one_paragraph)]
            store_articles.write_batch(conn, [*old, given], WRITTEN)
            assert store_articles.withdraw(conn, "withdrawn", WRITTEN)
            (revision,) = conn.execute(select(categories.c.revision)).scalars()
        upgrade(engine)
        with engine.connect() as conn:
            rows = {row.id: row for row in conn.execute(select(articles))}
            (category,) = conn.execute(select(categories))
        lines = "\n".join(OUTAGE_LINES)
        assert {key: row.summary for key, row in rows.items()} == {
            "derived": lines,
            "edited": lines,
            "given": "Cắt điện ngày 14/3 (Chủ nhật).",
            "one-paragraph": "Chỉ một đoạn.",
            "respelled": lines,
            "withdrawn": lines,
        }
        changed = {key for key, row in rows.items() if row.changed_at > MIGRATED_AFTER}
        assert changed == {"derived", "edited", "respelled", "withdrawn"}  # each one's feeds re-rendered
        assert category.revision == revision + 1 and category.changed_at > MIGRATED_AFTER
        # the same lines imported again are no edit: the hash is that of the new summary
        with engine.begin() as conn:
            later = WRITTEN + timedelta(days=1)
            again = store_articles.write_batch(
                conn, [derived, edited, respelled, given, one_paragraph], later
            )
        assert again == [WriteOutcome.UNCHANGED] * 5
        command.downgrade(alembic_config(engine), "0010")  # nothing to undo; the chain stays whole
        upgrade(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "tag", ["section", "article", "aside", "address", "center", "main", "nav", "header", "footer", "details"]
)
def test_sectioning_elements_stay_and_end_a_line(tag: str) -> None:
    """Stripped by the sanitiser, their texts ran together on the page and in the summary."""
    body = sanitize_html(f"<{tag} class='x'>Phần một</{tag}><{tag}>Phần hai</{tag}>")
    assert body == f"<{tag}>Phần một</{tag}><{tag}>Phần hai</{tag}>"
    assert html_to_text(body) == "Phần một\nPhần hai"
