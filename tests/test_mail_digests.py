"""Digest runs and immediate mails: which window, who gets what, exactly once (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import quopri
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from syndicator.config import Settings
from syndicator.mail.composer import MailComposer
from syndicator.mail.digests import (
    due_runs,
    plan_run,
    preview_since,
    queue_immediate,
    queue_run,
    run_due,
    window_end,
)
from syndicator.mail.mime import COUNT
from syndicator.mail.render import news_count
from syndicator.mail.sender import Sender
from syndicator.model import Frequency
from syndicator.store import Store, mailqueue
from syndicator.store.schema import digest_runs, mail_bodies, outbox
from tests.factories import FakeClock, publish, subscribe
from tests.mailkit import (
    IN_WINDOW,
    NONG_NGHIEP,
    RUN_AT,
    THONG_BAO,
    TIN_TUC,
    local,
    make_settings,
    outbox_rows,
    parts,
    queue_daily,
    subscribers_with_news,
)


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def rows_by_email(store: Store) -> dict[str, list[Any]]:
    from syndicator.store.schema import subscribers

    found: dict[str, list[Any]] = {}
    with store.reading() as conn:
        query = select(subscribers.c.email, outbox).join(outbox, outbox.c.subscriber_id == subscribers.c.id)
        for row in conn.execute(query.order_by(outbox.c.id)):
            found.setdefault(row.email, []).append(row)
    return found


# --- when a run happens and what window it covers ---------------------------------------------------


@pytest.mark.parametrize(
    ("at", "frequency", "expected"),
    [
        (local(2021, 1, 7, 6, 30), Frequency.DAILY, local(2021, 1, 7, 6, 30)),
        (local(2021, 1, 7, 6, 29), Frequency.DAILY, local(2021, 1, 6, 6, 30)),
        (local(2021, 1, 7, 23, 59), Frequency.DAILY, local(2021, 1, 7, 6, 30)),
        (local(2021, 1, 1, 0, 10), Frequency.DAILY, local(2020, 12, 31, 6, 30)),
        # weekly: Mondays (04/01/2021 is a Monday)
        (local(2021, 1, 7, 10), Frequency.WEEKLY, local(2021, 1, 4, 6, 30)),
        (local(2021, 1, 4, 6, 30), Frequency.WEEKLY, local(2021, 1, 4, 6, 30)),
        (local(2021, 1, 4, 6, 0), Frequency.WEEKLY, local(2020, 12, 28, 6, 30)),
        (local(2021, 1, 10, 23), Frequency.WEEKLY, local(2021, 1, 4, 6, 30)),
    ],
)
def test_window_end(tmp_path: Path, at: datetime, frequency: Frequency, expected: datetime) -> None:
    settings = make_settings("sqlite:///unused.db", tmp_path)
    assert (settings.digest.daily_at, settings.digest.weekly_on) == ("06:30", "monday")
    assert window_end(frequency, at, settings) == utc(expected)
    assert window_end(frequency, utc(at), settings) == utc(expected)  # any zone in, same answer


def test_window_end_follows_the_settings(tmp_path: Path) -> None:
    settings = make_settings(
        "sqlite:///unused.db", tmp_path, digest={"daily_at": "17:05", "weekly_on": "Friday"}
    )
    assert window_end(Frequency.DAILY, local(2021, 1, 7, 17, 4), settings) == utc(local(2021, 1, 6, 17, 5))
    assert window_end(Frequency.WEEKLY, local(2021, 1, 7, 10), settings) == utc(local(2021, 1, 1, 17, 5))


def test_each_run_covers_the_window_since_the_previous_one(
    mail_store: Store, mail_settings: Settings
) -> None:
    store, settings = mail_store, mail_settings
    subscribe(store, "a@xa.test")
    publish(store, "d5", THONG_BAO, local(2021, 1, 6, 6, 0))  # the day before the first window
    publish(store, "d6", THONG_BAO, local(2021, 1, 6, 7, 0))
    first = queue_daily(store, settings, local(2021, 1, 7, 6, 30))
    assert (first.window_start, first.window_end) == (
        utc(local(2021, 1, 6, 6, 30)),
        utc(local(2021, 1, 7, 6, 30)),
    )
    # the service was down for three days: the next run covers all of them, once
    for day in (7, 8, 9):
        publish(store, f"d{day}", TIN_TUC, local(2021, 1, day, 12))
    composer = MailComposer(settings)
    now = utc(local(2021, 1, 10, 9, 15))
    reports = run_due(store, composer, now)
    assert [(r.run.frequency, r.articles, r.queued) for r in reports if r.run] == [
        (Frequency.DAILY, 3, 1),
        (Frequency.WEEKLY, 0, 0),  # its window (28/12 to 04/01) had nothing: recorded all the same
    ]
    daily = reports[0].run
    assert daily is not None
    assert (daily.window_start, daily.window_end) == (first.window_end, utc(local(2021, 1, 10, 6, 30)))
    assert run_due(store, composer, now) == []  # made once
    assert run_due(store, composer, now + timedelta(hours=20)) == []
    assert due_runs(store, settings, utc(local(2021, 1, 11, 6, 29))) == []
    monday = utc(local(2021, 1, 11, 6, 30))  # the next daily run, and the next weekly one
    assert due_runs(store, settings, monday) == [(Frequency.DAILY, monday), (Frequency.WEEKLY, monday)]
    with store.reading() as conn:
        runs = conn.execute(select(digest_runs).order_by(digest_runs.c.id)).all()
    assert [(r.frequency, r.status, r.mails) for r in runs] == [
        ("daily", "queued", 1),
        ("daily", "queued", 1),
        ("weekly", "queued", 0),
    ]
    subjects = [subject for subject, _ in _composed(store)]
    assert subjects == [
        "Bản tin Cổng TTĐT huyện Thọ Xuân ngày 07/01/2021: 1 tin mới",
        "Bản tin Cổng TTĐT huyện Thọ Xuân ngày 10/01/2021: 3 tin mới",
    ]


def _bodies(store: Store) -> list[object]:
    with store.reading() as conn:
        return list(conn.execute(select(mail_bodies).order_by(mail_bodies.c.id)))


def _composed(store: Store) -> list[tuple[str, str]]:
    """(subject, text and HTML) of each queued digest, joined from its frame and parts as the sender
    joins them."""
    found = []
    with store.reading() as conn:
        rows = conn.execute(
            select(outbox.c.body_id, outbox.c.parts).where(outbox.c.kind == "digest").order_by(outbox.c.id)
        ).all()
        for row in rows:
            parts = mailqueue.load_parts(conn, row.body_id)
            chosen = [parts[slug] for slug in row.parts.split(",")]
            total = sum(p.articles for p in chosen)
            subject, language = mailqueue.subject_and_language(conn, row.body_id)
            subject = subject.replace(COUNT, news_count(total, language))
            text = b"".join(quopri.decodestring(p.text_qp) + quopri.decodestring(p.html_qp) for p in chosen)
            found.append((subject, text.decode("utf-8")))
    return found


def test_a_weekly_digest(mail_store: Store, mail_settings: Settings) -> None:
    store, settings = mail_store, mail_settings
    subscribe(store, "tuan@xa.test", frequency="weekly", categories=["Thông báo", "nong-nghiep"])
    subscribe(store, "ngay@xa.test", frequency="daily")
    publish(store, "w1", THONG_BAO, local(2020, 12, 29, 8))
    publish(store, "w2", NONG_NGHIEP, local(2021, 1, 3, 20))
    publish(store, "w3", TIN_TUC, local(2021, 1, 2, 8))  # not their category
    publish(store, "w4", THONG_BAO, local(2021, 1, 4, 7))  # after the window
    end = window_end(Frequency.WEEKLY, local(2021, 1, 5, 9), settings)
    run = plan_run(store, Frequency.WEEKLY, end, utc(local(2021, 1, 5, 9)))
    assert run.window_start == utc(local(2020, 12, 28, 6, 30))  # first run: the week before
    report = queue_run(store, MailComposer(settings), run, utc(local(2021, 1, 5, 9)))
    assert (report.articles, report.queued) == (3, 1)
    assert list(rows_by_email(store)) == ["tuan@xa.test"]
    ((subject, _),) = _composed(store)
    # a week across the new year gives both dates their year (it said "từ 28/12 đến 04/01/2021")
    assert subject == "Bản tin tuần Cổng TTĐT huyện Thọ Xuân từ 28/12/2020 đến 04/01/2021: 2 tin mới"
    # one within a year names it once
    frame = MailComposer(settings).renderer.digest_frame(
        Frequency.WEEKLY, utc(local(2021, 1, 4, 6, 30)), utc(local(2021, 1, 11, 6, 30))
    )
    assert frame.subject == "Bản tin tuần Cổng TTĐT huyện Thọ Xuân từ 04/01 đến 11/01/2021: {count}"


# --- who gets what ---------------------------------------------------------------------------------------


def test_only_news_in_their_categories(mail_store: Store, mail_settings: Settings, tmp_path: Path) -> None:
    store, settings = mail_store, mail_settings
    publish(store, "tb-1", THONG_BAO, IN_WINDOW)
    publish(store, "tt-1", TIN_TUC, IN_WINDOW + timedelta(hours=1))
    publish(store, "tt-2", TIN_TUC, IN_WINDOW + timedelta(hours=2))
    subscribe(store, "all-1@xa.test")
    subscribe(store, "all-2@xa.test", categories="all")
    subscribe(store, "tt@xa.test", categories="tin-tuc-su-kien")
    subscribe(store, "tb@xa.test", categories=["Thông báo"])
    subscribe(store, "nn@xa.test", categories="Nông nghiệp")  # nothing new there
    subscribe(store, "pending@xa.test", confirmed=False)
    subscribe(store, "immediate@xa.test", frequency="immediate")
    report = queue_daily(store, settings)
    assert report.status == "queuing"  # the object as planned; the row is queued now
    rows = rows_by_email(store)
    assert sorted(rows) == ["all-1@xa.test", "all-2@xa.test", "tb@xa.test", "tt@xa.test"]
    # one rendering per run (a frame and a part per category), joined per recipient's choice
    assert len({r[0].body_id for r in rows.values()}) == 1
    assert rows["all-1@xa.test"][0].parts == rows["all-2@xa.test"][0].parts == "thong-bao,tin-tuc-su-kien"
    assert (rows["tb@xa.test"][0].parts, rows["tt@xa.test"][0].parts) == ("thong-bao", "tin-tuc-su-kien")
    subjects = {subject.rsplit(": ", 1)[1] for subject, _ in _composed(store)}
    assert subjects == {"3 tin mới", "2 tin mới", "1 tin mới"}

    # the mails themselves: each lists only its categories, Thông báo first
    Sender(store, settings, clock=FakeClock(RUN_AT)).deliver()
    found = {}
    for path in (tmp_path / "var" / "outbox" / "new").iterdir():
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        found[message["Delivered-To"]] = parts(message).text
    assert "Bài tb-1" not in found["tt@xa.test"] and "Bài tt-2" in found["tt@xa.test"]
    assert "Bài tt-1" not in found["tb@xa.test"] and "== THÔNG BÁO ==" in found["tb@xa.test"]
    everything = found["all-1@xa.test"]
    assert everything.index("== THÔNG BÁO ==") < everything.index("== TIN TỨC - SỰ KIỆN ==")
    assert everything.index("Bài tt-2") < everything.index("Bài tt-1")  # newest first


def test_nothing_new_means_no_mail(mail_store: Store, mail_settings: Settings) -> None:
    subscribe(mail_store, "a@xa.test")
    publish(mail_store, "old", THONG_BAO, local(2021, 1, 2, 9))
    run = queue_daily(mail_store, mail_settings)
    assert outbox_rows(mail_store) == []
    with mail_store.reading() as conn:
        row = conn.execute(select(digest_runs).where(digest_runs.c.id == run.id)).one()
    assert (row.status, row.mails) == ("queued", 0)


def test_what_counts_as_news(mail_store: Store, mail_settings: Settings) -> None:
    """Late imports of recent articles count; an archive imported today does not; nor scheduled ones."""
    store = mail_store
    subscribe(store, "a@xa.test")
    publish(store, "late", THONG_BAO, local(2021, 1, 5, 18), written_at=IN_WINDOW)  # recent, imported late
    publish(store, "archive", THONG_BAO, local(2020, 6, 1, 9), written_at=IN_WINDOW)  # old, imported now
    publish(store, "scheduled", THONG_BAO, local(2021, 1, 8, 9), written_at=IN_WINDOW)  # due tomorrow
    publish(store, "withdrawn", THONG_BAO, IN_WINDOW)
    store.withdraw("withdrawn", utc(IN_WINDOW + timedelta(hours=1)))
    report = queue_run(
        store,
        MailComposer(mail_settings),
        plan_run(store, Frequency.DAILY, utc(RUN_AT), utc(RUN_AT)),
        utc(RUN_AT),
    )
    assert (report.articles, report.queued) == (1, 1)
    ((_, text),) = _composed(store)
    assert "/a/late" in text and "/a/archive" not in text and "/a/scheduled" not in text
    # the scheduled one is news of the day it appears
    tomorrow = queue_daily(store, mail_settings, local(2021, 1, 9, 6, 30))
    assert tomorrow.window_start == utc(RUN_AT)
    assert "/a/scheduled" in _composed(store)[-1][1]


def test_an_edit_of_a_sent_article_is_not_sent_again(mail_store: Store, mail_settings: Settings) -> None:
    store = mail_store
    subscribe(store, "a@xa.test")
    publish(store, "tb-1", THONG_BAO, IN_WINDOW, title="Thông báo (bản đầu)")
    queue_daily(store, mail_settings)
    # corrected the next day: still the same article, not news
    publish(store, "tb-1", THONG_BAO, IN_WINDOW, title="Thông báo (đã sửa)", written_at=local(2021, 1, 7, 15))
    publish(store, "tt-1", TIN_TUC, local(2021, 1, 7, 16))
    queue_daily(store, mail_settings, local(2021, 1, 8, 6, 30))
    _, (subject, text) = _composed(store)
    assert subject.endswith(": 1 tin mới")
    assert "sửa" not in text and "/a/tb-1" not in text
    assert len(outbox_rows(store)) == 2


def test_a_preview_since_a_date(mail_store: Store, mail_settings: Settings) -> None:
    """Every article visible now and published since the date (inclusive), whatever no run would call
    news; scheduled and withdrawn ones never; nothing queued or recorded."""
    store = mail_store
    since = local(2020, 6, 1)
    publish(store, "on-the-day", THONG_BAO, since, written_at=IN_WINDOW)  # an archive imported later
    publish(store, "archive", TIN_TUC, local(2020, 8, 1, 9), written_at=IN_WINDOW)
    publish(store, "too-old", THONG_BAO, since - timedelta(seconds=1), written_at=IN_WINDOW)
    publish(store, "scheduled", NONG_NGHIEP, local(2021, 1, 8, 9), written_at=IN_WINDOW)
    publish(store, "withdrawn", THONG_BAO, IN_WINDOW)
    store.withdraw("withdrawn", utc(IN_WINDOW + timedelta(hours=1)))
    person = subscribe(store, "tb@xa.test", categories="thong-bao")
    composer = MailComposer(mail_settings)
    found = preview_since(store, composer, utc(since), utc(RUN_AT), None)
    assert found is not None
    subject, html, count = found
    # what it is, not a day's or a week's digest: from a date, with its year
    assert (count, subject) == (2, "Bản tin Cổng TTĐT huyện Thọ Xuân: các tin từ 01/06/2020 (2 tin)")
    assert ">Các tin đăng từ 01/06/2020</h1>" in html and "tuần" not in html and "ngày" not in subject
    assert "/a/on-the-day" in html and "/a/archive" in html
    assert "/a/too-old" not in html and "/a/scheduled" not in html and "/a/withdrawn" not in html
    assert html.index("Thông báo") < html.index(TIN_TUC)  # grouped as a run groups them
    mine = preview_since(store, composer, utc(since), utc(RUN_AT), person)
    assert mine is not None and mine[2] == 1 and "/a/archive" not in mine[1]
    assert preview_since(store, composer, utc(RUN_AT), utc(RUN_AT), None) is None
    assert outbox_rows(store) == []
    with store.reading() as conn:
        assert conn.execute(select(digest_runs)).all() == []


# --- exactly once ------------------------------------------------------------------------------------


def test_concurrent_runs_of_one_window_queue_one_set(mail_store: Store, mail_settings: Settings) -> None:
    """Four instances planning and queueing the same run at the same moment: one run, one mail each."""
    store, settings = mail_store, mail_settings
    publish(store, "tb-1", THONG_BAO, IN_WINDOW)
    addresses = subscribers_with_news(store, 300)
    end = window_end(Frequency.DAILY, RUN_AT, settings)
    start = threading.Barrier(4)
    runs, errors = [], []

    def instance() -> None:
        try:
            own = Store.open(settings.database_url, settings.categories)  # as another process would
            try:
                start.wait()
                run = plan_run(own, Frequency.DAILY, end, utc(RUN_AT))
                runs.append(run.id)
                queue_run(own, MailComposer(settings), run, utc(RUN_AT))
            finally:
                own.close()
        except Exception as error:  # noqa: BLE001 - reported below, in the test thread
            errors.append(error)

    threads = [threading.Thread(target=instance) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(set(runs)) == 1 and len(runs) == 4
    rows = outbox_rows(store)
    assert len(rows) == 300
    assert len({r.subscriber_id for r in rows}) == 300
    with store.reading() as conn:
        (run,) = conn.execute(select(digest_runs)).all()
        assert len(conn.execute(select(mail_bodies)).all()) == 1
    assert (run.status, run.mails) == ("queued", 300)
    assert len(addresses) == 300


def test_an_interrupted_queueing_is_completed_once(mail_store: Store, mail_settings: Settings) -> None:
    store, settings = mail_store, mail_settings
    publish(store, "tb-1", THONG_BAO, IN_WINDOW)
    subscribers_with_news(store, 40)
    run = queue_daily(store, settings)
    # as if the process died half-way: the run still `queuing`, half of its mails missing
    with store.writing() as conn:
        conn.execute(delete(outbox).where(outbox.c.subscriber_id > 20))
        conn.execute(update(digest_runs).values(status="queuing", mails=20))
    again = plan_run(store, Frequency.DAILY, run.window_end, utc(RUN_AT) + timedelta(hours=1))
    assert (again.id, again.status) == (run.id, "queuing")
    report = queue_run(store, MailComposer(settings), again, utc(RUN_AT) + timedelta(hours=1))
    assert report.queued == 20
    assert len(outbox_rows(store)) == 40
    done = plan_run(store, Frequency.DAILY, run.window_end, utc(RUN_AT) + timedelta(hours=2))
    assert done.status == "queued" and done.mails == 40
    assert queue_run(store, MailComposer(settings), done, utc(RUN_AT)).queued == 0


def _digest_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "syndicator.mail.digests"]


@pytest.mark.parametrize(
    ("news", "readers", "said"),
    [
        ([], ["thong-bao"], "no new articles, no mail queued"),
        ([THONG_BAO], ["thong-bao"], "1 new article in 1 category, 1 mail queued (in vi)"),
        (
            [THONG_BAO, THONG_BAO],
            ["thong-bao", "all"],
            "2 new articles in 1 category, 2 mails queued (in vi)",
        ),
        # news nobody subscribed to: no mail, and no language to name
        ([THONG_BAO, TIN_TUC, TIN_TUC], ["nong-nghiep"], "3 new articles in 2 categories, no mail queued"),
    ],
)
def test_the_log_of_a_run_counts_in_good_english(
    mail_store: Store,
    mail_settings: Settings,
    caplog: pytest.LogCaptureFixture,
    news: list[str],
    readers: list[str],
    said: str,
) -> None:
    for n, category in enumerate(news):
        publish(mail_store, f"n{n}", category, IN_WINDOW + timedelta(minutes=n))
    for n, categories in enumerate(readers):
        subscribe(mail_store, f"r{n}@xa.test", categories=categories)
    with caplog.at_level(logging.INFO, logger="syndicator.mail.digests"):
        queue_daily(mail_store, mail_settings)
    assert _digest_log(caplog) == [f"daily digest {utc(RUN_AT).isoformat()}: {said}"]


# --- immediate mails -----------------------------------------------------------------------------------


def test_the_log_of_immediate_mails_counts_in_good_english(
    mail_store: Store, mail_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    composer = MailComposer(mail_settings)
    t0 = utc(local(2021, 1, 6, 8))
    subscribe(mail_store, "ngay@xa.test", frequency="immediate", at=local(2021, 1, 1))
    queue_immediate(mail_store, composer, t0)
    publish(mail_store, "tb-1", THONG_BAO, local(2021, 1, 6, 8, 1))
    with caplog.at_level(logging.INFO, logger="syndicator.mail.digests"):
        assert queue_immediate(mail_store, composer, t0 + timedelta(minutes=2)) == 1
        subscribe(mail_store, "tb@xa.test", frequency="immediate", at=local(2021, 1, 6, 8, 2))
        publish(mail_store, "tb-2", THONG_BAO, local(2021, 1, 6, 8, 3))
        publish(mail_store, "tb-3", THONG_BAO, local(2021, 1, 6, 8, 4))
        assert queue_immediate(mail_store, composer, t0 + timedelta(minutes=5)) == 4
    assert _digest_log(caplog) == [
        "immediate: 1 mail queued for 1 new article",
        "immediate: 4 mails queued for 2 new articles",
    ]


def test_immediate_mails(mail_store: Store, mail_settings: Settings, tmp_path: Path) -> None:
    store, settings = mail_store, mail_settings
    composer = MailComposer(settings)
    t0 = utc(local(2021, 1, 6, 8))
    publish(store, "before", THONG_BAO, local(2021, 1, 6, 7))
    subscribe(store, "ngay@xa.test", frequency="immediate", at=local(2021, 1, 1))
    subscribe(store, "tb@xa.test", frequency="immediate", categories="thong-bao", at=local(2021, 1, 1))
    subscribe(store, "daily@xa.test", at=local(2021, 1, 1))
    assert queue_immediate(store, composer, t0) == 0  # the first look only starts the cursor
    publish(store, "tb-1", THONG_BAO, local(2021, 1, 6, 8, 1), title="Thông báo khẩn: lịch cắt điện")
    publish(store, "tt-1", TIN_TUC, local(2021, 1, 6, 8, 2))
    assert queue_immediate(store, composer, t0 + timedelta(seconds=150)) == 3
    assert queue_immediate(store, composer, t0 + timedelta(seconds=165)) == 0  # nothing twice
    # an edit is not news; someone who subscribes afterwards is not sent what was already there
    publish(
        store, "tb-1", THONG_BAO, local(2021, 1, 6, 8, 1), title="(sửa)", written_at=local(2021, 1, 6, 8, 5)
    )
    subscribe(store, "late@xa.test", frequency="immediate", at=local(2021, 1, 6, 8, 6))
    assert queue_immediate(store, composer, t0 + timedelta(minutes=7)) == 0
    rows = rows_by_email(store)
    assert {email: sorted(r.article_id for r in found) for email, found in rows.items()} == {
        "ngay@xa.test": ["tb-1", "tt-1"],
        "tb@xa.test": ["tb-1"],
    }
    Sender(store, settings, clock=FakeClock(t0 + timedelta(minutes=7))).deliver()
    subjects = set()
    for path in (tmp_path / "var" / "outbox" / "new").iterdir():
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        subjects.add(message["Subject"])
        assert message["List-Id"] == "Tin mới Cổng TTĐT huyện Thọ Xuân <tin-moi.rss.thoxuan.example>"
        assert message["List-Unsubscribe"].startswith("<https://rss.thoxuan.example/unsubscribe/")
    assert subjects == {"[Thông báo] Thông báo khẩn: lịch cắt điện", f"[{TIN_TUC}] Bài tt-1"}


# --- retention ------------------------------------------------------------------------------------------


def test_old_mails_are_purged_and_nothing_goes_again(mail_store: Store, mail_settings: Settings) -> None:
    from syndicator.mail.sender import purge_outbox
    from syndicator.store.schema import digest_parts

    store, settings = mail_store, mail_settings
    publish(store, "tb-1", THONG_BAO, IN_WINDOW)
    subscribers_with_news(store, 3)
    queue_daily(store, settings)  # the run of 07/01/2021
    Sender(store, settings, clock=FakeClock(RUN_AT)).deliver()
    with store.writing() as conn:  # one of them never went (still pending: it must stay)
        conn.execute(update(outbox).where(outbox.c.id == 3).values(status="pending"))

    def table_sizes() -> tuple[int, int, int]:
        with store.reading() as conn:
            return tuple(  # type: ignore[return-value]
                len(conn.execute(select(t)).all()) for t in (outbox, mail_bodies, digest_parts)
            )

    assert table_sizes() == (3, 1, 1)
    assert purge_outbox(store, RUN_AT + timedelta(days=90), keep_days=90) == 0  # not old enough yet
    assert purge_outbox(store, RUN_AT + timedelta(days=91), keep_days=90) == 2
    assert table_sizes() == (1, 1, 1)  # the pending mail and the body it points at
    with store.writing() as conn:
        conn.execute(update(outbox).values(status="cancelled"))
    assert purge_outbox(store, RUN_AT + timedelta(days=91), keep_days=90) == 1
    assert table_sizes() == (0, 0, 0)
    # the run stays queued: asking for it again queues nothing, so nobody gets it twice
    assert queue_daily(store, settings).status == "queued"
    assert outbox_rows(store) == []
