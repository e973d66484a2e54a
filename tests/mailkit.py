"""Helpers shared by the tests/test_mail_*.py modules (no tests of its own beyond the helpers' checks).

Times: the daily digest of 07/01/2021 covers 06:30 on the 6th to 06:30 on the 7th (Thọ Xuân time,
UTC+7). Articles are written with `now` = their publication time, as a live import would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from syndicator.config import Settings, load_settings
from syndicator.mail.composer import MailComposer
from syndicator.mail.digests import plan_run, queue_run, window_end
from syndicator.mail.sender import Sender
from syndicator.model import DigestRun, Frequency
from syndicator.store import Store
from syndicator.store.schema import outbox
from tests.factories import FakeClock
from tests.smtp_server import Recorder

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
BASE_URL = "https://rss.thoxuan.example"
SECRET = "test-secret-key-0123456789"
RUN_AT = datetime(2021, 1, 7, 6, 30, tzinfo=TZ)  # the daily run of 07/01/2021
IN_WINDOW = datetime(2021, 1, 6, 9, 0, tzinfo=TZ)  # inside its window
THONG_BAO = "Thông báo"
TIN_TUC = "Tin tức - Sự kiện"
NONG_NGHIEP = "Nông nghiệp"


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def make_settings(database_url: str, home: Path, **overrides: Any) -> Settings:
    """Settings of a test: its own var/, a fixed secret, no officials file unless given."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "base_url": BASE_URL,
        "var_dir": home / "var",
        "articles_dir": home / "drop",
        "secret_key": SECRET,
        "digest": {"officials_file": home / "officials.toml"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return load_settings(**values)


def subscribers_with_news(store: Store, count: int, *, domain: str = "xa.test") -> list[str]:
    """`count` confirmed daily subscribers of every category, in one transaction (fast)."""
    from syndicator.model import Source, SubscriberStatus
    from syndicator.store.subscribers import save

    addresses = [f"nguoi{i:05d}@{domain}" for i in range(count)]
    with store.writing() as conn:
        for address in addresses:
            save(
                conn,
                address,
                name=None,
                categories=None,
                frequency=Frequency.DAILY,
                status=SubscriberStatus.CONFIRMED,
                source=Source.IMPORT,
                now=local(2021, 1, 1).astimezone(UTC),
            )
    return addresses


def queue_daily(store: Store, settings: Settings, at: datetime = RUN_AT) -> DigestRun:
    """Plan and queue the daily run whose window ends at or before `at`."""
    end = window_end(Frequency.DAILY, at, settings)
    run = plan_run(store, Frequency.DAILY, end, at.astimezone(UTC))
    queue_run(store, MailComposer(settings), run, at.astimezone(UTC))
    return run


def sender(store: Store, settings: Settings, clock: FakeClock, **kwargs: Any) -> Sender:
    return Sender(store, settings, clock=clock, **kwargs)


def outbox_rows(store: Store) -> list[Any]:
    with store.reading() as conn:
        return list(conn.execute(select(outbox).order_by(outbox.c.id)))


def statuses(store: Store) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in outbox_rows(store):
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


def requeue_all(store: Store) -> None:
    """Put every row back to pending, as a resend would (same rows, same ids)."""
    with store.writing() as conn:
        conn.execute(update(outbox).values(status="pending"))


@dataclass(frozen=True)
class Parts:
    text: str
    html: str


def parts(message: EmailMessage) -> Parts:
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return Parts(plain.get_content(), html.get_content())


LINK = re.compile(r"https://rss\.thoxuan\.example/(unsubscribe|preferences|confirm)/([A-Za-z0-9_\-.]+)")


def links(text: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for kind, token in LINK.findall(text):
        found.setdefault(kind, set()).add(token)
    return found


def by_recipient(recorder: Recorder) -> dict[str, list[EmailMessage]]:
    found: dict[str, list[EmailMessage]] = {}
    for received in recorder.messages():
        for recipient in received.recipients:
            found.setdefault(recipient, []).append(received.message())
    return found
