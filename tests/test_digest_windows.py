"""A digest run is made only for a window that has ended, so no article drops out of the digests
(SQLite and PostgreSQL).

The defect: `digest send --at <a time still ahead>` made and queued the run of a window still open; an
article published afterwards inside that window was sent by no run (that run was done, and the next
window starts where it ends).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select, text

from syndicator.clock import utcnow
from syndicator.config import Settings
from syndicator.mail.composer import MailComposer
from syndicator.mail.digests import WindowNotEnded, plan_run, run_due, window_end
from syndicator.mail.sender import Sender
from syndicator.model import Frequency
from syndicator.store import Store
from syndicator.store.schema import digest_runs
from tests.clikit import environment, syndicator
from tests.conftest import postgres_schema_url, require_postgres
from tests.factories import FakeClock, article_input, publish, subscribe
from tests.mailkit import RUN_AT, THONG_BAO, TIN_TUC, local, make_settings, outbox_rows, parts


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def runs(store: Store) -> list[tuple[str, datetime, str]]:
    with store.reading() as conn:
        rows = conn.execute(select(digest_runs).order_by(digest_runs.c.id)).all()
    return [(r.frequency, r.window_end.replace(tzinfo=UTC), r.status) for r in rows]


def delivered(settings: Settings, store: Store, now: datetime) -> list[tuple[str, str]]:
    """Send what is queued to the maildir: (recipient, plain text) of every mail there."""
    Sender(store, settings, clock=FakeClock(now)).deliver()
    found = []
    for path in (settings.var_dir / "outbox" / "new").iterdir():
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        found.append((str(message["Delivered-To"]), parts(message).text))
    return found


# --- the rule, where the scheduler's job and `digest send` both meet it -----------------------------------


def test_a_window_still_open_is_never_planned(mail_store: Store) -> None:
    now = utc(RUN_AT) - timedelta(seconds=1)  # one second before the run of 07/01/2021
    with pytest.raises(WindowNotEnded, match="daily window ending 2021-01-06T23:30:00"):
        plan_run(mail_store, Frequency.DAILY, utc(RUN_AT), now)
    with pytest.raises(WindowNotEnded):
        plan_run(mail_store, Frequency.WEEKLY, utc(local(2021, 1, 11, 6, 30)), now)
    assert runs(mail_store) == []  # refused before anything was written
    # the moment it ends, it is planned
    assert plan_run(mail_store, Frequency.DAILY, utc(RUN_AT), utc(RUN_AT)).window_end == utc(RUN_AT)


def test_the_scheduler_plans_only_windows_that_have_ended(mail_store: Store, mail_settings: Settings) -> None:
    """run_due, the job's call, ticking every few hours across a fortnight: never a run whose window
    was still open at that tick."""
    composer = MailComposer(mail_settings)
    subscribe(mail_store, "a@xa.test")
    tick = utc(local(2021, 1, 1, 0, 5))
    while tick < utc(local(2021, 1, 15)):
        publish(mail_store, f"a-{tick:%d%H}", TIN_TUC, tick)
        for report in run_due(mail_store, composer, tick):
            assert report.run is not None and report.run.window_end <= tick
        tick += timedelta(hours=5, minutes=7)
    # every daily run from 31/12 to 14/01, each made once
    assert [(f, status) for f, _, status in runs(mail_store)].count(("daily", "queued")) == 15
    assert all(end <= tick for _, end, _ in runs(mail_store))


def test_every_article_of_a_window_is_sent_once(mail_store: Store, mail_settings: Settings) -> None:
    """The sequence of the defect at the level of the job: a run asked for too early is refused, an
    article published afterwards inside the window is in the run made when the window ends, and in
    no other."""
    store, settings = mail_store, mail_settings
    composer = MailComposer(settings)
    subscribe(store, "a@xa.test")
    publish(store, "early", THONG_BAO, local(2021, 1, 6, 9))
    morning = utc(local(2021, 1, 6, 10))
    with pytest.raises(WindowNotEnded):
        plan_run(store, Frequency.DAILY, utc(RUN_AT), morning)
    publish(store, "late", THONG_BAO, local(2021, 1, 6, 22))  # still inside that window
    (report, _weekly) = run_due(store, composer, utc(RUN_AT) + timedelta(seconds=20))
    assert report.run is not None and report.run.window_end == utc(RUN_AT)
    assert (report.articles, report.queued) == (2, 1)
    publish(store, "next", THONG_BAO, local(2021, 1, 7, 8))
    (following,) = run_due(store, composer, utc(local(2021, 1, 8, 6, 30)))
    assert following.articles == 1
    text = "".join(text for _, text in delivered(settings, store, utc(local(2021, 1, 8, 7))))
    assert [text.count(f"/a/{name}") for name in ("early", "late", "next")] == [1, 1, 1]


# --- `digest send --at` in the future: refused, nothing recorded; the real run sends what came after -------


@pytest.mark.slow
def test_digest_send_of_a_window_still_ahead_is_refused(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path)
    now = utcnow()  # the command reads the real clock
    current = window_end(Frequency.DAILY, now, settings)  # the last run time passed
    end = current + timedelta(days=1)  # the end of the window still open
    ahead = end.astimezone(settings.tz).replace(tzinfo=None).isoformat(timespec="minutes")  # as typed
    store = Store.open(settings.database_url, settings.categories)
    try:
        subscribe(store, "a@xa.test", at=now - timedelta(days=30))
        publish(store, "before", THONG_BAO, current + (now - current) / 2)  # in the window still open
    finally:
        store.close()

    env = environment(database_url, tmp_path)
    refused = syndicator("digest", "send", "--frequency", "daily", "--at", ahead, env=env, cwd=tmp_path)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.splitlines() == [
        f"error: --at: {ahead} is still ahead: a digest is sent only once its window has ended "
        f"(the latest daily window ended {current.astimezone(settings.tz).isoformat(' ', 'minutes')})"
    ]

    store = Store.open(settings.database_url, settings.categories)
    try:
        assert runs(store) == [] and outbox_rows(store) == []  # nothing recorded, nothing queued
        # an article of the same window (the one still open now), published after the refused send
        publish(store, "after", TIN_TUC, utcnow())
        # the real run: the job's tick once that window has ended
        reports = run_due(store, MailComposer(settings), end + timedelta(seconds=30))
        assert [r.run.window_end for r in reports if r.run and r.run.frequency is Frequency.DAILY] == [end]
        ((recipient, text),) = delivered(settings, store, end + timedelta(minutes=1))
    finally:
        store.close()
    assert recipient == "a@xa.test" and "/a/before" in text and "/a/after" in text


# --- writes that meet a run: a late commit, an article moved to an earlier time ----------------------------


def test_an_article_written_with_a_clock_read_before_a_run_is_news_in_the_next_window(
    mail_store: Store, mail_settings: Settings
) -> None:
    """An import reads its clock at 06:29:59 and commits after the 06:30 run read its news: dated
    06:29:59, it would fall in the window already sent and in no later one. It is dated after that
    run instead, so the next run carries it."""
    store, composer = mail_store, MailComposer(mail_settings)
    subscribe(store, "a@xa.test")
    (daily, _weekly) = run_due(store, composer, utc(RUN_AT))
    assert daily.articles == 0
    publish(
        store,
        "late-commit",
        THONG_BAO,
        utc(RUN_AT) - timedelta(minutes=5),
        written_at=utc(RUN_AT) - timedelta(seconds=1),
    )
    (following,) = run_due(store, composer, utc(local(2021, 1, 8, 6, 30)))
    assert following.articles == 1
    text = "".join(text for _, text in delivered(mail_settings, store, utc(local(2021, 1, 8, 7))))
    assert text.count("/a/late-commit") == 1


def test_an_article_moved_to_an_earlier_time_is_not_lost(mail_store: Store, mail_settings: Settings) -> None:
    """Scheduled for Friday, then, after Thursday's run, moved to Wednesday morning: dated by its
    publication time alone it would belong to the window Thursday's run sent. It is news in Friday's."""
    store, composer = mail_store, MailComposer(mail_settings)
    subscribe(store, "a@xa.test")
    publish(store, "moved", TIN_TUC, local(2021, 1, 8, 9), written_at=local(2021, 1, 4, 9))  # Friday
    (daily, _weekly) = run_due(store, composer, utc(RUN_AT))  # Thursday 07/01 06:30
    assert daily.articles == 0  # still scheduled
    publish(store, "moved", TIN_TUC, local(2021, 1, 6, 9), written_at=local(2021, 1, 7, 10))  # now Wednesday
    (following,) = run_due(store, composer, utc(local(2021, 1, 8, 6, 30)))
    assert following.articles == 1
    # an edit of an article readers could already see is no news again
    publish(
        store, "moved", TIN_TUC, local(2021, 1, 5, 9), title="Sửa tiêu đề", written_at=local(2021, 1, 8, 10)
    )
    (third,) = run_due(store, composer, utc(local(2021, 1, 9, 6, 30)))
    assert third.articles == 0


def test_a_withdrawn_article_put_back_is_news_again(mail_store: Store, mail_settings: Settings) -> None:
    """Withdrawn before the run that would have carried it, put back after: news in the next run."""
    store, composer = mail_store, MailComposer(mail_settings)
    subscribe(store, "a@xa.test")
    publish(store, "back", THONG_BAO, local(2021, 1, 6, 9))
    with store.writing() as conn:
        from syndicator.store.articles import withdraw

        assert withdraw(conn, "back", utc(local(2021, 1, 6, 11)))
    (daily, _weekly) = run_due(store, composer, utc(RUN_AT))
    assert daily.articles == 0
    publish(store, "back", THONG_BAO, local(2021, 1, 6, 9), written_at=local(2021, 1, 7, 9))
    (following,) = run_due(store, composer, utc(local(2021, 1, 8, 6, 30)))
    assert following.articles == 1


@pytest.fixture
def pg_mail(tmp_path: Path) -> Iterator[tuple[Store, Settings]]:
    """PostgreSQL only: SQLite runs one writer at a time, so a run cannot be made while a write is open."""
    require_postgres()
    for url in postgres_schema_url():
        settings = make_settings(url, tmp_path)
        store = Store.open(settings.database_url, settings.categories)
        try:
            yield store, settings
        finally:
            store.close()


@pytest.mark.postgres
def test_a_run_waits_for_the_article_writes_in_flight(pg_mail: tuple[Store, Settings]) -> None:
    """PostgreSQL: a run asked for while an article write is open is made once that write commits,
    so the write is in its news (without the lock the run would read its news first and the article,
    dated inside the window, would be in no run)."""
    from syndicator.store.articles import write_batch

    store, settings = pg_mail
    composer = MailComposer(settings)
    subscribe(store, "a@xa.test")
    item = article_input("in-flight", THONG_BAO, utc(RUN_AT) - timedelta(minutes=1), title="Bài đang ghi")
    reports: list[object] = []
    with store.engine.connect() as writer, writer.begin():
        write_batch(writer, [item], utc(RUN_AT) - timedelta(seconds=1))
        runner = threading.Thread(target=lambda: reports.extend(run_due(store, composer, utc(RUN_AT))))
        runner.start()
        with store.engine.connect() as watcher:  # until the run's transaction waits for the lock
            for _ in range(1000):
                waiting = watcher.execute(
                    text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                ).scalar()
                if waiting:
                    break
                watcher.rollback()
                runner.join(0.01)
            assert waiting, "the run did not wait for the write in flight"
    runner.join(30)
    assert not runner.is_alive()
    daily = reports[0]
    assert getattr(daily, "articles", None) == 1
