"""The one fake clock and the one way tests make articles and subscribers.

Every default is derived from the article's id, so two articles differ unless a test makes them alike
and a test can find an article's title, body or summary from its id alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from syndicator.mail import choices
from syndicator.model import Article, ArticleInput, Category, Status, Subscriber
from syndicator.store import Store

VIETNAM = timezone(timedelta(hours=7))
PUBLISHED = datetime(2021, 1, 2, 10, 0, tzinfo=VIETNAM)  # an article's publication unless a test says
SUBSCRIBED = datetime(2021, 1, 1, 0, 0, tzinfo=VIETNAM)  # a subscriber's sign-up unless a test says
ANNOUNCEMENTS = "Thông báo"
NEWEST = datetime(2021, 3, 1, 8, 50, 13, tzinfo=UTC)  # article(0), the newest: 15:50:13 in Thọ Xuân


class FakeClock:
    """The clock the code under test sees: it moves only when the test says so.

    Thread-safe, since senders and servers read it from their own threads while the test moves it.
    """

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    @property
    def now(self) -> datetime:
        with self._lock:
            return self._now

    @now.setter
    def now(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, /, **parts: float) -> datetime:
        """Move by `delta` or by timedelta's keywords (`advance(seconds=90)`); return the new time."""
        with self._lock:
            self._now += (delta or timedelta()) + timedelta(**parts)
            return self._now

    def set(self, moment: datetime) -> None:
        self.now = moment


def article_input(
    article_id: str = "a1",
    category: str = ANNOUNCEMENTS,
    published: datetime = PUBLISHED,
    **changes: Any,
) -> ArticleInput:
    """An article as an import would hand it to the store; `changes` set any other field."""
    values: dict[str, Any] = {
        "id": article_id,
        "title": f"Bài {article_id}",
        "category_name": category,
        "published_at": published,
        "body_html": f"<p>Nội dung {article_id}.</p>",
        "summary": f"Tóm tắt {article_id}.",
        "source": f"test:{article_id}",
    }
    values.update(changes)
    return ArticleInput(**values)


def article(n: int = 0, **changes: Any) -> Article:
    """The n-th article of a tidy newest-first list, as the store hands it back: article(0) is the
    newest, each next one an hour older; `changes` set any other field."""
    published = NEWEST - timedelta(hours=n)
    values: dict[str, Any] = {
        "id": f"tb-{n:03d}",
        "title": f"Thông báo số {n} về việc tổ chức hội nghị",
        "category": Category("thong-bao", ANNOUNCEMENTS),
        "published_at": published,
        "updated_at": published,
        "body_html": f"<p>Nội dung thông báo số {n}.</p><p>Đoạn thứ hai.</p>",
        "summary": f"Tóm tắt thông báo số {n}.",
        "author": "Nguyễn Văn An",
        "office": "Văn phòng HĐND - UBND huyện",
        "url": None,
        "status": Status.PUBLISHED,
        "changed_at": published,
    }
    values.update(changes)
    return Article(**values)


def article_json(
    article_id: str,
    published: datetime | str,
    *,
    category: str = ANNOUNCEMENTS,
    **changes: Any,
) -> dict[str, Any]:
    """An article as the CMS API, a JSONL file or the drop folder receives it: with a body_text
    unless `changes` give a body_html (one body, as the parser wants)."""
    values: dict[str, Any] = {
        "id": article_id,
        "title": f"Bài {article_id}",
        "category": category,
        "published_at": published if isinstance(published, str) else published.isoformat(),
    }
    if "body_html" not in changes:
        values["body_text"] = f"Nội dung {article_id}."
    values.update(changes)
    return values


def publish(
    store: Store,
    article_id: str,
    category: str,
    at: datetime,
    *,
    written_at: datetime | None = None,
    **changes: Any,
) -> None:
    """An article published at `at`, written to the store at `written_at` (default: the same time)."""
    store.write([article_input(article_id, category, at, **changes)], (written_at or at).astimezone(UTC))


def subscribe(
    store: Store,
    email: str,
    *,
    categories: str | Iterable[str] | None = None,
    frequency: str = "daily",
    name: str | None = None,
    confirmed: bool = True,
    at: datetime = SUBSCRIBED,
) -> Subscriber:
    """A subscriber added as the CLI adds one (confirmed unless a test says otherwise)."""
    person, _ = choices.add(
        store,
        email,
        at.astimezone(UTC),
        name=name,
        categories=categories,
        frequency=frequency,
        confirmed=confirmed,
    )
    return person
