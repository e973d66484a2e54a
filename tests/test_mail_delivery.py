"""Delivery to a real SMTP server (aiosmtpd, tests/smtp_server.py): what arrives, how often, and what
happens when the server says no, hangs up or is slow. Only the clock is fake (FakeClock); SMTP is real.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from sqlalchemy import select, update

from syndicator import tokens
from syndicator.config import Settings
from syndicator.mail import choices
from syndicator.mail import sender as sender_module
from syndicator.mail.linktokens import email_check, subscriber_from_token, subscriber_token
from syndicator.mail.sender import RateLimit, Sender, SendReport
from syndicator.mail.transport import (
    MaildirTransport,
    SmtpTransport,
    TemporaryFailure,
    Transport,
)
from syndicator.model import Subscriber
from syndicator.smtpurl import SmtpAddress
from syndicator.store import Store
from syndicator.store.schema import subscribers
from tests.factories import FakeClock, publish, subscribe
from tests.mailkit import (
    BASE_URL,
    IN_WINDOW,
    NONG_NGHIEP,
    RUN_AT,
    SECRET,
    THONG_BAO,
    TIN_TUC,
    by_recipient,
    links,
    local,
    make_settings,
    outbox_rows,
    parts,
    queue_daily,
    requeue_all,
    statuses,
    subscribers_with_news,
)
from tests.smtp_server import DROP, STALL, Fault, SmtpServer, smtp_server


@pytest.fixture(params=["pipelining", "plain"])
def smtp(request: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    """Each test twice: against a server offering PIPELINING (one round trip per mail), and one not."""
    with smtp_server(pipelining=request.param == "pipelining") as server:
        yield server


def open_store(settings: Settings) -> Store:
    return Store.open(settings.database_url, settings.categories)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The test's folder: its var/ (maildir, secret), its SQLite file."""
    return tmp_path


# --- what a digest looks like when it arrives -------------------------------------------------------


def _news(store: Store) -> None:
    publish(store, "tb-1", THONG_BAO, IN_WINDOW, title="Thông báo lịch tiếp công dân tháng 1/2021")
    publish(store, "tt-1", TIN_TUC, IN_WINDOW + timedelta(hours=1), title="Hội nghị tổng kết năm 2020")
    publish(store, "nn-1", NONG_NGHIEP, IN_WINDOW + timedelta(hours=2), title="Gieo cấy lúa vụ Xuân")
    publish(store, "old-1", TIN_TUC, local(2021, 1, 5, 9))  # before the window
    publish(store, "later-1", THONG_BAO, local(2021, 1, 7, 8), written_at=IN_WINDOW)  # scheduled past the end


def test_a_digest_as_received(database_url: str, home: Path, smtp: SmtpServer) -> None:
    """Headers, both parts, grouping, Vietnamese dates, links with valid tokens; who gets one at all."""
    settings = make_settings(database_url, home, smtp_url=smtp.url)
    store = open_store(settings)
    try:
        _news(store)
        an = subscribe(store, "An@Example.VN", name="Nguyễn Văn An")
        binh = subscribe(store, "binh@xa.test", categories="Tin tức - Sự kiện,thong-bao")
        subscribe(store, "chi@xa.test", categories="Văn hóa")  # nothing new there: no mail at all
        subscribe(store, "dung@xa.test", confirmed=False)  # never confirmed
        subscribe(store, "em@xa.test", frequency="weekly")  # not a daily subscriber
        gia = subscribe(store, "gia@xa.test")
        choices.unsubscribe(store, gia.id, local(2021, 1, 2).astimezone(UTC))
        queue_daily(store, settings)
        report = Sender(store, settings, clock=FakeClock(RUN_AT)).deliver()
        assert (report.sent, report.failed, report.retried) == (2, 0, 0)
        assert statuses(store) == {"sent": 2}
    finally:
        store.close()

    received = by_recipient(smtp.recorder)
    assert set(received) == {"An@example.vn", "binh@xa.test"}
    assert all(len(m) == 1 for m in received.values())
    assert {r.mail_from for r in smtp.recorder.messages()} == {"bantin@thoxuan.thanhhoa.gov.vn"}

    message = received["An@example.vn"][0]
    (raw,) = [r.data for r in smtp.recorder.messages() if r.recipients == ("An@example.vn",)]
    unsubscribe_token = _check_digest_headers(message, raw, an)
    _check_digest_body(message, an, unsubscribe_token)

    other = received["binh@xa.test"][0]
    assert other["Subject"] == "Bản tin Cổng TTĐT huyện Thọ Xuân ngày 07/01/2021: 2 tin mới"
    other_body = parts(other)
    assert "Gieo cấy" not in other_body.text and "Gieo cấy" not in other_body.html
    assert (
        subscriber_from_token(SECRET, "unsubscribe", links(other_body.text)["unsubscribe"].pop())[0]
        == binh.id
    )
    assert other["Message-ID"] != message["Message-ID"]


def _check_digest_headers(message: EmailMessage, raw: bytes, an: Subscriber) -> str:
    """An's digest on the wire and its headers; the token of its List-Unsubscribe link."""
    _check_wire_format(raw)
    assert message.defects == []
    assert message["Subject"] == "Bản tin Cổng TTĐT huyện Thọ Xuân ngày 07/01/2021: 3 tin mới"
    assert re.search(rb"^Subject: =\?utf-8\?[bq]\?", raw, re.M | re.I)  # RFC 2047 on the wire
    assert parseaddr(message["From"]) == ("Cổng TTĐT huyện Thọ Xuân", "bantin@thoxuan.thanhhoa.gov.vn")
    assert parseaddr(message["To"]) == ("Nguyễn Văn An", "An@example.vn")
    assert parsedate_to_datetime(message["Date"]) == RUN_AT
    assert re.fullmatch(r"<\d+\.[0-9a-f]{12}@rss\.thoxuan\.example>", message["Message-ID"])
    assert message["List-Id"] == "Bản tin Cổng TTĐT huyện Thọ Xuân <ban-tin.rss.thoxuan.example>"
    # RFC 2919: the identifier stays literal (only the phrase is encoded), or filters cannot match it
    assert re.search(rb"^List-Id: .*\r\n? ?<ban-tin\.rss\.thoxuan\.example>\r\n", raw, re.M)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header_link = re.fullmatch(
        rf"<{re.escape(BASE_URL)}/unsubscribe/([\w\-.]+)>", message["List-Unsubscribe"]
    )
    assert header_link is not None
    assert subscriber_from_token(SECRET, "unsubscribe", header_link[1]) == (an.id, email_check(an.email))
    return header_link[1]


def _check_digest_body(message: EmailMessage, an: Subscriber, unsubscribe_token: str) -> None:
    """An's digest body: both parts, the links with their tokens, grouping, dates, phone-ready HTML."""
    body = parts(message)
    # plain first, HTML last: the last alternative is the preferred one (RFC 2046)
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert f"<title>{message['Subject']}</title>" in body.html  # the count filled in the title too
    for text in (body.text, body.html):
        found = links(text)
        assert found["unsubscribe"] == {unsubscribe_token}
        (preferences,) = found["preferences"]
        assert subscriber_from_token(SECRET, "preferences", preferences) == (an.id, email_check(an.email))
        with pytest.raises(tokens.BadToken):  # one purpose each
            subscriber_from_token(SECRET, "unsubscribe", preferences)
        for article_id in ("tb-1", "tt-1", "nn-1"):
            assert f"{BASE_URL}/a/{article_id}" in text
        assert "old-1" not in text and "later-1" not in text
        assert "Tóm tắt tb-1." in text
        # grouped by category, Thông báo first
        assert text.index("Thông báo lịch tiếp") < text.index("Gieo cấy") < text.index("Hội nghị tổng kết")
    assert "09:00, Thứ Tư 06/01/2021" in body.text  # babel, Vietnamese, the site's time zone
    assert "== THÔNG BÁO ==" in body.text
    assert "từ 06:30, Thứ Tư 06/01/2021 đến 06:30, Thứ Năm 07/01/2021" in body.text  # one style (dates.py)
    # HTML readable on a phone: viewport, a narrow column, CSS inlined (mail clients drop <style>)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in body.html
    assert "<style" not in body.html
    assert re.search(r'<div class="wrap" style="[^"]*max-width: 600px', body.html)
    assert re.search(r'<h2 style="[^"]*color: #a4161a', body.html)
    assert '<html lang="vi">' in body.html


def _check_wire_format(raw: bytes) -> None:
    """7-bit clean, CRLF only, no line over 998 octets, headers folded under 78 where we fold them."""
    raw.decode("ascii")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    for line in head:
        if line.startswith((b"Subject:", b"List-Id:", b" ")):
            assert len(line) <= 78, line


def test_a_resend_keeps_the_message_id(home: Path, smtp: SmtpServer) -> None:
    settings = make_settings(f"sqlite:///{home / 's.db'}", home, smtp_url=smtp.url)
    store = open_store(settings)
    try:
        publish(store, "tb-1", THONG_BAO, IN_WINDOW)
        for address in ("a@xa.test", "b@xa.test"):
            subscribe(store, address)
        queue_daily(store, settings)
        clock = FakeClock(RUN_AT)
        Sender(store, settings, clock=clock).deliver()
        requeue_all(store)  # as after a crash: the same rows go again
        clock.advance(minutes=7)
        Sender(store, settings, clock=clock).deliver()
    finally:
        store.close()
    received = by_recipient(smtp.recorder)
    for copies in received.values():
        first, again = copies
        assert first["Message-ID"] == again["Message-ID"]
        assert parsedate_to_datetime(again["Date"]) - parsedate_to_datetime(first["Date"]) == timedelta(
            minutes=7
        )
    assert received["a@xa.test"][0]["Message-ID"] != received["b@xa.test"][0]["Message-ID"]


# --- connections ---------------------------------------------------------------------------------------


def _deliver_news(home: Path, smtp: SmtpServer, count: int, **mail: object) -> tuple[SendReport, list[Any]]:
    """A daily run with news for `count` subscribers, delivered once: the report and the outbox rows."""
    settings = make_settings(f"sqlite:///{home / 's.db'}", home, smtp_url=smtp.url, mail=mail)
    store = open_store(settings)
    try:
        publish(store, "tb-1", THONG_BAO, IN_WINDOW)
        subscribers_with_news(store, count)
        queue_daily(store, settings)
        return Sender(store, settings, clock=FakeClock(RUN_AT)).deliver(), outbox_rows(store)
    finally:
        store.close()


def test_connections_are_reused(home: Path, smtp: SmtpServer) -> None:
    """60 mails over at most `mail.connections` connections, each carrying many."""
    report, _ = _deliver_news(home, smtp, 60, connections=2)
    assert report.sent == 60
    assert len(smtp.recorder.messages()) == 60
    assert 1 <= smtp.recorder.connections <= 2
    per_connection = {r.connection for r in smtp.recorder.messages()}
    assert len(per_connection) == smtp.recorder.connections


def test_parallel_senders_never_send_a_row_twice(database_url: str, home: Path) -> None:
    """Three senders (as three instances would), four connections each, one queue: each mail once."""
    with smtp_server(data_delay=0.002) as smtp:
        settings = make_settings(database_url, home, smtp_url=smtp.url, mail={"connections": 4})
        store = open_store(settings)
        try:
            publish(store, "tb-1", THONG_BAO, IN_WINDOW)
            addresses = subscribers_with_news(store, 240)
            queue_daily(store, settings)
            clock = FakeClock(RUN_AT)
            senders = [Sender(store, settings, clock=clock) for _ in range(3)]
            reports = []
            start = threading.Barrier(len(senders))

            def run(sender: Sender) -> None:
                start.wait()
                reports.append(sender.deliver())

            threads = [threading.Thread(target=run, args=(s,)) for s in senders]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert statuses(store) == {"sent": 240}
        finally:
            store.close()
        counts = smtp.recorder.per_recipient()
        assert sorted(counts) == sorted(addresses)
        assert set(counts.values()) == {1}
        assert sum(r.sent for r in reports) == 240
        assert sum(1 for r in reports if r.sent) >= 2  # they really ran side by side


def test_many_connections_do_not_run_out_of_database_connections(database_url: str, home: Path) -> None:
    """Each sender thread keeps a database connection: `mail.connections` up to its maximum must not
    wait on (or time out of) the connection pool."""
    with smtp_server() as smtp:
        settings = make_settings(database_url, home, smtp_url=smtp.url, mail={"connections": 24})
        store = open_store(settings)
        try:
            publish(store, "tb-1", THONG_BAO, IN_WINDOW)
            subscribers_with_news(store, 24 * 50)  # a claim for each thread: all hold a connection at once
            queue_daily(store, settings)
            report = Sender(store, settings, clock=FakeClock(RUN_AT)).deliver()
            assert statuses(store) == {"sent": 1200}
        finally:
            store.close()
    assert report.sent == 1200
    # SQLAlchemy's default pool (15) would have let no more than 15 threads send at once
    assert smtp.recorder.connections > 15


# --- temporary failures: retried with exponential backoff ---------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault("RCPT", "451 4.7.1 greylisted, try again later", "x@xa.test", times=3),
        Fault("RCPT", "421 4.3.2 closing, too busy", "x@xa.test", times=3),
        Fault("DATA", "452 4.3.1 insufficient storage", "x@xa.test", times=3),
        Fault("DATA", DROP, "x@xa.test", times=3),
    ],
    ids=["451-rcpt", "421-rcpt", "452-data", "dropped-in-data"],
)
def test_temporary_failures_are_retried_with_backoff(home: Path, smtp: SmtpServer, fault: Fault) -> None:
    settings = make_settings(
        f"sqlite:///{home / 's.db'}",
        home,
        smtp_url=smtp.url,
        mail={"connections": 1, "retry_base_seconds": 60, "max_attempts": 5},
    )
    smtp.recorder.faults.append(dataclasses.replace(fault))  # a fresh count: the parameter is shared
    store = open_store(settings)
    clock = FakeClock(RUN_AT)
    try:
        publish(store, "tb-1", THONG_BAO, IN_WINDOW)
        for address in ("a@xa.test", "x@xa.test", "z@xa.test"):
            subscribe(store, address)
        queue_daily(store, settings)
        sender = Sender(store, settings, clock=clock)

        def row_of_x() -> Any:
            return next(r for r in outbox_rows(store) if r.subscriber_id == 2)

        report = sender.deliver()
        assert (report.sent, report.retried, report.failed) == (2, 1, 0)  # the others went through
        delays = []
        for attempt in (1, 2, 3):
            row = row_of_x()
            assert (row.status, row.attempts) == ("pending", attempt)
            assert fault.reply.split()[0] in row.last_error or fault.reply == DROP
            delays.append((row.next_attempt_at - clock()).total_seconds())
            assert sender.deliver().sent == 0  # not due yet: nothing is tried
            clock.set(row.next_attempt_at)
            report = sender.deliver()
        assert delays == [60, 120, 240]
        assert (report.sent, report.retried) == (1, 0)
        row = row_of_x()
        assert (row.status, row.attempts, row.last_error) == ("sent", 4, None)
    finally:
        store.close()
    assert smtp.recorder.per_recipient() == {"a@xa.test": 1, "x@xa.test": 1, "z@xa.test": 1}
    assert len(smtp.recorder.refused) == 3


def test_a_timeout_is_retried(home: Path, smtp: SmtpServer) -> None:
    settings = make_settings(
        f"sqlite:///{home / 's.db'}", home, smtp_url=smtp.url, mail={"timeout": 0.5, "retry_base_seconds": 30}
    )
    smtp.recorder.faults.append(Fault("DATA", STALL, "x@xa.test"))
    store = open_store(settings)
    clock = FakeClock(RUN_AT)
    try:
        publish(store, "tb-1", THONG_BAO, IN_WINDOW)
        subscribe(store, "x@xa.test")
        queue_daily(store, settings)
        sender = Sender(store, settings, clock=clock)
        assert sender.deliver().retried == 1
        (row,) = outbox_rows(store)
        assert row.status == "pending" and "timed out" in row.last_error.lower()
        clock.advance(seconds=30)
        assert sender.deliver().sent == 1
    finally:
        store.close()
    assert smtp.recorder.per_recipient() == {"x@xa.test": 1}


def test_temporary_failures_give_up_after_max_attempts(home: Path, smtp: SmtpServer) -> None:
    settings = make_settings(
        f"sqlite:///{home / 's.db'}",
        home,
        smtp_url=smtp.url,
        mail={"retry_base_seconds": 10, "max_attempts": 3},
        bounce={"hard_limit": 1},
    )
    smtp.recorder.faults.append(Fault("RCPT", "450 4.2.1 mailbox busy", "x@xa.test", times=-1))
    store = open_store(settings)
    clock = FakeClock(RUN_AT)
    try:
        publish(store, "tb-1", THONG_BAO, IN_WINDOW)
        x = subscribe(store, "x@xa.test")
        queue_daily(store, settings)
        sender = Sender(store, settings, clock=clock)
        outcomes = []
        for _ in range(3):
            report = sender.deliver()
            outcomes.append((report.retried, report.failed))
            clock.advance(hours=1)
        assert outcomes == [(1, 0), (1, 0), (0, 1)]
        assert sender.deliver().failed == 0  # nothing left to try
        (row,) = outbox_rows(store)
        assert (row.status, row.attempts) == ("failed", 3)
        assert row.last_error.startswith("gave up after 3 attempts: 450")
        with store.reading() as conn:
            person = conn.execute(select(subscribers).where(subscribers.c.id == x.id)).one()
        assert (person.status, person.hard_bounces) == ("confirmed", 0)  # a 4xx is not a bounce
    finally:
        store.close()
    assert smtp.recorder.per_recipient() == {}


# --- permanent failures: not retried; hard bounces end the subscription -----------------------------


def test_permanent_failures_are_not_retried_and_bounce(home: Path, smtp: SmtpServer) -> None:
    settings = make_settings(f"sqlite:///{home / 's.db'}", home, smtp_url=smtp.url, bounce={"hard_limit": 2})
    smtp.recorder.faults.append(Fault("RCPT", "550 5.1.1 no such user", "x@xa.test", times=-1))
    store = open_store(settings)
    clock = FakeClock(RUN_AT)
    try:
        x = subscribe(store, "x@xa.test")
        subscribe(store, "ok@xa.test")

        def person() -> Any:
            with store.reading() as conn:
                return conn.execute(select(subscribers).where(subscribers.c.id == x.id)).one()

        for day in (7, 8, 9):
            publish(store, f"tb-{day}", THONG_BAO, local(2021, 1, day - 1, 9))
            run = queue_daily(store, settings, local(2021, 1, day, 6, 30))
            clock.set(local(2021, 1, day, 6, 30))
            report = Sender(store, settings, clock=clock).deliver()
            mine = [r for r in outbox_rows(store) if r.run_id == run.id and r.subscriber_id == x.id]
            if day == 7:
                assert (report.sent, report.failed, report.bounced) == (1, 1, 0)
                assert (mine[0].status, mine[0].attempts) == ("failed", 1)  # no retry for a 5xx
                assert (person().status, person().hard_bounces) == ("confirmed", 1)
            elif day == 8:
                assert (report.sent, report.failed, report.bounced) == (1, 1, 1)
                assert person().status == "bounced"
            else:
                assert mine == []  # a bounced address is not queued again
                assert (report.sent, report.failed) == (1, 0)
        clock.advance(days=1)
        assert Sender(store, settings, clock=clock).deliver().sent == 0  # nothing is retried
    finally:
        store.close()
    assert smtp.recorder.per_recipient() == {"ok@xa.test": 3}
    assert [r[:2] for r in smtp.recorder.refused] == [("RCPT", "x@xa.test")] * 2


def test_a_5xx_at_data_fails_the_mail_but_is_no_bounce(home: Path, smtp: SmtpServer) -> None:
    """Refused after the mailbox was accepted: the content or a policy, not a dead address."""
    settings = make_settings(f"sqlite:///{home / 's.db'}", home, smtp_url=smtp.url, bounce={"hard_limit": 1})
    smtp.recorder.faults.append(Fault("DATA", "554 5.7.1 message refused", "x@xa.test", times=-1))
    store = open_store(settings)
    clock = FakeClock(RUN_AT)
    try:
        x = subscribe(store, "x@xa.test")
        for day in (7, 8):
            publish(store, f"tb-{day}", THONG_BAO, local(2021, 1, day - 1, 9))
            queue_daily(store, settings, local(2021, 1, day, 6, 30))
            clock.set(local(2021, 1, day, 6, 30))
            report = Sender(store, settings, clock=clock).deliver()
            assert (report.sent, report.failed, report.bounced) == (0, 1, 0)  # not retried either
        with store.reading() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.id == x.id)).one()
        assert (row.status, row.hard_bounces) == ("confirmed", 0)
    finally:
        store.close()


def test_a_bounce_cancels_mail_already_queued(home: Path, smtp: SmtpServer) -> None:
    """Another mail to the bounced address, queued before the bounce, does not go out."""
    settings = make_settings(
        f"sqlite:///{home / 's.db'}",
        home,
        smtp_url=smtp.url,
        bounce={"hard_limit": 1},
        mail={"connections": 1},
    )
    smtp.recorder.faults.append(Fault("RCPT", "550 5.1.1 no such user", "x@xa.test", times=-1))
    store = open_store(settings)
    try:
        subscribe(store, "x@xa.test")
        publish(store, "tb-7", THONG_BAO, local(2021, 1, 6, 9))
        publish(store, "tb-8", THONG_BAO, local(2021, 1, 7, 9))
        queue_daily(store, settings, local(2021, 1, 7, 6, 30))
        queue_daily(store, settings, local(2021, 1, 8, 6, 30))
        report = Sender(store, settings, clock=FakeClock(local(2021, 1, 8, 6, 30))).deliver()
        assert (report.sent, report.failed, report.bounced) == (0, 1, 1)
        assert sorted(r.status for r in outbox_rows(store)) == ["cancelled", "failed"]
    finally:
        store.close()
    assert len(smtp.recorder.refused) == 1


# --- unsubscribing stops what is queued ------------------------------------------------------------------


def test_unsubscribing_stops_queued_mail(database_url: str, home: Path, smtp: SmtpServer) -> None:
    settings = make_settings(database_url, home, smtp_url=smtp.url)
    store = open_store(settings)
    try:
        publish(store, "tb-1", THONG_BAO, IN_WINDOW)
        leaving = subscribe(store, "leaving@xa.test")
        sneaky = subscribe(store, "sneaky@xa.test")
        subscribe(store, "staying@xa.test")
        queue_daily(store, settings)
        assert statuses(store) == {"pending": 3}
        # the one-click link (what the web handler calls)
        assert choices.unsubscribe(store, leaving.id, RUN_AT.astimezone(UTC))
        assert [r.status for r in outbox_rows(store) if r.subscriber_id == leaving.id] == ["cancelled"]
        # a status changed behind the store's back: the claim itself checks it
        with store.writing() as conn:
            conn.execute(
                update(subscribers).where(subscribers.c.id == sneaky.id).values(status="unsubscribed")
            )
        report = Sender(store, settings, clock=FakeClock(RUN_AT)).deliver()
        assert report.sent == 1
        rows = {r.subscriber_id: r for r in outbox_rows(store)}
        assert (rows[sneaky.id].status, rows[sneaky.id].last_error) == ("cancelled", "not subscribed")
    finally:
        store.close()
    assert smtp.recorder.per_recipient() == {"staying@xa.test": 1}


# --- stopping and crashing senders --------------------------------------------------------------------


def test_a_stopped_sender_hands_back_what_it_claimed(home: Path, smtp: SmtpServer) -> None:
    settings = make_settings(f"sqlite:///{home / 's.db'}", home, smtp_url=smtp.url, mail={"connections": 1})
    store = open_store(settings)
    try:
        publish(store, "tb-1", THONG_BAO, IN_WINDOW)
        subscribers_with_news(store, 20)
        queue_daily(store, settings)
        stop = threading.Event()
        sender = Sender(store, settings, clock=FakeClock(RUN_AT))
        report = sender.deliver(stop=stop, on_sent=lambda n: stop.set())
        # with PIPELINING the next mail's envelope went with the first one's end: it is finished too
        went = 2 if smtp.recorder.pipelining else 1
        assert report.sent == went
        assert statuses(store) == {"sent": went, "pending": 20 - went}  # none left `sending`
        assert sender.deliver().sent == 20 - went
    finally:
        store.close()
    assert set(smtp.recorder.per_recipient().values()) == {1}


# (what a crashed sender left behind, and leases: tests/test_mail_leases.py)


# --- transports ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def _deliver_two(settings: Settings, transports: Callable[[], Transport] | None = None) -> SendReport:
    """Queue a digest for two subscribers and deliver it."""
    store = open_store(settings)
    try:
        publish(store, "tb-1", THONG_BAO, IN_WINDOW)
        subscribe(store, "a@xa.test")
        subscribe(store, "b@xa.test")
        queue_daily(store, settings)
        return Sender(store, settings, clock=FakeClock(RUN_AT), transports=transports).deliver()
    finally:
        store.close()


def test_starttls_and_auth(home: Path, ca: trustme.CA) -> None:
    """smtp://user:pass@host:port?starttls=true: STARTTLS first, then AUTH, then the mails."""
    with smtp_server(tls_context=_server_context(ca), credentials=("bantin", "mật-khẩu")) as smtp:
        address = SmtpAddress.parse(
            f"smtp://bantin:m%E1%BA%ADt-kh%E1%BA%A9u@127.0.0.1:{smtp.port}?starttls=true"
        )
        assert (address.username, address.password, address.starttls, address.verify) == (
            "bantin",
            "mật-khẩu",
            True,
            True,
        )
        client = ssl.create_default_context()
        ca.configure_trust(client)
        settings = make_settings(f"sqlite:///{home / 's.db'}", home, mail={"connections": 1})
        report = _deliver_two(settings, lambda: SmtpTransport(address, tls_context=client))
        assert report.sent == 2
        received = smtp.recorder.messages()
        assert len(received) == 2 and all(r.tls and r.authenticated for r in received)
        assert smtp.recorder.connections == 1


def test_starttls_from_the_url_without_verification(home: Path, ca: trustme.CA) -> None:
    """?verify=false: a self-signed certificate is accepted (the transport comes from the settings)."""
    with smtp_server(tls_context=_server_context(ca), credentials=("bantin", "secret")) as smtp:
        url = f"smtp://bantin:secret@127.0.0.1:{smtp.port}?starttls=true&verify=false"
        settings = make_settings(f"sqlite:///{home / 's.db'}", home, smtp_url=url)
        assert _deliver_two(settings).sent == 2
        assert all(r.tls and r.authenticated for r in smtp.recorder.messages())


@pytest.mark.parametrize(
    "url",
    [
        "smtp://bantin:wrong@127.0.0.1:{port}?starttls=true&verify=false",  # refused login
        "smtp://bantin:secret@127.0.0.1:{port}",  # no STARTTLS: the server offers no AUTH
        "smtp://bantin:secret@127.0.0.1:{port}?starttls=true",  # certificate not trusted
    ],
    ids=["wrong-password", "no-starttls", "untrusted-certificate"],
)
def test_a_refused_connection_is_retried_not_lost(home: Path, ca: trustme.CA, url: str) -> None:
    with smtp_server(tls_context=_server_context(ca), credentials=("bantin", "secret")) as smtp:
        settings = make_settings(f"sqlite:///{home / 's.db'}", home, smtp_url=url.format(port=smtp.port))
        report = _deliver_two(settings)
        # the server, not the mails: delivery pauses, and no mail is charged an attempt
        assert (report.sent, report.retried, report.failed) == (0, 0, 0) and report.paused >= 1
        assert smtp.recorder.messages() == []
        store = open_store(settings)
        try:
            assert statuses(store) == {"pending": 2}
        finally:
            store.close()


def test_implicit_tls(home: Path, ca: trustme.CA) -> None:
    with smtp_server(ssl_context=_server_context(ca)) as smtp:
        assert smtp.url.startswith("smtps://")
        client = ssl.create_default_context()
        ca.configure_trust(client)
        address = SmtpAddress.parse(smtp.url)
        settings = make_settings(f"sqlite:///{home / 's.db'}", home)
        report = _deliver_two(settings, lambda: SmtpTransport(address, tls_context=client))
        assert report.sent == 2
        assert all(r.tls for r in smtp.recorder.messages())


def test_without_smtp_mails_go_to_the_maildir(home: Path) -> None:
    settings = make_settings(f"sqlite:///{home / 's.db'}", home)
    assert settings.smtp_url is None
    assert _deliver_two(settings).sent == 2
    new = sorted((home / "var" / "outbox" / "new").iterdir())
    assert len(new) == 2 and all(p.suffix == ".eml" for p in new)
    assert list((home / "var" / "outbox" / "tmp").iterdir()) == []
    import email
    from email import policy

    recipients = set()
    for path in new:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        recipients.add(message["Delivered-To"])
        assert message["Subject"] == "Bản tin Cổng TTĐT huyện Thọ Xuân ngày 07/01/2021: 1 tin mới"
        assert parts(message).html
    assert recipients == {"a@xa.test", "b@xa.test"}


def test_a_stream_of_mails_is_settled_one_by_one_in_order(smtp: SmtpServer) -> None:
    """send_many over one connection: refusals, a 452, a dropped connection and a 421 in the middle
    of the stream each settle their own mail only, in order, as soon as the server answered it."""
    addresses = [f"{letter}@xa.test" for letter in "abcdefghij"]
    smtp.recorder.faults += [
        Fault("RCPT", "550 5.1.1 no such user", "b@xa.test"),
        Fault("DATA", "452 4.3.1 insufficient storage", "d@xa.test"),
        Fault("DATA", DROP, "f@xa.test"),
        Fault("RCPT", "421 4.3.2 closing", "h@xa.test"),
    ]
    taken: list[int] = []
    ahead: list[int] = []

    def mails() -> Iterator[tuple[int, str, bytes]]:
        for index, address in enumerate(addresses):
            taken.append(index)
            yield index, address, f"Subject: {index}\r\n\r\n.a line with a dot\r\n".encode()

    transport = SmtpTransport(SmtpAddress.parse(smtp.url))
    outcomes: dict[int, object] = {}
    try:
        for index, error in transport.send_many("bantin@thoxuan.test", mails()):
            ahead.append(len(taken) - len(outcomes) - 1)
            outcomes[index] = error
    finally:
        transport.close()
    assert list(outcomes) == list(range(10))
    kinds = {
        addresses[i]: None if e is None else (type(e).__name__, getattr(e, "recipient_refused", None))
        for i, e in outcomes.items()
    }
    assert kinds == {
        "a@xa.test": None,
        "b@xa.test": ("PermanentFailure", True),
        "c@xa.test": None,
        "d@xa.test": ("TemporaryFailure", False),
        "e@xa.test": None,
        "f@xa.test": ("TemporaryFailure", False),  # the connection dropped: whether it went is unknown
        "g@xa.test": None,
        "h@xa.test": ("TemporaryFailure", False),
        "i@xa.test": None,
        "j@xa.test": None,
    }
    # at most the next mail is taken before the current one's outcome is known
    assert max(ahead) <= (1 if smtp.recorder.pipelining else 0)
    received = smtp.recorder.messages()
    assert sorted(r.recipients[0] for r in received) == [f"{x}@xa.test" for x in "acegij"]
    assert {r.data.split(b"\r\n\r\n", 1)[1] for r in received} == {b".a line with a dot\r\n"}
    assert smtp.recorder.connections == 3  # the first, then one after the drop, one after the 421


def test_a_server_taking_few_messages_per_connection_costs_no_retries(home: Path, smtp: SmtpServer) -> None:
    """421 to MAIL FROM on a connection that carried mail: the server's per-connection limit, not a
    failure of that mail. It goes at once on a new connection, charged no attempt."""
    smtp.recorder.per_connection = 3
    report, rows = _deliver_news(home, smtp, 10, connections=1)
    assert {r.attempts for r in rows} == {1}
    assert (report.sent, report.retried, report.failed) == (10, 0, 0)
    assert set(smtp.recorder.per_recipient().values()) == {1}
    assert smtp.recorder.connections == 4  # 3 + 3 + 3 + 1
    assert len(smtp.recorder.refused) == 3


def test_a_421_at_mail_on_a_new_connection_is_a_temporary_failure(smtp: SmtpServer) -> None:
    smtp.recorder.per_connection = -1  # refuses even the first message: no endless reconnecting
    transport = SmtpTransport(SmtpAddress.parse(smtp.url))
    try:
        outcomes = list(
            transport.send_many("bantin@thoxuan.test", [(1, "a@xa.test", b"Subject: x\r\n\r\nx\r\n")])
        )
    finally:
        transport.close()
    [(key, error)] = outcomes
    assert key == 1 and isinstance(error, TemporaryFailure) and error.code == 421
    assert smtp.recorder.connections == 1


def _quick_retries(smtp: SmtpServer) -> Callable[[], Transport]:
    return lambda: SmtpTransport(SmtpAddress.parse(smtp.url), connect_backoff=(0.01, 0.02, 0.04, 0.08))


def test_a_busy_greeting_is_tried_again_within_the_pass(home: Path) -> None:
    """421 at the greeting ("too many connections") of the first connection of every sender thread:
    each tries again after a short wait, and every mail goes in the same pass."""
    with smtp_server() as smtp:
        smtp.recorder.refuse_greetings = 4
        settings = make_settings(
            f"sqlite:///{home / 's.db'}", home, smtp_url=smtp.url, mail={"connections": 4}
        )
        store = open_store(settings)
        try:
            publish(store, "tb-1", THONG_BAO, IN_WINDOW)
            addresses = subscribers_with_news(store, 200)  # a claim for each thread
            queue_daily(store, settings)
            sender = Sender(store, settings, clock=FakeClock(RUN_AT), transports=_quick_retries(smtp))
            report = sender.deliver()
            assert statuses(store) == {"sent": 200}
        finally:
            store.close()
        assert (report.sent, report.paused, report.retried) == (200, 0, 0)
        assert [stage for stage, _, _ in smtp.recorder.refused] == ["GREETING"] * 4
        assert sorted(smtp.recorder.per_recipient().items()) == [(a, 1) for a in addresses]


def test_a_server_busy_for_longer_is_given_up_after_a_few_tries(smtp: SmtpServer) -> None:
    smtp.recorder.refuse_greetings = 100
    transport = _quick_retries(smtp)()
    try:
        with pytest.raises(TemporaryFailure) as raised:
            list(transport.send_many("bantin@thoxuan.test", [(1, "a@xa.test", b"Subject: x\r\n\r\nx\r\n")]))
    finally:
        transport.close()
    assert raised.value.server_unusable and "421" in str(raised.value)
    assert smtp.recorder.connections == 5  # the first try and four more


def test_maildir_transport_writes_whole_files(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "box")
    transport.send("from@xa.test", "to@xa.test", b"Subject: x\r\n\r\nbody\r\n")
    (path,) = (tmp_path / "box" / "new").iterdir()
    assert path.read_bytes().endswith(b"Subject: x\r\n\r\nbody\r\n")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://host", "scheme"),
        ("smtp://", "no host"),
        ("smtp://host:99999", "bad port"),
        ("smtp://host?tls=yes", "unknown SMTP URL option"),
        ("smtp://host?starttls=maybe", "starttls must be true or false"),
    ],
)
def test_bad_smtp_urls(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        SmtpAddress.parse(url)


def test_smtp_url_defaults() -> None:
    assert SmtpAddress.parse("smtp://mail.xa.test").port == 25
    implicit = SmtpAddress.parse("smtps://u:p@mail.xa.test")
    assert (implicit.port, implicit.implicit_tls, implicit.starttls) == (465, True, False)


# --- rate limit ----------------------------------------------------------------------------------------


class _FakeTime:
    """time.monotonic/time.sleep for RateLimit: sleeping advances the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)

    def tick(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def test_rate_limit_spaces_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeTime()
    monkeypatch.setattr(sender_module, "time", fake)
    limit = RateLimit(4)  # 4 per second: one slot every 0.25 s
    for _ in range(9):
        limit.wait()
    # nobody waits for the first; then each waits for its slot, all measured from the same start
    assert fake.slept == pytest.approx([0.25 * i for i in range(1, 9)])
    # time passes: a sender that comes after its slot does not wait, and the schedule resumes from now
    fake.tick(10)
    fake.slept.clear()
    limit.wait()
    limit.wait()
    assert fake.slept == pytest.approx([0.25])
    unlimited = RateLimit(0)
    fake.slept.clear()
    for _ in range(100):
        unlimited.wait()
    assert fake.slept == []


def test_rate_limit_is_shared_by_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """N sends at rate R are spread over (N-1)/R seconds whichever threads make them."""
    fake = _FakeTime()
    monkeypatch.setattr(sender_module, "time", fake)
    limit = RateLimit(10)

    def send_ten() -> None:
        for _ in range(10):
            limit.wait()

    threads = [threading.Thread(target=send_ten) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(fake.slept) == pytest.approx([0.1 * i for i in range(1, 40)])


# --- DKIM ----------------------------------------------------------------------------------------------


def test_dkim_signature_covers_the_unsubscribe_headers(home: Path, smtp: SmtpServer) -> None:
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = home / "dkim.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    asked: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        asked.append(name)
        return record if name == b"bantin2021._domainkey.thoxuan.thanhhoa.gov.vn." else b""

    settings = make_settings(
        f"sqlite:///{home / 's.db'}",
        home,
        smtp_url=smtp.url,
        mail={
            "dkim_domain": "thoxuan.thanhhoa.gov.vn",
            "dkim_selector": "bantin2021",
            "dkim_key_file": key_file,
        },
    )
    assert _deliver_two(settings).sent == 2
    received = smtp.recorder.messages()
    assert len(received) == 2
    for message in received:
        assert message.data.startswith(b"DKIM-Signature: ")
        assert dkim.verify(message.data, dnsfunc=dns)
        fields = dict(
            part.strip().split("=", 1)
            for part in message.message()["DKIM-Signature"].replace("\r\n", "").split(";")
            if part.strip()
        )
        signed = {h.strip().lower() for h in fields["h"].split(":")}
        assert {"from", "to", "subject", "date", "message-id", "list-id"} <= signed
        assert {"list-unsubscribe", "list-unsubscribe-post"} <= signed
        assert fields["d"] == "thoxuan.thanhhoa.gov.vn" and fields["s"] == "bantin2021"
        # a changed unsubscribe link no longer verifies
        tampered = re.sub(rb"(List-Unsubscribe: <[^>]*/unsubscribe/)\w", rb"\1Z", message.data)
        assert tampered != message.data
        assert not dkim.verify(tampered, dnsfunc=dns)
    assert asked


def test_a_dkim_key_saved_with_crlf_signs(home: Path) -> None:
    """dkimpy finds no key in a CRLF file; the start check accepts one, so the signer must sign with it."""
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from syndicator.mail.dkim import signer

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    key_file = home / "dkim.pem"
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file.write_bytes(pem.replace(b"\n", b"\r\n"))
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    message = b"From: a@thoxuan.example\r\nTo: b@example.vn\r\nSubject: x\r\n\r\nNoi dung.\r\n"
    signed = signer("thoxuan.example", "s1", key_file)(message)
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record)


def test_tokens_refuse_tampering() -> None:
    token = subscriber_token(SECRET, "unsubscribe", 42, "An@Example.VN")
    assert subscriber_from_token(SECRET, "unsubscribe", token) == (42, email_check("an@example.vn"))
    payload, mac = token.split(".")
    for bad in (f"{payload}.{mac[:-1]}A", f"{payload}x.{mac}", payload, "", f"{payload}.{mac[:-1]}ạ"):
        with pytest.raises(tokens.BadToken):
            subscriber_from_token(SECRET, "unsubscribe", bad)
    with pytest.raises(tokens.BadToken):
        subscriber_from_token("another-secret-0123456789", "unsubscribe", token)
    expiring = tokens.sign(SECRET, "confirm", {"s": 1}, expires=datetime(2021, 1, 8, tzinfo=UTC))
    assert tokens.verify(SECRET, "confirm", expiring, now=datetime(2021, 1, 7, tzinfo=UTC))["s"] == 1
    with pytest.raises(tokens.BadToken, match="expired"):
        tokens.verify(SECRET, "confirm", expiring, now=datetime(2021, 1, 9, tzinfo=UTC))
    with pytest.raises(tokens.BadToken, match="expired"):
        tokens.verify(SECRET, "confirm", expiring)  # no clock given: an expiring token is not accepted
