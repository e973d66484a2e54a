"""Shared by the tests of mail attempts and the console's mail and digest pages (no tests of its own): a
real site with a real SMTP server (aiosmtpd), its three accounts (an: admin, bich: editor, cuong:
viewer), and mail queued and delivered the way the service does it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from syndicator.accounts import Role
from syndicator.model import OutboxStatus
from syndicator.store import mailqueue
from tests.consolekit import make_account
from tests.smtp_server import SmtpServer, smtp_server
from tests.subscribekit import Site, running_site

ACCOUNTS = (("an", Role.ADMIN), ("bich", Role.EDITOR), ("cuong", Role.VIEWER))
REFUSED_FOR_NOW = "451 4.7.1 greylisted, try again later"


@contextmanager
def mail_site(
    database_url: str, tmp_path: Path, *, pipelining: bool = True, **overrides: Any
) -> Iterator[Site]:
    """A running site delivering to a real SMTP server, with the console's three accounts."""
    with (
        smtp_server(pipelining=pipelining) as smtp,
        running_site(database_url, tmp_path, smtp=smtp, **overrides) as site,
    ):
        for name, role in ACCOUNTS:
            make_account(site.store, name, role, site.clock())
        yield site


def smtp_of(site: Site) -> SmtpServer:
    assert site.smtp is not None
    return site.smtp


def later(site: Site) -> None:
    """The clock past any retry's wait."""
    site.clock.advance(timedelta(seconds=site.settings.mail.retry_max_seconds + 1))


def mail_of(site: Site, email: str) -> mailqueue.Mail:
    """The latest mail to this address."""
    with site.store.reading() as conn:
        found, _ = mailqueue.mails(conn, mailqueue.Filter(address=email), limit=10)
    assert found, email
    return found[0]


def attempts(site: Site, outbox_id: int) -> list[mailqueue.Attempt]:
    with site.store.reading() as conn:
        return mailqueue.attempts_of(conn, outbox_id)


def status(site: Site, outbox_id: int) -> OutboxStatus:
    with site.store.reading() as conn:
        found = mailqueue.mail(conn, outbox_id)
    assert found is not None
    return found.status


# words of the mail and digest pages: none may be left on a page asked for in English
VIETNAMESE_WORDS = (
    "Trạng thái",
    "Người nhận",
    "Loại thư",
    "Lượt gửi",
    "Các lần gửi",
    "Gửi lại ngay",
    "Hủy thư",
    "Bản tin định kỳ",
    "Đang chờ",
    "Đã gửi",
    "thư bị kẹt",
    "Xem trước",
    "Xem như",
    "Hằng ngày",
    "Trở lại",
    "bài viết",
    "Nội dung",
)


def vietnamese_left(html: str) -> list[str]:
    return [word for word in VIETNAMESE_WORDS if word in html]
