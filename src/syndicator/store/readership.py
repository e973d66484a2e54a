"""Feed readership in the database: polls per feed document, day of the site's calendar and client
family, as every instance's counters add them (readership.py counts, jobs and the web app flush).

Several instances flush into the same rows, so a flush adds to what is there; the subscriber count an
aggregator reported is kept per row as the latest report by time, whoever flushed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING

from sqlalchemy import Connection, case, func, select

from syndicator.model import Day
from syndicator.readership import Tally
from syndicator.store.database import _dialect_insert
from syndicator.store.schema import feed_readership

if TYPE_CHECKING:
    from syndicator.store import Store


@dataclass(frozen=True, slots=True)
class Counted:
    """What one instance counted for a feed, day and client family since its last flush."""

    feed: str  # the document's path under /feeds/, as its URL ends ("thong-bao.atom")
    day: date  # in the site's zone
    client: str
    polls: int  # answered 200 or 304
    not_modified: int  # of which 304
    reported_subscribers: int | None = None  # the latest count the client gave, if any
    reported_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PollDay:
    """Feed polls of one day of the site's calendar: answered in full (200) and not modified (304)."""

    day: date
    full: int
    not_modified: int


@dataclass(frozen=True, slots=True)
class ClientReadership:
    client: str
    polls: int
    not_modified: int
    reported_subscribers: int | None  # the latest report in the window, None if it gave none


@dataclass(frozen=True, slots=True)
class FeedReadership:
    feed: str
    polls: int
    not_modified: int
    clients: tuple[ClientReadership, ...]  # most polls first

    @property
    def reported_subscribers(self) -> int:
        """The latest report of each aggregator, summed: the number FeedBurner gave publishers."""
        return sum(c.reported_subscribers or 0 for c in self.clients)


def add(conn: Connection, counts: Sequence[Counted]) -> None:
    """Adds `counts` to the rows of their feed, day and client (creating them): safe when several
    instances flush the same rows at once, as the addition happens in the database."""
    if not counts:
        return
    table = feed_readership
    statement = _dialect_insert(conn)(table)
    new = statement.excluded
    newer = (new.reported_at.is_not(None)) & (
        table.c.reported_at.is_(None) | (new.reported_at > table.c.reported_at)
    )
    statement = statement.on_conflict_do_update(
        index_elements=["feed", "day", "client"],
        set_={
            "polls": table.c.polls + new.polls,
            "not_modified": table.c.not_modified + new.not_modified,
            "reported_subscribers": case(
                (newer, new.reported_subscribers), else_=table.c.reported_subscribers
            ),
            "reported_at": case((newer, new.reported_at), else_=table.c.reported_at),
        },
    )
    rows = [
        {
            "feed": c.feed,
            "day": c.day,
            "client": c.client,
            "polls": c.polls,
            "not_modified": c.not_modified,
            "reported_subscribers": c.reported_subscribers,
            "reported_at": c.reported_at if c.reported_subscribers is not None else None,
        }
        for c in sorted(counts, key=lambda c: (c.feed, c.day, c.client))  # one lock order for all
    ]
    conn.execute(statement, rows)


def flush(store: Store, tally: Tally, now: datetime, tz: tzinfo) -> int:
    """Writes what `tally` counted since its last flush as polls of today (the site's calendar, at
    `now`) and returns how many rows it added to. When the database cannot take them the error goes up
    and the counts stay for the next flush. Nothing counted: no database work at all."""
    with tally.flushing:
        grown, mark = tally.take()
        if grown:
            day = now.astimezone(tz).date()
            counts = [
                Counted(feed, day, family, c.polls, c.not_modified, c.subscribers, now)
                for (feed, family), c in grown.items()
            ]
            with store.writing() as conn:
                add(conn, counts)
        tally.written(mark)
        return len(grown)


def polls_by_day(conn: Connection, days: Sequence[Day]) -> list[PollDay]:
    """Polls of every feed document on each of `days` (in order), 0 for a day without any."""
    if not days:
        return []
    wanted = [d.day for d in days]
    table = feed_readership
    rows = conn.execute(
        select(table.c.day, func.sum(table.c.polls), func.sum(table.c.not_modified))
        .where(table.c.day >= min(wanted), table.c.day <= max(wanted))
        .group_by(table.c.day)
    )
    found = {day: (int(polls or 0), int(unchanged or 0)) for day, polls, unchanged in rows}
    result = []
    for day in wanted:
        polls, unchanged = found.get(day, (0, 0))
        result.append(PollDay(day, full=polls - unchanged, not_modified=unchanged))
    return result


def feeds(conn: Connection, first_day: date, last_day: date) -> list[FeedReadership]:
    """Readership of each feed document polled from `first_day` to `last_day` (site's calendar), most
    polled first; each client's reported subscribers is its latest report in those days."""
    table = feed_readership
    in_window = (table.c.day >= first_day) & (table.c.day <= last_day)
    totals = conn.execute(
        select(table.c.feed, table.c.client, func.sum(table.c.polls), func.sum(table.c.not_modified))
        .where(in_window)
        .group_by(table.c.feed, table.c.client)
    ).all()
    reports: dict[tuple[str, str], tuple[datetime, int]] = {}
    for feed, client, at, count in conn.execute(
        select(table.c.feed, table.c.client, table.c.reported_at, table.c.reported_subscribers).where(
            in_window, table.c.reported_at.is_not(None)
        )
    ):
        key = (str(feed), str(client))
        if key not in reports or at > reports[key][0]:
            reports[key] = (at, int(count))
    by_feed: dict[str, list[ClientReadership]] = {}
    for feed, client, polls, unchanged in totals:
        report = reports.get((str(feed), str(client)))
        by_feed.setdefault(str(feed), []).append(
            ClientReadership(str(client), int(polls), int(unchanged), report[1] if report else None)
        )
    result = []
    for feed, clients in by_feed.items():
        clients.sort(key=lambda c: (-c.polls, c.client))
        result.append(
            FeedReadership(
                feed,
                sum(c.polls for c in clients),
                sum(c.not_modified for c in clients),
                tuple(clients),
            )
        )
    result.sort(key=lambda f: (-f.polls, f.feed))
    return result


def columns() -> list[str]:
    """The table's columns: what tests check holds no address or User-Agent."""
    return [c.name for c in feed_readership.columns]
