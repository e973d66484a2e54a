"""The console's dashboard as one value: the daily series over the days asked for, today's figures, the
counts by state (store/tallies.py, as /metrics has them) and what needs attention. One read gathers it
for the page and /admin/api/dashboard; a chart image reads its series alone (`series`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

from sqlalchemy import Connection

from syndicator.model import Day, DropFile, SubscriberStatus
from syndicator.store import articles, dropfiles, jobruns, mailqueue, readership, subscribers
from syndicator.store.jobruns import JobRun
from syndicator.store.readership import PollDay
from syndicator.store.tallies import Tallies, tallies

BOUNCES_OVER = timedelta(days=7)  # the bounces the attention list counts
FAILED_FILES_SHOWN = 20
MAIL_OUTCOMES = ("sent", "retried", "failed", "bounced")  # mailqueue.outcomes_by_day's keys, in order


@dataclass(frozen=True, slots=True)
class Week:
    """The days of the span that fall in one calendar week (Monday first): the first and last may be
    partial."""

    first: date
    last: date
    articles: dict[str, int]  # by category slug


@dataclass(frozen=True, slots=True)
class Attention:
    bounces: int  # hard bounces over BOUNCES_OVER
    stuck_mail: int
    failing_jobs: tuple[JobRun, ...]
    failed_files: tuple[DropFile, ...]  # at most FAILED_FILES_SHOWN, by path
    failed_files_total: int

    @property
    def anything(self) -> bool:
        return bool(self.bounces or self.stuck_mail or self.failing_jobs or self.failed_files_total)


@dataclass(frozen=True, slots=True)
class Charted:
    """What the charts draw: one value per day of the span (and per week for the articles)."""

    days: tuple[Day, ...]  # oldest first; the last is today
    subscribers: tuple[dict[SubscriberStatus, int], ...]  # at each day's end
    mails: tuple[dict[str, int], ...]  # MAIL_OUTCOMES per day
    polls: tuple[PollDay, ...]
    articles: tuple[dict[str, int], ...]  # per day, visible articles published that day by slug
    weeks: tuple[Week, ...]

    @property
    def mails_sent_today(self) -> int:
        return self.mails[-1].get("sent", 0) if self.mails else 0

    @property
    def polls_today(self) -> int:
        return self.polls[-1].full + self.polls[-1].not_modified if self.polls else 0

    @property
    def articles_today(self) -> int:
        return sum(self.articles[-1].values()) if self.articles else 0


@dataclass(frozen=True, slots=True)
class Dashboard(Charted):
    """The page: the series, and the counts by state now and what needs attention."""

    tallies: Tallies  # now, by state
    attention: Attention


def series(conn: Connection, now: datetime, days: Sequence[Day]) -> Charted:
    """The charts' series alone: what one chart image needs, without the page's counts."""
    per_day = articles.published_by_day(conn, now, days)
    return Charted(
        days=tuple(days),
        subscribers=tuple(subscribers.status_by_day(conn, days)),
        mails=tuple(mailqueue.outcomes_by_day(conn, days)),
        polls=tuple(readership.polls_by_day(conn, days)),
        articles=tuple(per_day),
        weeks=tuple(by_week(days, per_day)),
    )


def gather(conn: Connection, now: datetime, days: Sequence[Day]) -> Dashboard:
    drawn = series(conn, now, days)
    files, files_total = dropfiles.failed(conn, FAILED_FILES_SHOWN)
    attention = Attention(
        bounces=mailqueue.bounced_since(conn, now - BOUNCES_OVER),
        stuck_mail=mailqueue.stuck(conn, now),
        failing_jobs=tuple(jobruns.failing(conn)),
        failed_files=tuple(files),
        failed_files_total=files_total,
    )
    drawn_fields = {field.name: getattr(drawn, field.name) for field in fields(Charted)}
    return Dashboard(**drawn_fields, tallies=tallies(conn, now), attention=attention)


def by_week(days: Sequence[Day], per_day: Sequence[dict[str, int]]) -> list[Week]:
    """The days' counts summed per calendar week (Monday first, as offices here count weeks)."""
    weeks: list[Week] = []
    for day, counts in zip(days, per_day, strict=True):
        if weeks and day.day.weekday() != 0:
            summed = Counter(weeks[-1].articles)
            summed.update(counts)
            weeks[-1] = Week(weeks[-1].first, day.day, dict(summed))
        else:
            weeks.append(Week(day.day, day.day, dict(counts)))
    return weeks
