"""Every delivery attempt is recorded with the server's reply (a real aiosmtpd server, SQLite and
PostgreSQL): sent, refused for now then sent, refused for good; the dashboard's counts read them;
attempts go with their mail (purge, a subscriber forgotten)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from syndicator.dates import days_ending
from syndicator.mail.sender import purge_outbox
from syndicator.model import OutboxStatus
from syndicator.store import mailqueue
from syndicator.store import subscribers as store_subscribers
from syndicator.store.mailqueue import Outcome
from tests.mailconsolekit import REFUSED_FOR_NOW, attempts, later, mail_of, mail_site, smtp_of, status
from tests.smtp_server import Fault


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "plain"])
def test_a_recipient_refused_for_now_then_accepted_has_both_attempts_with_the_replies(
    database_url: str, tmp_path: Path, pipelining: bool
) -> None:
    with mail_site(database_url, tmp_path, pipelining=pipelining) as site:
        smtp_of(site).recorder.faults.append(Fault("RCPT", REFUSED_FOR_NOW, "x@xa.test", times=1))
        site.add_confirmed("x@xa.test")
        site.add_confirmed("y@xa.test")
        assert site.queue_daily_digest("a1") == 2
        first = site.deliver()
        assert (first.sent, first.retried) == (1, 1)
        x, y = mail_of(site, "x@xa.test"), mail_of(site, "y@xa.test")
        [accepted] = attempts(site, y.id)
        assert (accepted.outcome, accepted.code) == (Outcome.SENT, 250)
        assert accepted.reply == "2.0.0 queued"  # the server's own words, either way of sending
        assert accepted.claimant and accepted.at == site.clock()
        [refused] = attempts(site, x.id)
        assert (refused.outcome, refused.code) == (Outcome.RETRY, 451)
        assert refused.reply is not None and "greylisted" in refused.reply
        later(site)
        assert site.deliver().sent == 1
        assert [a.outcome for a in attempts(site, x.id)] == [Outcome.RETRY, Outcome.SENT]
        assert status(site, x.id) is OutboxStatus.SENT
        with site.store.reading() as conn:
            days = days_ending(site.clock(), 3, site.settings.tz)
            series = mailqueue.outcomes_by_day(conn, days)
        assert sum(day["sent"] for day in series) == 2
        assert sum(day["retried"] for day in series) == 1
        assert sum(day["failed"] + day["bounced"] for day in series) == 0


def test_a_recipient_refused_for_good_is_a_bounce_counted_since(database_url: str, tmp_path: Path) -> None:
    with mail_site(database_url, tmp_path) as site:
        smtp_of(site).recorder.faults.append(Fault("RCPT", "550 5.1.1 no such mailbox", "x@xa.test"))
        site.add_confirmed("x@xa.test")
        started = site.clock()
        site.queue_daily_digest("a1")
        assert site.deliver().failed == 1
        x = mail_of(site, "x@xa.test")
        [bounced] = attempts(site, x.id)
        assert (bounced.outcome, bounced.code) == (Outcome.BOUNCED, 550)
        assert bounced.reply is not None and "no such mailbox" in bounced.reply
        with site.store.reading() as conn:
            assert mailqueue.bounced_since(conn, started) == 1
            assert mailqueue.bounced_since(conn, site.clock() + timedelta(seconds=1)) == 0
            today = days_ending(site.clock(), 1, site.settings.tz)
            assert mailqueue.outcomes_by_day(conn, today) == [
                {"sent": 0, "retried": 0, "failed": 0, "bounced": 1}
            ]


def test_a_long_reply_is_cut_and_the_last_attempt_is_a_failure(database_url: str, tmp_path: Path) -> None:
    with mail_site(database_url, tmp_path, mail={"connections": 2, "max_attempts": 1}) as site:
        long = "452 4.3.1 " + "full " * 200
        smtp_of(site).recorder.faults.append(Fault("DATA", long.strip(), "x@xa.test"))
        site.add_confirmed("x@xa.test")
        site.queue_daily_digest("a1")
        assert site.deliver().failed == 1
        [given_up] = attempts(site, mail_of(site, "x@xa.test").id)
        assert (given_up.outcome, given_up.code) == (Outcome.FAILED, 452)
        assert given_up.reply is not None and len(given_up.reply) == 500


def test_attempts_go_with_their_mail_purged_or_their_subscriber_forgotten(
    database_url: str, tmp_path: Path
) -> None:
    with mail_site(database_url, tmp_path) as site:
        site.add_confirmed("x@xa.test")
        site.add_confirmed("y@xa.test")
        site.queue_daily_digest("a1")
        assert site.deliver().sent == 2
        x, y = mail_of(site, "x@xa.test"), mail_of(site, "y@xa.test")
        assert attempts(site, x.id) and attempts(site, y.id)
        with site.store.writing() as conn:
            store_subscribers.forget(conn, [x.subscriber_id])
        assert attempts(site, x.id) == []
        assert attempts(site, y.id)
        site.clock.advance(timedelta(days=2))
        assert purge_outbox(site.store, site.clock(), keep_days=1) == 1
        assert attempts(site, y.id) == []


def test_stuck_mail_is_pending_long_past_its_time_or_held_under_a_lapsed_lease(
    database_url: str, tmp_path: Path
) -> None:
    with mail_site(database_url, tmp_path) as site:
        site.add_confirmed("x@xa.test")
        site.add_confirmed("y@xa.test")
        site.queue_daily_digest("a1")
        now = site.clock()
        with site.store.writing() as conn:
            assert mailqueue.stuck(conn, now) == 0
            assert mailqueue.stuck(conn, now + mailqueue.STUCK_AFTER + timedelta(seconds=1)) == 2
            [held] = mailqueue.claim(conn, now, 1, "gone-sender", now + timedelta(minutes=1))
        with site.store.reading() as conn:
            assert mailqueue.stuck(conn, now) == 0  # the claim's lease still runs
            assert mailqueue.stuck(conn, now + timedelta(minutes=2)) == 1  # its lease ran out
            assert mailqueue.stuck(conn, now + mailqueue.STUCK_AFTER + timedelta(minutes=2)) == 2
        assert held.id
