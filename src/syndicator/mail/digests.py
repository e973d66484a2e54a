"""Digest runs and immediate announcements: who gets which mail, queued exactly once.

A digest run is identified by (frequency, window end): daily at `digest.daily_at`, weekly on
`digest.weekly_on` at the same time, in the site's time zone. Its window starts where the previous
run of that frequency ended (the first run: a day or a week before). Creating the run row is the
claim: whichever instance or command inserts it owns it; queueing is idempotent, so a run
interrupted half-way is completed by the next attempt and nobody gets two.

Mail is written in each recipient's language (`Subscriber.language`), and rendered once per language
its recipients read, never per subscriber: a run's frame and parts, an article's announcement.

A run is made only for a window that has ended (`plan_run` refuses any other, for the scheduler and
`digest send` alike): a run is made once, so one made early would read its window's news before the
window was over, and what arrived in the rest of it would go out in no digest at all.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from syndicator.config import Settings
from syndicator.i18n import N_
from syndicator.mail.composer import MailComposer
from syndicator.mail.mime import Content, encode_part
from syndicator.mail.render import category_order
from syndicator.model import (
    Article,
    DigestRun,
    DigestRunStatus,
    Frequency,
    OutboxEntry,
    OutboxKind,
    Subscriber,
    with_display_names,
)
from syndicator.store import Store, digestruns, jobstate, mailqueue
from syndicator.store.subscribers import recipients
from syndicator.text import counted

log = logging.getLogger(__name__)

PERIOD = {Frequency.DAILY: timedelta(days=1), Frequency.WEEKLY: timedelta(days=7)}
IMMEDIATE_CURSOR = "immediate.cursor"
# Rows committed late may carry an available_at just before the cursor: look back, duplicates are
# impossible anyway (one row per subscriber and article).
IMMEDIATE_LOOKBACK = timedelta(minutes=10)
# the names of the lists (List-Id), in the language of each mail; their identifiers stay these msgids'
DIGEST_LIST = N_("Bản tin")
NEWS_LIST = N_("Tin mới")


def window_end(frequency: Frequency, at: datetime, settings: Settings) -> datetime:
    """The latest scheduled run time at or before `at` (aware, UTC)."""
    tz: ZoneInfo = settings.tz
    hour, minute = (int(part) for part in settings.digest.daily_at.split(":"))
    local = at.astimezone(tz)
    day = local.date()
    if frequency is Frequency.WEEKLY:
        day -= timedelta(days=(local.weekday() - settings.digest.weekday) % 7)
    candidate = datetime.combine(day, time(hour, minute), tzinfo=tz)
    if candidate > local:
        candidate = datetime.combine(day - PERIOD[frequency], time(hour, minute), tzinfo=tz)
    return candidate.astimezone(ZoneInfo("UTC"))


def window_start(conn: Connection, frequency: Frequency, end: datetime) -> datetime:
    """Where the previous run of this frequency ended; the first run looks one period back."""
    return digestruns.previous_end(conn, frequency, end) or end - PERIOD[frequency]


class WindowNotEnded(ValueError):
    """A run was asked for a window still open at `now`."""

    def __init__(self, frequency: Frequency, end: datetime, now: datetime) -> None:
        super().__init__(
            f"the {frequency.value} window ending {end.isoformat()} is still open at {now.isoformat()}"
        )
        self.frequency = frequency
        self.end = end


def window_ended(end: datetime, now: datetime) -> bool:
    return end <= now


def plan_run(store: Store, frequency: Frequency, end: datetime, now: datetime) -> DigestRun:
    """The run of this window, created if it does not exist yet (unique per frequency and end).

    WindowNotEnded if the window is still open: its news is not known yet (see the module's text)."""
    if not window_ended(end, now):
        raise WindowNotEnded(frequency, end, now)
    with store.writing() as conn:
        existing = digestruns.find(conn, frequency, end)
        if existing is not None:
            return existing
        return digestruns.create(conn, frequency, window_start(conn, frequency, end), end, now)


@dataclass(frozen=True, slots=True)
class QueueReport:
    run: DigestRun
    articles: int
    queued: int
    bodies: int


class _RunMail:
    """One run's frame and parts per language, rendered and stored the first time a recipient who
    reads that language comes up: once per language, never per subscriber."""

    def __init__(
        self,
        store: Store,
        composer: MailComposer,
        run: DigestRun,
        by_category: dict[str, list[Article]],
        now: datetime,
    ) -> None:
        self.store = store
        self.composer = composer
        self.run = run
        self.by_category = by_category
        self.now = now
        self.bodies: dict[str, tuple[int, list[str]]] = {}  # language -> (frame id, slugs in order)

    def frame(self, lang: str) -> tuple[int, list[str]]:
        found = self.bodies.get(lang)
        if found is None:
            found = self.bodies[lang] = self._render(lang)
        return found

    def _render(self, lang: str) -> tuple[int, list[str]]:
        renderer = self.composer.renderer
        run = self.run
        order = category_order(self.by_category, lambda c: renderer.category_name(c, lang))
        frame = renderer.digest_frame(run.frequency, run.window_start, run.window_end, lang)
        mime = self.composer.template(
            frame.subject,
            frame.text,
            frame.html,
            list_what=DIGEST_LIST,
            lang=lang,
            subject_per_recipient=True,
        )
        parts: dict[str, mailqueue.Part] = {}
        for slug in order:
            text, html = renderer.digest_part(self.by_category[slug], lang)
            parts[slug] = mailqueue.Part(len(self.by_category[slug]), encode_part(text), encode_part(html))
        with self.store.writing() as conn:
            key = f"digest:{run.id}:{lang}"
            frame_id = mailqueue.body_id(conn, key, frame.subject, mime, self.now, language=lang)
            mailqueue.store_parts(conn, frame_id, parts)
        return frame_id, order


def queue_run(
    store: Store,
    composer: MailComposer,
    run: DigestRun,
    now: datetime,
    *,
    progress: Callable[[int], None] = lambda n: None,
) -> QueueReport:
    """Queue one digest per subscriber with news in their categories. Idempotent.

    The run is rendered once per language its recipients read: a frame and one part per category
    with news. Each outbox row names its language's frame and the parts its recipient chose; the
    sender joins them. Nothing is rendered per subscriber.
    """
    if run.status is DigestRunStatus.QUEUED:
        return QueueReport(run, 0, 0, 0)
    with store.reading() as conn:
        news = digestruns.news(conn, run.window_start, run.window_end)
    news = [_display(a, composer.settings) for a in news]
    by_category: dict[str, list[Article]] = defaultdict(list)
    for article in news:
        by_category[article.category.slug].append(article)

    queued = 0
    mail = _RunMail(store, composer, run, by_category, now)
    if by_category:
        batch: list[OutboxEntry] = []

        def flush() -> None:
            nonlocal queued
            if batch:
                with store.writing() as conn:
                    queued += mailqueue.enqueue(conn, batch, now)
                progress(len(batch))
                batch.clear()

        # streamed: memory does not grow with the number of subscribers
        with store.reading() as reading:
            for subscriber in recipients(reading, run.frequency):
                if not any(subscriber.wants(slug) for slug in by_category):
                    continue  # nothing new in their categories: no mail at all
                frame_id, order = mail.frame(subscriber.language)
                wanted = tuple(slug for slug in order if subscriber.wants(slug))
                batch.append(
                    OutboxEntry(subscriber.id, OutboxKind.DIGEST, frame_id, run_id=run.id, parts=wanted)
                )
                if len(batch) >= 2000:
                    flush()
        flush()
    with store.writing() as conn:
        digestruns.mark_queued(conn, run.id, queued, now)
    log.info(
        "%s digest %s: %s",
        run.frequency.value,
        run.window_end.isoformat(),
        _queued_line(len(news), len(by_category), queued, sorted(mail.bodies)),
    )
    bodies = len(mail.bodies) * (len(by_category) + 1)
    return QueueReport(run, len(news), queued, bodies)


def _queued_line(articles: int, categories: int, queued: int, languages: list[str]) -> str:
    """What a digest run queued, for the log: "2 new articles in 1 category, 3 mails queued (in en, vi)";
    "no new articles, no mail queued"; news nobody subscribed to: "..., no mail queued"."""
    if not articles:
        return "no new articles, no mail queued"
    news = f"{counted(articles, 'new article')} in {counted(categories, 'category', 'categories')}"
    if not queued:
        return f"{news}, no mail queued"
    return f"{news}, {counted(queued, 'mail')} queued (in {', '.join(languages)})"


def due_runs(store: Store, settings: Settings, now: datetime) -> list[tuple[Frequency, datetime]]:
    """The latest window end of each frequency that has no queued run yet (what a tick should do).

    Runs missed while the service was down are not replayed one by one: the next run's window
    starts where the last one ended, so it covers them, and is made once.
    """
    due = []
    with store.reading() as conn:
        for frequency in (Frequency.DAILY, Frequency.WEEKLY):
            end = window_end(frequency, now, settings)
            run = digestruns.find(conn, frequency, end)
            if run is None or run.status is not DigestRunStatus.QUEUED:
                due.append((frequency, end))
    return due


def queue_immediate(store: Store, composer: MailComposer, now: datetime) -> int:
    """One mail per new article to each `immediate` subscriber of its category."""
    with store.reading() as conn:
        cursor_text = jobstate.get_state(conn, IMMEDIATE_CURSOR)
    if cursor_text is None:
        # the first look starts now: subscribing must not bring the whole archive
        with store.writing() as conn:
            jobstate.set_state(conn, IMMEDIATE_CURSOR, now.isoformat(), now)
        return 0
    since = datetime.fromisoformat(cursor_text) - IMMEDIATE_LOOKBACK
    with store.reading() as conn:
        news = [
            _display(a, composer.settings)
            for a in digestruns.news(conn, since, now)
            if a.published_at > since - PERIOD[Frequency.DAILY]
        ]
        people = list(recipients(conn, Frequency.IMMEDIATE)) if news else []
    queued = 0
    announced = 0  # articles mailed now (the look back reads again some that were mailed before)
    for article in news:
        wanted = [s for s in people if s.wants(article.category.slug) and _subscribed_before(s, article)]
        by_language: dict[str, list[Subscriber]] = defaultdict(list)
        for person in wanted:
            by_language[person.language].append(person)
        before = queued
        for lang, readers in sorted(by_language.items()):  # rendered once per language
            queued += _queue_article(store, composer, article, lang, readers, now)
        announced += queued > before
    with store.writing() as conn:
        jobstate.set_state(conn, IMMEDIATE_CURSOR, now.isoformat(), now)
    if queued:
        log.info("immediate: %s queued for %s", counted(queued, "mail"), counted(announced, "new article"))
    return queued


def _queue_article(
    store: Store,
    composer: MailComposer,
    article: Article,
    lang: str,
    readers: list[Subscriber],
    now: datetime,
) -> int:
    content = composer.renderer.article(article, lang)
    mime = composer.template(content.subject, content.text, content.html, list_what=NEWS_LIST, lang=lang)
    with store.writing() as conn:
        key = f"article:{article.id}:{lang}"
        body = mailqueue.body_id(conn, key, content.subject, mime, now, language=lang)
        return mailqueue.enqueue(
            conn,
            [OutboxEntry(s.id, OutboxKind.IMMEDIATE, body, article_id=article.id) for s in readers],
            now,
        )


def _subscribed_before(subscriber: Subscriber, article: Article) -> bool:
    # someone who subscribes after an article appeared is not sent it as news
    since = subscriber.confirmed_at or subscriber.created_at
    return since <= (article.available_at or article.published_at)


def _display(article: Article, settings: Settings) -> Article:
    return with_display_names(article, settings.categories)


def preview(
    store: Store,
    composer: MailComposer,
    frequency: Frequency,
    end: datetime,
    subscriber: Subscriber | None,
    lang: str | None = None,
) -> tuple[str, str, int] | None:
    """(subject, html, articles) of the digest that run would send, without queueing anything.

    A window still open shows its news so far (what has become visible up to now, and what is
    scheduled to appear before its end)."""
    with store.reading() as conn:
        start = window_start(conn, frequency, end)
        news = digestruns.news(conn, start, end)
    shown = _language(composer, subscriber, lang)
    return _preview(
        composer,
        lambda: composer.renderer.digest_frame(frequency, start, end, shown),
        news,
        subscriber,
        shown,
    )


def preview_since(
    store: Store,
    composer: MailComposer,
    since: datetime,
    now: datetime,
    subscriber: Subscriber | None,
    lang: str | None = None,
) -> tuple[str, str, int] | None:
    """(subject, html, articles) of one digest of every visible article published since `since`.

    No run would send it (an archive is no news, see digestruns.news): it shows what digests look
    like with the articles at hand, rendered as a run renders them, under a heading that says what it
    holds (no day or week: it is no run's window). It queues and records nothing."""
    with store.reading() as conn:
        found = digestruns.published_since(conn, since, now)
    shown = _language(composer, subscriber, lang)
    return _preview(composer, lambda: composer.renderer.since_frame(since, shown), found, subscriber, shown)


def _language(composer: MailComposer, subscriber: Subscriber | None, lang: str | None) -> str:
    """A preview's language: the one asked for, else the subscriber's, else the site's."""
    return composer.renderer.language(lang if lang is not None or subscriber is None else subscriber.language)


def _preview(
    composer: MailComposer,
    frame: Callable[[], Content],
    articles: list[Article],
    subscriber: Subscriber | None,
    lang: str,
) -> tuple[str, str, int] | None:
    shown = [
        _display(a, composer.settings)
        for a in articles
        if subscriber is None or subscriber.wants(a.category.slug)
    ]
    if not shown:
        return None
    content = composer.renderer.filled(frame(), shown, lang)
    return content.subject, content.html, len(shown)


def queue_window(
    store: Store,
    composer: MailComposer,
    frequency: Frequency,
    end: datetime,
    now: datetime,
    *,
    progress: Callable[[int], None] = lambda n: None,
) -> QueueReport:
    """Plan and queue the run of the window ending at `end`: the one path of the scheduler's tick
    (`run_due`) and `digest send` (mail/sendrun.py). A run already queued queues nothing more."""
    return queue_run(store, composer, plan_run(store, frequency, end, now), now, progress=progress)


def run_due(store: Store, composer: MailComposer, now: datetime) -> list[QueueReport]:
    """Plan and queue every digest run that is due (the scheduler's tick)."""
    return [queue_window(store, composer, f, end, now) for f, end in due_runs(store, composer.settings, now)]
