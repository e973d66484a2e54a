"""Plain frozen values that cross layers. No ORM rows, no framework types."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import TypeVar

from syndicator.text import category_name, category_slug

ARTICLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class Status(StrEnum):
    """What the office decided. Whether a published article is visible yet depends on the clock."""

    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class Visibility(StrEnum):
    PUBLISHED = "published"
    SCHEDULED = "scheduled"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Category:
    slug: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Written:
    """What the office wrote of an article, alike as a source states it (ArticleInput) and as the
    store keeps it (Article)."""

    body_html: str
    summary: str = ""
    author: str | None = None
    office: str | None = None
    url: str | None = None
    status: Status = Status.PUBLISHED


@dataclass(frozen=True, slots=True)
class ArticleInput(Written):
    """An article as a source (export, JSON line, API call) states it; the store adds the rest."""

    id: str
    title: str
    category_name: str
    published_at: datetime  # aware
    updated_at: datetime | None = None  # only when the source knows its own edit time
    source: str = ""

    def __post_init__(self) -> None:
        if self.published_at.tzinfo is None:
            raise ValueError("published_at must carry a time zone")
        object.__setattr__(self, "category_name", category_name(self.category_name))

    @property
    def category_slug(self) -> str:
        return category_slug(self.category_name)

    def content_hash(self) -> str:
        """Fingerprint of what readers see: the same content imported again changes nothing."""
        payload = [
            self.title,
            self.category_slug,
            self.category_name,
            self.published_at.timestamp(),
            self.body_html,
            self.summary,
            self.author,
            self.office,
            self.url,
            str(self.status),
            self.updated_at.timestamp() if self.updated_at else None,
        ]
        encoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return hashlib.sha256(encoded).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Article(Written):
    id: str
    title: str
    category: Category
    published_at: datetime  # aware, UTC
    updated_at: datetime  # aware, UTC: the last real content change
    changed_at: datetime = field(compare=False)  # when the store row last changed, for watchers
    available_at: datetime | None = field(default=None, compare=False)  # when readers first could see it

    def visibility(self, now: datetime) -> Visibility:
        if self.status is Status.WITHDRAWN:
            return Visibility.WITHDRAWN
        return Visibility.SCHEDULED if self.published_at > now else Visibility.PUBLISHED

    @property
    def byline(self) -> str | None:
        parts = [p for p in (self.author, self.office) if p]
        return ", ".join(parts) or None


def with_display_names(article: Article, names: Mapping[str, str]) -> Article:
    """The article with its category shown under the name the office configured for that slug."""
    name = names.get(article.category.slug)
    if name is None or name == article.category.name:
        return article
    return replace(article, category=Category(article.category.slug, name))


@dataclass(frozen=True, slots=True)
class CategoryCount:
    category: Category
    visible: int


def reading_key(category: Category, shown: str | None = None) -> tuple[str, str, str]:
    """Where a category stands in a list a person reads: by the name shown (`shown`, by default its
    name), its letters first without case or diacritics ("Đô thị" among the d's), then the name itself
    so that diacritics decide between names otherwise equal; the slug last keeps two equal names in one
    order. Not the slug alone: a `[categories]` entry may show a slug under a name that begins with
    another letter."""
    name = category.name if shown is None else shown
    return category_slug(name), name, category.slug


_Listed = TypeVar("_Listed", Category, CategoryCount)


def reading_order(items: Iterable[_Listed]) -> list[_Listed]:
    """Categories, or their counts, in the order of reading_key: every list of them a person reads."""
    return sorted(items, key=lambda item: reading_key(item if isinstance(item, Category) else item.category))


class WriteOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class Frequency(StrEnum):
    IMMEDIATE = "immediate"
    DAILY = "daily"
    WEEKLY = "weekly"


class SubscriberStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"


class Source(StrEnum):
    CONFIG = "config"
    CLI = "cli"
    IMPORT = "import"
    WEB = "web"


ALL_CATEGORIES = "*"


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    email: str
    name: str | None
    status: SubscriberStatus
    source: Source
    categories: frozenset[str] | None  # None: every category
    frequency: Frequency
    hard_bounces: int
    created_at: datetime
    confirmed_at: datetime | None = None
    confirmed_ip: str | None = None
    unsubscribed_at: datetime | None = None
    language: str = "vi"  # the catalogue their mail is written in (i18n.LANGUAGES)

    def wants(self, category_slug: str) -> bool:
        return self.categories is None or category_slug in self.categories


@dataclass(frozen=True, slots=True)
class DropFile:
    """A drop-folder file as last read: what decides whether it changed, and what it brought."""

    path: str  # relative to the drop folder
    mtime_ns: int
    size: int
    article_ids: tuple[str, ...]
    error: str | None


@dataclass(frozen=True, slots=True)
class OwnChoice:
    """What a resident chose themselves for an address the office lists (kept apart until unlisted)."""

    categories: frozenset[str] | None
    frequency: Frequency
    subscribed: bool  # False: the address is the office's alone, or its own subscription had ended


class DigestRunStatus(StrEnum):
    QUEUING = "queuing"  # made: its mails are being queued (a run interrupted here is completed later)
    QUEUED = "queued"  # every mail of the run is in the outbox


@dataclass(frozen=True, slots=True)
class DigestRun:
    id: int
    frequency: Frequency
    window_start: datetime
    window_end: datetime
    status: DigestRunStatus
    mails: int


class OutboxStatus(StrEnum):
    """Where a mail stands in the outbox (store/mailqueue.py)."""

    PENDING = "pending"  # due at its next attempt: queued, or back after a retry, release or recovery
    SENDING = "sending"  # claimed by a sender under a lease
    SENT = "sent"
    FAILED = "failed"  # given up after the last attempt, or refused for good
    CANCELLED = "cancelled"  # its subscriber left or bounced before it went


class OutboxKind(StrEnum):
    DIGEST = "digest"
    IMMEDIATE = "immediate"  # one article, as soon as it appears
    CONFIRM = "confirm"  # the request to confirm a subscription: goes whatever the subscriber's status


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A mail to queue: to whom, of which kind, on which shared body. One per subscriber and run,
    article or token: an entry queued again is kept as it was."""

    subscriber_id: int
    kind: OutboxKind
    body_id: int
    run_id: int | None = None  # a digest's run
    article_id: str | None = None  # an immediate mail's article
    token: str | None = None  # a confirmation's token
    parts: tuple[str, ...] | None = None  # a digest's categories (slugs of its parts), in order


@dataclass(frozen=True, slots=True)
class Day:
    """One day of the site's calendar as the half-open UTC interval [start, end): what the console's
    daily series are counted over (a day in Hanoi starts at 17:00 UTC the day before)."""

    day: date
    start: datetime
    end: datetime
