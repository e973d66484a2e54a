"""Shared by the dashboard's tests (no tests of its own): a site's store seeded with a little of
everything the dashboard draws, through the store's own writes, at known moments of the clock."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from syndicator.model import OutboxEntry, OutboxKind
from syndicator.store import Store, mailqueue, readership
from syndicator.store.mailqueue import Outcome
from syndicator.store.readership import Counted
from tests.factories import VIETNAM, publish, subscribe

# the SVG's data points: pygal writes each value in a <desc class="value"> (tooltips, which we drop)
VALUE = re.compile(r'<desc class="value">([^<]*)</desc>')
CHART_NAMES = ("subscribers", "mails", "polls", "articles")
EVENTS = "Sự kiện"  # a category only the seeded articles have


def seed(store: Store, now: datetime) -> None:
    """Today (site time): two confirmed subscribers and a pending one (signed up two days ago), two
    new articles of EVENTS, one mail sent and one bounced, and 7 polls of a feed of which 4 were 304."""
    before = now - timedelta(days=2)
    first = subscribe(store, "an@example.org", at=before)
    second = subscribe(store, "binh@example.org", at=before)
    subscribe(store, "chi@example.org", at=before, confirmed=False)
    publish(store, "su-kien-1", EVENTS, now - timedelta(hours=1))
    publish(store, "su-kien-2", EVENTS, now - timedelta(minutes=30))
    with store.writing() as conn:
        body = mailqueue.body_id(conn, "dashboard-test", "Bản tin", b"Subject: x\r\n\r\nx", now)
        entries = [
            OutboxEntry(person.id, OutboxKind.IMMEDIATE, body, article_id="su-kien-1")
            for person in (first, second)
        ]
        mailqueue.enqueue(conn, entries, now)
    with store.writing() as conn:
        claimed = mailqueue.claim(conn, now, 10, "test", now + timedelta(minutes=5))
        by_person = {c.subscriber_id: c.id for c in claimed}
        mailqueue.mark_sent(conn, by_person[first.id], now, "test")
        mailqueue.record_attempt(conn, by_person[first.id], now, Outcome.SENT, "test", code=250)
        mailqueue.record_attempt(conn, by_person[second.id], now, Outcome.BOUNCED, "test", code=550)
        mailqueue.mark_failed(conn, by_person[second.id], "550 no such user", "test")
    today = now.astimezone(VIETNAM).date()
    with store.writing() as conn:
        readership.add(conn, [Counted("thong-bao.atom", today, "Feedly", 7, 4)])
