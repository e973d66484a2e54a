"""Feed readership (issue 14): client families from User-Agents, the in-memory tally, its flush into
the store from several instances, the console's page and API, and that nothing of a client but its
family is kept. On SQLite and PostgreSQL; HTTP through a real uvicorn server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import inspect

from syndicator import dates
from syndicator.store import Store
from syndicator.store import readership as stored
from syndicator.store.readership import Counted, PollDay

HANOI = timezone(timedelta(hours=7))
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi
TODAY = date(2026, 11, 29)


# --- the store ------------------------------------------------------------------------------------


def test_flushes_of_two_instances_add_up(store: Store) -> None:
    first = [
        Counted("thong-bao.atom", TODAY, "Feedly", 3, 2, 40, NOW - timedelta(minutes=5)),
        Counted("thong-bao.atom", TODAY, "Other", 1, 0),
    ]
    second = [
        Counted("thong-bao.atom", TODAY, "Feedly", 4, 4, 42, NOW),
        Counted("thong-bao.atom", TODAY, "Inoreader", 2, 1, 7, NOW),
    ]
    with store.writing() as conn:
        stored.add(conn, first)
    with store.writing() as conn:
        stored.add(conn, second)
    with store.writing() as conn:  # an older report flushed late does not replace a newer one
        stored.add(conn, [Counted("thong-bao.atom", TODAY, "Feedly", 1, 0, 30, NOW - timedelta(hours=1))])
    with store.reading() as conn:
        [feed] = stored.feeds(conn, TODAY, TODAY)
    assert (feed.feed, feed.polls, feed.not_modified) == ("thong-bao.atom", 11, 7)
    clients = {c.client: c for c in feed.clients}
    assert (clients["Feedly"].polls, clients["Feedly"].reported_subscribers) == (8, 42)
    assert clients["Other"].reported_subscribers is None
    assert feed.reported_subscribers == 42 + 7
    assert [c.client for c in feed.clients] == ["Feedly", "Inoreader", "Other"]


def test_latest_report_across_days_wins(store: Store) -> None:
    yesterday = TODAY - timedelta(days=1)
    with store.writing() as conn:
        stored.add(conn, [Counted("a.atom", yesterday, "Feedly", 1, 0, 50, NOW - timedelta(days=1))])
        stored.add(conn, [Counted("a.atom", TODAY, "Feedly", 1, 1, 45, NOW)])
    with store.reading() as conn:
        [week] = stored.feeds(conn, TODAY - timedelta(days=6), TODAY)
        [old] = stored.feeds(conn, yesterday, yesterday)
    assert (week.polls, week.reported_subscribers) == (2, 45)
    assert old.reported_subscribers == 50


def test_polls_by_day_one_per_day_in_order(store: Store) -> None:
    days = dates.days_ending(NOW, 3, HANOI)
    with store.writing() as conn:
        stored.add(
            conn,
            [
                Counted("a.atom", days[0].day, "Feedly", 5, 3),
                Counted("b.atom", days[0].day, "Other", 2, 0),
                Counted("a.atom", days[2].day, "Feedly", 4, 4),
                Counted("a.atom", days[2].day - timedelta(days=9), "Feedly", 100, 0),
            ],
        )
    with store.reading() as conn:
        assert stored.polls_by_day(conn, days) == [
            PollDay(days[0].day, full=4, not_modified=3),
            PollDay(days[1].day, full=0, not_modified=0),
            PollDay(days[2].day, full=0, not_modified=4),
        ]
        assert stored.polls_by_day(conn, []) == []


def test_no_address_or_user_agent_is_stored(store: Store) -> None:
    columns = {c["name"] for c in inspect(store.engine).get_columns("feed_readership")}
    assert columns == {
        "feed",
        "day",
        "client",
        "polls",
        "not_modified",
        "reported_subscribers",
        "reported_at",
    }
