"""A category is shown under the best spelling seen: the configured name, else not all capitals over all
capitals, then the spelling most articles carry, then the first seen; whatever order articles come in."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, inspect, text

from syndicator.config import Settings, load_settings
from syndicator.model import ArticleInput, Status, WriteOutcome
from syndicator.service import assemble
from syndicator.store import Store
from syndicator.store.categories import best_spelling
from syndicator.store.database import alembic_config, create_store_engine
from syndicator.web.app import create_app
from tests.factories import article_input
from tests.live import live_server

VIETNAM = timezone(timedelta(hours=7))
SHOUTED = "TIN TỨC - SỰ KIỆN"
SENTENCE = "Tin tức - Sự kiện"
TITLED = "Tin Tức - Sự Kiện"
SLUG = "tin-tuc-su-kien"
TOKEN = "cms-token-aaaaaaaaaaaaaaaa"


def shown(store: Store, now: datetime) -> str:
    found = store.category(SLUG)
    assert found is not None
    listed = {c.category.slug: c.category.name for c in store.categories(now)}
    assert listed[SLUG] == found.name  # the list (home page, CLI) and the lookup agree
    return found.name


# --- the rule, without a database -----------------------------------------------------------------


def test_the_rule_alone() -> None:
    assert best_spelling({}) is None
    assert best_spelling({SHOUTED: (0, 1)}) is None  # no article carries it any more
    assert best_spelling({SHOUTED: (9, 1), SENTENCE: (1, 2)}) == SENTENCE
    assert best_spelling({SENTENCE: (1, 1), TITLED: (2, 2)}) == TITLED
    assert best_spelling({TITLED: (2, 1), SENTENCE: (2, 2)}) == TITLED  # a tie: the first seen
    assert best_spelling({SENTENCE: (0, 1), SHOUTED: (3, 2)}) == SHOUTED  # only what articles carry
    # Vietnamese capitals are capitals; a name without letters is not all capitals
    assert best_spelling({"ĐẤT ĐAI": (5, 1), "Đất đai": (1, 2)}) == "Đất đai"
    assert best_spelling({"2024": (1, 1), "THÁNG": (5, 2)}) == "2024"


# --- in the store, on both databases --------------------------------------------------------------


@pytest.mark.parametrize("first", [SHOUTED, SENTENCE])
def test_not_all_capitals_wins_whichever_comes_first(store: Store, now: datetime, first: str) -> None:
    second = SENTENCE if first == SHOUTED else SHOUTED
    store.write([article_input(f"a{i}", first) for i in range(3)], now)  # more of the first
    store.write([article_input("b", second)], now + timedelta(minutes=1))
    assert shown(store, now) == SENTENCE
    for got in store.articles(now):
        assert got.category.name == SENTENCE  # every article, whichever spelling it came with


@pytest.mark.parametrize("order", ["fewer first", "more first"])
def test_the_spelling_most_articles_carry_wins(store: Store, now: datetime, order: str) -> None:
    fewer = [article_input("s1", SENTENCE)]
    more = [article_input("t1", TITLED), article_input("t2", TITLED)]
    batches = [fewer, more] if order == "fewer first" else [more, fewer]
    for step, batch in enumerate(batches):
        store.write(batch, now + timedelta(minutes=step))
    assert shown(store, now) == TITLED
    store.write([article_input("s2", SENTENCE), article_input("s3", SENTENCE)], now + timedelta(minutes=5))
    assert shown(store, now) == SENTENCE  # updated as articles arrive


def test_one_batch_with_every_spelling(store: Store, now: datetime) -> None:
    store.write(
        [
            article_input("x", SHOUTED),
            article_input("y", TITLED),
            article_input("z", SENTENCE),
            article_input("w", TITLED),
        ],
        now,
    )
    assert shown(store, now) == TITLED


def test_withdrawals_edits_and_moves_take_their_spelling_away(store: Store, now: datetime) -> None:
    later = now + timedelta(hours=1)
    store.write(
        [article_input("t1", TITLED), article_input("t2", TITLED), article_input("s1", SENTENCE)], now
    )
    assert shown(store, now) == TITLED
    assert store.withdraw("t1", later)
    assert store.withdraw("t1", later) is False  # counted once
    assert shown(store, now) == TITLED  # one each: the first seen
    # the same article spelled otherwise (an edit), then moved to another category
    store.write([article_input("t2", SENTENCE)], later)
    assert shown(store, now) == SENTENCE
    store.write([article_input("t2", "Kinh tế"), article_input("s1", "Kinh tế")], later)
    assert shown(store, now) == SENTENCE  # nothing carries any spelling now: the name stays
    store.write([article_input("t1", SHOUTED)], later)  # the withdrawn one published anew, shouted
    assert shown(store, now) == SHOUTED
    store.write([article_input("t1", SHOUTED, status=Status.WITHDRAWN)], later)  # withdrawn by an import
    store.write([article_input("n1", TITLED)], later)
    assert shown(store, now) == TITLED


def test_the_configured_name_wins(settings: Settings, now: datetime) -> None:
    configured = Store.open(settings.database_url, {SLUG: "Tin tức và sự kiện"})
    try:
        configured.write([article_input("a", SENTENCE), article_input("b", SHOUTED)], now)
        assert shown(configured, now) == "Tin tức và sự kiện"
        got = configured.article("b")
        assert got is not None and got.category.name == "Tin tức và sự kiện"
    finally:
        configured.close()
    plain = Store.open(settings.database_url)
    try:
        assert shown(plain, now) == SENTENCE  # what the store keeps is still the best spelling
    finally:
        plain.close()


def test_a_batch_costs_the_same_statements_whatever_its_size(store: Store, now: datetime) -> None:
    """The names are counted per batch: 100,000 articles must not cost a query each."""

    def statements(batch: list[ArticleInput]) -> int:
        seen: list[str] = []

        def count(*args: object) -> None:
            seen.append(str(args[2]))

        event.listen(store.engine, "before_cursor_execute", count)
        try:
            store.write(batch, now)
        finally:
            event.remove(store.engine, "before_cursor_execute", count)
        return len(seen)

    # each a new category with two spellings, the second batch a hundred times the first
    small = statements([article_input(f"s{i}", SHOUTED if i % 2 else SENTENCE) for i in range(4)])
    large = statements([article_input(f"l{i}", "KINH TẾ" if i % 2 else "Kinh tế") for i in range(400)])
    assert large == small


# --- what people see: feeds, OPML, pages, the API and the CLI -------------------------------------


@pytest.fixture
def site(database_url: str, tmp_path: Path, now: datetime) -> Iterator[tuple[Any, str]]:
    settings = load_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret-key-0123456789",
        api_tokens=TOKEN,
        base_url="http://portal.test",
    )
    store = Store.open(settings.database_url)
    service = assemble(settings, store, lambda: now)
    with live_server(create_app(service.services)) as url:
        yield service, url
    service.close()
    store.close()


def post(url: str, article_id: str, category: str, now: datetime) -> None:
    body = {
        "id": article_id,
        "title": f"Bài {article_id}",
        "category": category,
        "published_at": (now - timedelta(hours=1)).isoformat(),
        "body_text": "Nội dung.",
    }
    answer = httpx.post(f"{url}/api/articles", json=body, headers={"authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 201, answer.text


def test_feeds_opml_pages_api_and_cli_show_the_chosen_name(
    site: tuple[Any, str], database_url: str, tmp_path: Path, now: datetime
) -> None:
    service, url = site
    builder = service.services.builder
    post(url, "hoa", SHOUTED, now)
    builder.refresh(now)
    assert httpx.get(f"{url}/feeds/{SLUG}.rss").text.count(SHOUTED) >= 1

    for i in range(2):
        post(url, f"thuong-{i}", SENTENCE, now)
    report = builder.refresh(now + timedelta(seconds=1))
    assert f"/feeds/{SLUG}.atom" in report.rendered and "/feeds.opml" in report.rendered

    feed = httpx.get(f"{url}/feeds/{SLUG}.json").json()
    assert feed["title"].startswith(f"{SENTENCE} - ")
    every = httpx.get(f"{url}/feeds/all.json").json()
    shouted_item = next(item for item in every["items"] if item["id"].endswith("/a/hoa"))
    assert shouted_item["tags"] == [SENTENCE]  # the first article's label re-rendered too
    for path in (
        f"/feeds/{SLUG}.rss",
        f"/feeds/{SLUG}.atom",
        "/feeds/all.rss",
        "/feeds.opml",
        "/",
        f"/c/{SLUG}",
    ):
        body = httpx.get(f"{url}{path}").text
        assert SENTENCE in body and SHOUTED not in body, path
    assert httpx.get(f"{url}/a/hoa").text.count(SHOUTED) == 0

    api = httpx.get(f"{url}/api/articles/hoa", headers={"authorization": f"Bearer {TOKEN}"}).json()
    assert api["category"] == SLUG and api["category_name"] == SENTENCE

    listed = subprocess.run(
        [sys.executable, "-m", "syndicator", "categories", "list", "--json"],
        cwd=tmp_path,
        env={"SYNDICATOR_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=True,
    )
    assert {row["slug"]: row["name"] for row in json.loads(listed.stdout)} == {SLUG: SENTENCE}


# --- the migration ------------------------------------------------------------------------------------


def _migrate(engine: Engine, direction: str, revision: str) -> None:
    from alembic import command

    getattr(command, direction)(alembic_config(engine), revision)


def test_migration_0010_backfills_and_goes_back(database_url: str) -> None:
    engine = create_store_engine(database_url)
    try:
        _migrate(engine, "upgrade", "0009")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO categories (slug, name, created_at, changed_at, revision) VALUES "
                    "(:a, :an, '2021-01-01 00:00:00', '2021-01-01 00:00:00', 1), "
                    "('rong', 'Rỗng', '2021-01-02 00:00:00', '2021-01-02 00:00:00', 1)"
                ),
                {"a": SLUG, "an": SHOUTED},
            )
            for number, status in enumerate(["published", "published", "withdrawn"]):
                conn.execute(
                    text(
                        "INSERT INTO articles (id, category_slug, title, published_at, updated_at, summary, "
                        "body_html, status, content_hash, source, created_at, changed_at, available_at) "
                        "VALUES (:id, :slug, 'T', :t, :t, '', '', :status, 'h', 's', :t, :t, :t)"
                    ),
                    {"id": f"a{number}", "slug": SLUG, "status": status, "t": "2021-01-01 00:00:00"},
                )
            conn.execute(
                text(
                    "INSERT INTO articles (id, category_slug, title, published_at, updated_at, summary, "
                    "body_html, status, content_hash, source, created_at, changed_at, available_at) "
                    "VALUES ('r', 'rong', 'T', :t, :t, '', '', 'withdrawn', 'h', 's', :t, :t, :t)"
                ),
                {"t": "2021-01-01 00:00:00"},
            )
        _migrate(engine, "upgrade", "0010")
        with engine.connect() as conn:
            own: dict[str, str] = dict(
                conn.execute(text("SELECT id, category_name FROM articles ORDER BY id")).all()
            )
            spellings = conn.execute(
                text("SELECT slug, name, articles FROM category_spellings ORDER BY id")
            ).all()
        assert own == {"a0": SHOUTED, "a1": SHOUTED, "a2": SHOUTED, "r": "Rỗng"}
        assert [tuple(row) for row in spellings] == [(SLUG, SHOUTED, 2), ("rong", "Rỗng", 0)]
        assert not any(
            c["nullable"] for c in inspect(engine).get_columns("articles") if c["name"] == "category_name"
        )

        _migrate(engine, "downgrade", "0009")
        assert "category_spellings" not in inspect(engine).get_table_names()
        assert "category_name" not in {c["name"] for c in inspect(engine).get_columns("articles")}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM articles")).scalar() == 4
    finally:
        engine.dispose()

    # up to the newest again, and the backfilled store goes on counting
    engine = create_store_engine(database_url)
    try:
        _migrate(engine, "upgrade", "head")
    finally:
        engine.dispose()
    store = Store.open(database_url)
    try:
        now = datetime(2021, 3, 10, tzinfo=VIETNAM)
        assert shown(store, now) == SHOUTED
        store.write([article_input("n", SENTENCE)], now)
        assert shown(store, now) == SENTENCE
    finally:
        store.close()


def test_writers_at_once_lose_no_count(store: Store, now: datetime) -> None:
    """Two writers of the same categories, in opposite orders (PostgreSQL runs them truly at once):
    no deadlock, no lost increment, and the name chosen from every count."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import select

    from syndicator.store.schema import category_spellings

    def writer(name: str, spelling: str, other: str) -> None:
        for batch in range(8):
            store.write(
                [article_input(f"{name}-{batch}-{i}", spelling if i % 2 else other) for i in range(20)],
                now + timedelta(seconds=batch),
            )

    with ThreadPoolExecutor(2) as pool:
        done = [
            pool.submit(writer, "p", TITLED, "Kinh tế"),
            pool.submit(writer, "q", "KINH TẾ", SENTENCE),
        ]
        for future in done:
            future.result()
    with store.reading() as conn:
        counts = {
            (row.slug, row.name): row.articles
            for row in conn.execute(
                select(category_spellings.c.slug, category_spellings.c.name, category_spellings.c.articles)
            )
        }
    assert counts == {
        (SLUG, TITLED): 80,
        (SLUG, SENTENCE): 80,
        ("kinh-te", "Kinh tế"): 80,
        ("kinh-te", "KINH TẾ"): 80,
    }
    assert shown(store, now) in (TITLED, SENTENCE)  # a tie: the first seen, whichever writer that was
    store.write([article_input("one-more", SENTENCE)], now)
    assert shown(store, now) == SENTENCE
    kinh_te = store.category("kinh-te")
    assert kinh_te is not None and kinh_te.name == "Kinh tế"


def test_reimporting_the_same_files_corrects_a_backfilled_spelling(database_url: str) -> None:
    """Upgraded through 0010, every old article counts under its category's name of that time (all
    capitals, the first seen); the same files imported again report nothing changed, but each article
    gets its own spelling back and the category the name its articles carry."""
    files = [article_input("hoa", SHOUTED), article_input("b", SENTENCE), article_input("c", SENTENCE)]
    old_time = "2021-01-01 00:00:00"
    engine = create_store_engine(database_url)
    try:
        _migrate(engine, "upgrade", "0009")
        with engine.begin() as conn:  # as the code before 0010 stored these files
            conn.execute(
                text(
                    "INSERT INTO categories (slug, name, created_at, changed_at, revision) "
                    "VALUES (:slug, :name, :t, :t, 1)"
                ),
                {"slug": SLUG, "name": SHOUTED, "t": old_time},
            )
            for item in files:
                conn.execute(
                    text(
                        "INSERT INTO articles (id, category_slug, title, published_at, updated_at, summary, "
                        "body_html, status, content_hash, source, created_at, changed_at, available_at) "
                        "VALUES (:id, :slug, :title, :p, :p, :summary, :body, 'published', :hash, :source, "
                        ":t, :t, :p)"
                    ),
                    {
                        "id": item.id,
                        "slug": SLUG,
                        "title": item.title,
                        "p": item.published_at.astimezone(UTC).replace(tzinfo=None),
                        "summary": item.summary,
                        "body": item.body_html,
                        "hash": item.content_hash(),
                        "source": item.source,
                        "t": old_time,
                    },
                )
        _migrate(engine, "upgrade", "head")
    finally:
        engine.dispose()

    store = Store.open(database_url)
    try:
        now = datetime(2021, 3, 10, tzinfo=VIETNAM)
        assert shown(store, now) == SHOUTED
        assert _spellings(store) == {SHOUTED: 3}
        revision = _revision(store)
        before = {a.id: a.changed_at for a in store.articles(now)}

        assert store.write(files, now) == [WriteOutcome.UNCHANGED] * 3
        assert shown(store, now) == SENTENCE
        assert _spellings(store) == {SHOUTED: 1, SENTENCE: 2}
        assert _revision(store) == revision + 1  # its feeds re-render under the new name
        assert {a.id: a.changed_at for a in store.articles(now)} == before  # no article changed

        assert store.write(files, now + timedelta(minutes=1)) == [WriteOutcome.UNCHANGED] * 3
        assert _spellings(store) == {SHOUTED: 1, SENTENCE: 2}
        assert _revision(store) == revision + 1  # once corrected, the same files change nothing
    finally:
        store.close()


def _spellings(store: Store) -> dict[str, int]:
    with store.reading() as conn:
        query = text("SELECT name, articles FROM category_spellings WHERE slug = :s")
        rows = conn.execute(query, {"s": SLUG})
        return {name: count for name, count in rows if count}


def _revision(store: Store) -> int:
    with store.reading() as conn:
        found = conn.execute(text("SELECT revision FROM categories WHERE slug = :s"), {"s": SLUG}).scalar()
    assert isinstance(found, int)
    return found
