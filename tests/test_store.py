"""The article store on both dialects: schema management, writes, the visibility rule, times in UTC."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from syndicator.config import Settings
from syndicator.model import Status, Visibility, WriteOutcome
from syndicator.store import Store, StoreError, WriteRefused
from syndicator.store.articles import write_batch
from syndicator.store.database import create_store_engine, current_revision, head_revision, upgrade
from tests.factories import article_input
from tests.hostile import finishes

VIETNAM = timezone(timedelta(hours=7))


# --- schema -----------------------------------------------------------------------------------------


def test_schema_is_created_in_an_empty_database(database_url: str) -> None:
    engine = create_store_engine(database_url)
    try:
        assert current_revision(engine) is None
        store = Store.open(database_url)
        store.close()
        assert current_revision(engine) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert {"articles", "categories", "alembic_version"} <= tables
    finally:
        engine.dispose()


def test_opening_again_keeps_the_data(database_url: str, now: datetime) -> None:
    first = Store.open(database_url)
    first.write([article_input()], now)
    first.close()
    second = Store.open(database_url)
    try:
        assert second.article("a1") is not None
    finally:
        second.close()


def test_upgrade_is_idempotent(database_url: str) -> None:
    engine = create_store_engine(database_url)
    try:
        assert upgrade(engine) == (None, head_revision())
        assert upgrade(engine) == (head_revision(), head_revision())
        assert upgrade(engine) == (head_revision(), head_revision())
        Store.open(database_url).close()
    finally:
        engine.dispose()


def test_an_outdated_schema_asks_for_db_upgrade(database_url: str) -> None:
    engine = create_store_engine(database_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match=r"run `syndicator db upgrade`") as caught:
        Store.open(database_url)
    assert "0000" in str(caught.value) and head_revision() in str(caught.value)


def test_a_sqlite_path_under_a_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("")
    with pytest.raises(StoreError, match="cannot create the folder"):
        Store.open(f"sqlite:///{tmp_path / 'plain-file' / 'store.db'}")


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not a database, just notes " * 100)
    with pytest.raises(StoreError, match="cannot open the database"):
        Store.open(f"sqlite:///{tmp_path / 'notes.db'}")


def test_an_unreachable_server_is_a_one_line_store_error() -> None:
    with pytest.raises(StoreError, match="cannot open the database") as caught:
        Store.open("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=3")
    assert "\n" not in str(caught.value)


# --- writes -------------------------------------------------------------------------------------------


def test_write_outcomes(store: Store, now: datetime) -> None:
    assert store.write([article_input("a1"), article_input("a2")], now) == [
        WriteOutcome.CREATED,
        WriteOutcome.CREATED,
    ]
    assert store.write([article_input("a1"), article_input("a2", title="Đã sửa")], now) == [
        WriteOutcome.UNCHANGED,
        WriteOutcome.UPDATED,
    ]


def test_round_trip(store: Store, now: datetime) -> None:
    written = article_input(
        author="Lê Hải",
        office="Trung tâm VHTT",
        url="https://thoxuan.thanhhoa.gov.vn/a1",
        body_html="<p>A &lt; B &amp; ]]&gt;</p>",
        title="A < B & ]]>",
    )
    store.write([written], now)
    got = store.article("a1")
    assert got is not None
    assert (got.id, got.title, got.body_html, got.summary) == (
        "a1",
        written.title,
        written.body_html,
        written.summary,
    )
    assert (got.author, got.office, got.url, got.status) == (
        "Lê Hải",
        "Trung tâm VHTT",
        written.url,
        Status.PUBLISHED,
    )
    assert (got.category.slug, got.category.name) == ("thong-bao", "Thông báo")
    assert got.byline == "Lê Hải, Trung tâm VHTT"
    assert store.article("missing") is None


def test_times_come_back_aware_utc(store: Store, now: datetime) -> None:
    store.write([article_input()], now)
    got = store.article("a1")
    assert got is not None
    for moment in (got.published_at, got.updated_at, got.changed_at):
        assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert got.published_at == datetime(2021, 1, 2, 3, 0, tzinfo=UTC)
    assert got.changed_at == now
    # a new article without its own edit time was last updated when it was published
    assert got.updated_at == got.published_at


def test_microseconds_and_offsets_survive(store: Store, now: datetime) -> None:
    moment = datetime(2021, 1, 2, 23, 59, 59, 123456, tzinfo=timezone(timedelta(hours=-5)))
    store.write([article_input(published_at=moment)], now)
    got = store.article("a1")
    assert got is not None and got.published_at == moment


def test_unchanged_content_rewrites_nothing(store: Store, now: datetime) -> None:
    store.write([article_input()], now)
    before = store.article("a1")
    later = now + timedelta(days=1)
    assert store.write([article_input()], later) == [WriteOutcome.UNCHANGED]
    after = store.article("a1")
    assert before is not None and after is not None
    assert after == before
    assert (after.updated_at, after.changed_at) == (before.updated_at, before.changed_at)


def test_a_change_updates_the_same_article_at_now(store: Store, now: datetime) -> None:
    store.write([article_input()], now)
    later = now + timedelta(hours=5)
    assert store.write([article_input(body_html="<p>Đã sửa</p>")], later) == [WriteOutcome.UPDATED]
    got = store.article("a1")
    assert got is not None
    assert got.body_html == "<p>Đã sửa</p>"
    assert got.updated_at == later and got.changed_at == later
    assert got.published_at == datetime(2021, 1, 2, 3, 0, tzinfo=UTC)


def test_the_source_edit_time_wins(store: Store, now: datetime) -> None:
    edited = datetime(2021, 1, 5, 9, 0, tzinfo=VIETNAM)
    store.write([article_input(updated_at=edited)], now)
    got = store.article("a1")
    assert got is not None and got.updated_at == edited


def test_an_edit_of_a_scheduled_article_is_not_dated_before_its_publication(
    store: Store, now: datetime
) -> None:
    future = now + timedelta(days=3)
    store.write([article_input(published_at=future)], now)
    store.write([article_input(published_at=future, title="Đã sửa")], now + timedelta(hours=1))
    got = store.article("a1")
    assert got is not None and got.updated_at == future


def test_a_batch_is_all_or_nothing(store: Store, now: datetime) -> None:
    # ids must be distinct within a batch; a repeated one makes the database refuse the whole batch
    with pytest.raises(WriteRefused) as refused:
        store.write([article_input("ok"), article_input("twice"), article_input("twice")], now)
    assert refused.value.article_ids == ("ok", "twice", "twice")
    assert store.article("ok") is None
    assert store.articles(now, visible_only=False) == []


def test_a_value_the_database_refuses_is_written_refused_in_one_line(store: Store, now: datetime) -> None:
    naive = datetime(2021, 1, 2, 10, 0)  # the store keeps aware times only
    with pytest.raises(WriteRefused) as refused:
        store.write([article_input("ok"), article_input("naive", updated_at=naive)], now)
    assert refused.value.reason == "naive datetime given to the store"
    assert store.article("ok") is None
    assert store.write([article_input("ok")], now) == [WriteOutcome.CREATED]


@pytest.mark.postgres
def test_an_article_created_meanwhile_by_another_writer_is_written_again(
    pg_store: Store, now: datetime
) -> None:
    """Both writers read that the article is not there; the second waits on the first's insert and, once
    that commits, meets the unique key: it writes again, as an update. (PostgreSQL: SQLite has one
    writer at a time, BEGIN IMMEDIATE, so no such race.)"""
    store = pg_store
    with store.engine.connect() as other:
        first = other.begin()
        write_batch(other, [article_input("a1")], now)  # not committed yet
        blocker = other.execute(text("SELECT pg_backend_pid()")).scalar_one()
        outcome: list[list[WriteOutcome]] = []
        writer = threading.Thread(
            target=lambda: outcome.append(store.write([article_input("a1", title="Khác")], now))
        )
        writer.start()
        deadline = time.monotonic() + 30
        with store.engine.connect() as watch:
            while not watch.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
                {"pid": blocker},
            ).scalar_one():
                assert time.monotonic() < deadline, "the second writer never waited on the first"
                time.sleep(0.01)
        first.commit()
    writer.join(timeout=30)
    assert outcome == [[WriteOutcome.UPDATED]]
    got = store.article("a1")
    assert got is not None and got.title == "Khác"


# --- the kept writer ------------------------------------------------------------------------------------


def test_a_kept_writer_keeps_one_connection_across_transactions(store: Store, now: datetime) -> None:
    writer = store.kept_writer()
    with writer.writing() as first:
        first.execute(text("UPDATE categories SET name = name"))
    with writer.writing() as second:
        assert second is first
    assert writer.run(lambda conn: conn) is first  # outside a transaction, on the same connection
    writer.close()
    with writer.writing() as third:
        assert third is not first


def test_a_kept_writer_commits_each_transaction_and_drops_its_connection_after_an_error(
    store: Store, now: datetime
) -> None:
    store.write([article_input("a1")], now)
    writer = store.kept_writer()
    with writer.writing() as conn:
        conn.execute(text("UPDATE articles SET title = 'Đã sửa' WHERE id = 'a1'"))
    got = store.article("a1")
    assert got is not None and got.title == "Đã sửa"
    with pytest.raises(ZeroDivisionError), writer.writing() as failed:
        failed.execute(text("UPDATE articles SET title = 'Bỏ' WHERE id = 'a1'"))
        _ = 1 / 0
    assert failed.closed  # dropped, not handed back to the pool
    got = store.article("a1")
    assert got is not None and got.title == "Đã sửa"  # rolled back
    with pytest.raises(ZeroDivisionError):
        writer.run(lambda conn: 1 / 0)
    with writer.writing() as fresh:
        assert fresh is not failed
        fresh.execute(text("UPDATE articles SET title = 'Lần nữa' WHERE id = 'a1'"))
    writer.close()
    got = store.article("a1")
    assert got is not None and got.title == "Lần nữa"


def test_ping_answers_while_the_database_does(store: Store) -> None:
    store.ping()


# --- visibility -------------------------------------------------------------------------------------


def test_withdrawn_articles_stay_but_are_not_visible(store: Store, now: datetime) -> None:
    store.write([article_input("a1"), article_input("a2", status=Status.WITHDRAWN)], now)
    got = store.article("a2")
    assert got is not None and got.status is Status.WITHDRAWN
    assert got.visibility(now) is Visibility.WITHDRAWN
    assert [a.id for a in store.articles(now)] == ["a1"]
    assert {a.id for a in store.articles(now, visible_only=False)} == {"a1", "a2"}
    assert store.count_visible(now) == 1


def test_withdraw(store: Store, now: datetime) -> None:
    store.write([article_input()], now)
    later = now + timedelta(minutes=1)
    assert store.withdraw("a1", later) is True
    assert store.withdraw("a1", later) is False
    assert store.withdraw("missing", later) is False
    got = store.article("a1")
    assert got is not None and got.visibility(later) is Visibility.WITHDRAWN and got.changed_at == later
    assert store.count_visible(later) == 0
    # the same content imported again publishes it anew
    assert store.write([article_input()], later) == [WriteOutcome.UPDATED]
    assert store.count_visible(later) == 1


def test_a_future_article_is_scheduled_until_its_time(store: Store, now: datetime) -> None:
    due = now + timedelta(hours=2)
    store.write([article_input("soon", published_at=due), article_input("old")], now)
    got = store.article("soon")
    assert got is not None
    assert got.visibility(now) is Visibility.SCHEDULED
    assert got.visibility(due - timedelta(microseconds=1)) is Visibility.SCHEDULED
    assert got.visibility(due) is Visibility.PUBLISHED
    assert [a.id for a in store.articles(now)] == ["old"]
    assert store.count_visible(now) == 1
    assert [a.id for a in store.articles(due)] == ["soon", "old"]
    assert store.count_visible(due) == 2
    assert [c.visible for c in store.categories(now)] == [1]
    assert [c.visible for c in store.categories(due)] == [2]


def test_listing_is_newest_first_with_stable_ties(store: Store, now: datetime) -> None:
    base = datetime(2021, 1, 1, tzinfo=UTC)
    store.write(
        [
            article_input("b", published_at=base),
            article_input("a", published_at=base),
            article_input("c", published_at=base + timedelta(days=1)),
            article_input("d", published_at=base - timedelta(days=1), category_name="Kinh tế"),
        ],
        now,
    )
    assert [a.id for a in store.articles(now)] == ["c", "b", "a", "d"]
    assert [a.id for a in store.articles(now, limit=2)] == ["c", "b"]
    assert [a.id for a in store.articles(now, limit=2, offset=2)] == ["a", "d"]
    assert [a.id for a in store.articles(now, category="kinh-te")] == ["d"]
    assert store.count_visible(now, "thong-bao") == 3


# --- categories ---------------------------------------------------------------------------------------


def test_categories_count_only_visible_articles(store: Store, now: datetime) -> None:
    store.write(
        [
            article_input("p1"),
            article_input("p2"),
            article_input("w", status=Status.WITHDRAWN),
            article_input("s", published_at=now + timedelta(days=1)),
            article_input("k", category_name="Kinh tế", status=Status.WITHDRAWN),
        ],
        now,
    )
    counts = {c.category.slug: (c.category.name, c.visible) for c in store.categories(now)}
    assert counts == {"thong-bao": ("Thông báo", 2), "kinh-te": ("Kinh tế", 0)}
    assert [c.category.slug for c in store.categories(now)] == ["kinh-te", "thong-bao"]  # by slug


def test_kept_counts_follow_writes_withdrawals_and_articles_coming_due(store: Store, now: datetime) -> None:
    def counts(at: datetime) -> dict[str, int]:
        return {c.category.slug: c.visible for c in store.categories(at)}

    store.write([article_input("p1"), article_input("s", published_at=now + timedelta(hours=1))], now)
    assert counts(now) == {"thong-bao": 1}
    assert counts(now) == {"thong-bao": 1}  # kept
    assert counts(now + timedelta(hours=1)) == {"thong-bao": 2}  # "s" came due, nothing written
    assert counts(now) == {"thong-bao": 1}  # asked about an earlier time again
    store.write([article_input("p2", category_name="Kinh tế")], now + timedelta(minutes=1))
    assert counts(now + timedelta(minutes=1)) == {"thong-bao": 1, "kinh-te": 1}
    assert store.withdraw("p1", now + timedelta(minutes=2))
    assert counts(now + timedelta(minutes=2)) == {"thong-bao": 0, "kinh-te": 1}
    # writes at the same instant (an import's batches share their `now`), each changing the counts
    later = now + timedelta(minutes=3)
    store.write([article_input("p3", category_name="Kinh tế")], later)
    assert counts(later) == {"thong-bao": 0, "kinh-te": 2}
    assert store.withdraw("p3", later)
    assert counts(later) == {"thong-bao": 0, "kinh-te": 1}
    store.write([article_input("p1", title="Sửa lại")], later)  # published again (its hash was reset)
    assert counts(later) == {"thong-bao": 1, "kinh-te": 1}


def test_spelling_variants_are_one_category_under_its_best_spelling(store: Store, now: datetime) -> None:
    # not all capitals, then one article each: the first seen (tests/test_category_names.py: the rule)
    store.write([article_input("a", category_name="Văn hóa - Xã hội")], now)
    store.write(
        [
            article_input("b", category_name="VĂN HÓA-XÃ HỘI"),
            article_input("c", category_name="văn hóa – xã hội"),
        ],
        now,
    )
    assert [(c.category.slug, c.category.name, c.visible) for c in store.categories(now)] == [
        ("van-hoa-xa-hoi", "Văn hóa - Xã hội", 3)
    ]


def test_configured_display_names_override_exported_names(settings: Settings, now: datetime) -> None:
    names = {"thong-bao": "Thông báo - Thông cáo"}
    with_names = Store.open(settings.database_url, names)
    try:
        with_names.write([article_input()], now)
        got = with_names.article("a1")
        assert got is not None and got.category.name == "Thông báo - Thông cáo"
        assert [a.category.name for a in with_names.articles(now)] == ["Thông báo - Thông cáo"]
        assert [c.category.name for c in with_names.categories(now)] == ["Thông báo - Thông cáo"]
        found = with_names.category("thong-bao")
        assert found is not None and found.name == "Thông báo - Thông cáo"
    finally:
        with_names.close()
    plain = Store.open(settings.database_url)
    try:
        found = plain.category("thong-bao")
        assert found is not None and found.name == "Thông báo"  # the stored name is untouched
        assert plain.category("missing") is None
    finally:
        plain.close()


def test_an_article_can_move_between_categories(store: Store, now: datetime) -> None:
    store.write([article_input()], now)
    store.write([replace(article_input(), category_name="Kinh tế")], now + timedelta(hours=1))
    got = store.article("a1")
    assert got is not None and got.category.slug == "kinh-te"
    assert {c.category.slug: c.visible for c in store.categories(now)} == {"kinh-te": 1, "thong-bao": 0}


def _metric_articles(store: Store, now: datetime) -> dict[str, int]:
    from syndicator.publish.cache import FeedCache
    from syndicator.web import metrics

    lines = metrics.render(store, FeedCache(), {}, now).splitlines()
    prefix = 'syndicator_articles{state="'
    return {
        line[len(prefix) :].split('"', 1)[0]: int(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith(prefix)
    }


def test_metrics_count_articles_by_the_rule_every_list_uses(store: Store, now: datetime) -> None:
    """/metrics's published count is the total of `categories list`, and its three states are how the
    articles list tells each article's state (store/query.visible, Article.visibility)."""
    store.write(
        [
            article_input("a1", published_at=now - timedelta(days=1)),
            article_input("a2", category_name="Kinh tế", published_at=now - timedelta(hours=1)),
            article_input("a3", category_name="Kinh tế", published_at=now + timedelta(hours=2)),  # scheduled
            article_input("a4", published_at=now - timedelta(days=2)),
            article_input("a5", status=Status.WITHDRAWN, published_at=now - timedelta(days=3)),
        ],
        now,
    )
    store.withdraw("a4", now)
    for at in (now, now + timedelta(hours=3)):  # before and after the scheduled one comes due
        counted = _metric_articles(store, at)
        states = [a.visibility(at).value for a in store.articles(at, visible_only=False)]
        assert counted == {state.value: states.count(state.value) for state in Visibility}
        assert counted["published"] == sum(c.visible for c in store.categories(at))
    assert _metric_articles(store, now) == {"published": 2, "scheduled": 1, "withdrawn": 2}


# --- insert_ignore, the idempotent bulk insert under the outbox ---------------------------------------


@pytest.mark.parametrize("count", [1, 3, 6000])  # one row; a few; more than one PostgreSQL chunk
def test_insert_ignore_counts_what_went_in_and_keeps_values(store: Store, now: datetime, count: int) -> None:
    from sqlalchemy import select

    from syndicator.store.database import insert_ignore
    from syndicator.store.schema import digest_parts, mail_bodies

    with store.writing() as conn:
        insert_ignore(
            conn, mail_bodies, [{"key": "k", "subject": "Bản tin", "mime": b"x", "created_at": now}]
        )
        body = conn.execute(select(mail_bodies.c.id)).scalar_one()
        rows = [
            {"body_id": body, "slug": f"muc-{i}", "articles": i, "text_qp": b"\x00=C3\xff", "html_qp": b""}
            for i in range(count)
        ]
        assert insert_ignore(conn, digest_parts, rows) == count
        # again, with one new row: only that one goes in, the others are kept as they were
        again = [{**row, "articles": -1} for row in rows] + [{**rows[0], "slug": "moi"}]
        assert insert_ignore(conn, digest_parts, again) == 1
        stored = {r.slug: r for r in conn.execute(select(digest_parts))}
        first = conn.execute(select(mail_bodies.c.created_at)).scalar_one()
    assert len(stored) == count + 1
    assert stored["muc-0"].articles == 0 and bytes(stored["muc-0"].text_qp) == b"\x00=C3\xff"
    assert stored[f"muc-{count - 1}"].articles == count - 1
    assert bytes(stored["moi"].html_qp) == b""
    assert first == now.astimezone(UTC)


def test_the_head_read_from_the_scripts_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    from syndicator.store.database import MIGRATIONS

    assert head_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_a_server_that_never_answers_is_given_up_within_seconds() -> None:
    """A PostgreSQL address that takes the connection and then says nothing (a frozen host): opening
    the store fails with a clear error after the connect timeout instead of waiting for ever."""
    silent = socket.create_server(
        ("127.0.0.1", 0), backlog=8
    )  # the kernel completes handshakes; nobody reads
    try:
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(StoreError, match="cannot open the database"):
            finishes(lambda: Store.open(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"))
        assert time.monotonic() - started < 25
    finally:
        silent.close()
