"""A digest run is made only for a window that has ended, so no article drops out of the digests
(SQLite and PostgreSQL).

The defect: `digest send --at <a time still ahead>` made and queued the run of a window still open; an
article published afterwards inside that window was sent by no run (that run was done, and the next
window starts where it ends).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from syndicator.clock import utcnow
from syndicator.config import Settings
from syndicator.mail.digests import MailComposer, WindowNotEnded, plan_run, run_due, window_end
from syndicator.mail.sender import Sender
from syndicator.model import Frequency
from syndicator.store import Store
from syndicator.store.schema import digest_runs
from tests.test_mail_cli import environment, syndicator
from tests.test_mail_helpers import (
    RUN_AT,
    THONG_BAO,
    TIN_TUC,
    FakeClock,
    local,
    make_settings,
    outbox_rows,
    parts,
    publish,
    subscribe,
)


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
        found.append((str(message["Delivered-To"]), parts(message).text))  # type: ignore[arg-type]
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
        f"(the latest daily window ended {current.astimezone(settings.tz):%d/%m/%Y %H:%M})"
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
