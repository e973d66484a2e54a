"""Only what was in flight may go twice, whatever happens to the leader.

A delivery pass holds its claims under a lease it renews (mail/lease.py). Recovery, at a new leadership
term or at the start of any pass, queues again only mails whose sender is gone: lease run out, or a
process of this machine that no longer runs. The PostgreSQL tests terminate the leader's advisory-lock
connection with pg_terminate_backend while a real aiosmtpd server is still receiving, and count what
it received. Only the clock is fake.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from syndicator.config import Settings
from syndicator.jobs import Jobs
from syndicator.mail import lease
from syndicator.mail.sender import CLAIM_SIZE, Sender
from syndicator.mail.transport import DeliveryError, SmtpTransport, Transport
from syndicator.service import Service, assemble
from syndicator.smtpurl import SmtpAddress
from syndicator.store import Store
from syndicator.store.database import Availability
from syndicator.store.schema import outbox
from tests.conftest import PG_URL, postgres_schema_url, require_postgres
from tests.factories import FakeClock, publish
from tests.leaderkit import terminate_leader_lock
from tests.mailkit import (
    IN_WINDOW,
    RUN_AT,
    THONG_BAO,
    make_settings,
    outbox_rows,
    queue_daily,
    statuses,
    subscribers_with_news,
)
from tests.processes import eventually
from tests.relay import Relay
from tests.smtp_server import SmtpServer, smtp_server


def _queued(settings: Settings, count: int) -> tuple[Store, list[str]]:
    store = Store.open(settings.database_url, settings.categories)
    publish(store, "tb-1", THONG_BAO, IN_WINDOW)
    addresses = subscribers_with_news(store, count)
    queue_daily(store, settings)
    return store, addresses


def _hold(store: Store, ids: list[int], claimed_by: str | None, lease_until: object) -> None:
    with store.writing() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(status="sending", claimed_by=claimed_by, lease_until=lease_until)
        )


def _ended_process() -> str:
    """The claimant of a process of this machine that has exited: the child names its own pass
    (lease.new_pass) and ends."""
    script = "from syndicator.mail.lease import new_pass; print(new_pass())"
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    claimant = child.stdout.strip()
    parsed = lease.Claimant.parse(claimant)
    assert parsed is not None and parsed.started, claimant  # a claimant gone() can judge
    return claimant


def test_recovery_takes_only_mails_whose_sender_is_gone(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path)
    store, _ = _queued(settings, 6)
    clock = FakeClock(RUN_AT)
    now = clock()
    try:
        live_here = str(lease.new_pass())  # this very process, still sending
        elsewhere = "0123456789abcdef:4242:99:01020304"  # another machine: its lease decides
        _hold(store, [1], live_here, now + timedelta(seconds=5))
        _hold(store, [2], elsewhere, now + timedelta(seconds=5))
        _hold(store, [3], elsewhere, now - timedelta(seconds=1))  # lease run out
        _hold(store, [4], _ended_process(), now + timedelta(seconds=50))  # killed, lease still running
        _hold(store, [5], None, None)  # claimed by a version without leases
        sender = Sender(store, settings, clock=clock)
        assert sender.recover() == 3
        assert {r.id: r.status for r in outbox_rows(store)} == {
            1: "sending",
            2: "sending",
            3: "pending",
            4: "pending",
            5: "pending",
            6: "pending",
        }
        assert sender.deliver().sent == 4  # a pass recovers too, and leaves the live senders' mails alone
        clock.advance(seconds=6)  # their leases run out (nobody renewed them): their senders are gone
        assert sender.deliver().sent == 2
        assert statuses(store) == {"sent": 6}
    finally:
        store.close()


def test_claims_carry_the_pass_and_a_lease(database_url: str, tmp_path: Path) -> None:
    with smtp_server() as smtp:
        settings = make_settings(database_url, tmp_path, smtp_url=smtp.url, mail={"connections": 1})
        store, _ = _queued(settings, 3)
        clock = FakeClock(RUN_AT)
        seen: list[tuple[str | None, object]] = []

        def look(count: int) -> None:
            with store.reading() as conn:
                seen.extend(
                    (by, until)
                    for by, until in conn.execute(select(outbox.c.claimed_by, outbox.c.lease_until))
                )

        try:
            Sender(store, settings, clock=clock).deliver(on_sent=look)
        finally:
            store.close()
    claimant = lease.Claimant.parse(str(seen[0][0]))
    assert claimant is not None and claimant.pid == lease.new_pass().pid and not lease.gone(str(claimant))
    assert {lease_until for _, lease_until in seen} == {clock() + lease.LEASE}


def test_a_live_sender_keeps_its_mails_past_the_lease(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass renews its leases while it runs: 75 s after the claims (lease 60 s), another instance's
    recovery still takes nothing, and every mail arrives once."""
    monkeypatch.setattr(lease, "RENEW_SECONDS", 0.02)
    with smtp_server(data_delay=0.01) as smtp:
        settings = make_settings(database_url, tmp_path, smtp_url=smtp.url, mail={"connections": 2})
        store, addresses = _queued(settings, 400)
        clock = FakeClock(RUN_AT)
        other = Sender(store, settings, clock=clock)
        started = smtp.recorder.reached(10)
        sending = threading.Thread(target=Sender(store, settings, clock=clock).deliver)
        try:
            sending.start()
            assert started.wait(30)
            for _ in range(5):
                clock.advance(seconds=15)  # each step within the 20 s a lease is trusted after renewal

                def renewed() -> bool:
                    with store.reading() as conn:
                        leases = conn.execute(
                            select(outbox.c.lease_until).where(outbox.c.status == "sending")
                        ).scalars()
                        return all(until >= clock() + lease.LEASE for until in leases)

                eventually(renewed, "the leases to be renewed")
                assert other.recover() == 0
            assert sending.is_alive(), "the pass ended before the test could prove anything"
            sending.join(60)
            assert statuses(store) == {"sent": 400}
        finally:
            sending.join(60)
            store.close()
        assert sorted(smtp.recorder.per_recipient().items()) == [(a, 1) for a in addresses]


def test_a_sender_that_cannot_renew_its_lease_stops_sending(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Its claims will soon be anyone's: it hands back what it has not started and sends nothing more."""
    monkeypatch.setattr(lease, "RENEW_SECONDS", 0.02)

    def unreachable(self: Sender, claimant: str, until: object) -> None:
        raise OSError("the database is away")

    monkeypatch.setattr(Sender, "renew", unreachable)
    with smtp_server(data_delay=0.01) as smtp:
        settings = make_settings(database_url, tmp_path, smtp_url=smtp.url, mail={"connections": 2})
        store, _ = _queued(settings, 200)
        clock = FakeClock(RUN_AT)
        started = smtp.recorder.reached(10)
        reports = []
        sending = threading.Thread(
            target=lambda: reports.append(Sender(store, settings, clock=clock).deliver())
        )
        try:
            sending.start()
            assert started.wait(30)
            clock.advance(seconds=41)  # 60 s lease, trusted until 20 s before it runs out
            sending.join(60)
            left = statuses(store)
        finally:
            sending.join(60)
            store.close()
    assert reports[0].sent < 200 and left.get("sending", 0) == 0  # the rest handed back
    assert left == {"sent": reports[0].sent, "pending": 200 - reports[0].sent}
    assert len(smtp.recorder.messages()) == reports[0].sent
    assert any("could not be renewed" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_a_sender_that_no_longer_leads_sends_what_it_holds_and_claims_no_more(
    database_url: str, tmp_path: Path
) -> None:
    with smtp_server() as smtp:
        settings = make_settings(database_url, tmp_path, smtp_url=smtp.url, mail={"connections": 1})
        store, _ = _queued(settings, 120)
        answers = iter([True])  # it leads when it takes its first claim, then another instance does
        try:
            report = Sender(store, settings, clock=FakeClock(RUN_AT)).deliver(
                leading=lambda: next(answers, False)
            )
            left = statuses(store)
        finally:
            store.close()
    assert report.sent == CLAIM_SIZE and left == {"sent": CLAIM_SIZE, "pending": 120 - CLAIM_SIZE}
    assert len(smtp.recorder.messages()) == CLAIM_SIZE


def test_a_renewal_that_finds_its_rows_taken_stops_the_pass_for_good() -> None:
    clock = FakeClock(RUN_AT)
    answers: list[set[int]] = [{1, 2}, set()]  # both rows held, then taken by another sender

    def renew(claimant: str, until: datetime) -> set[int]:
        return answers.pop(0) if answers else set()

    held = lease.Lease(clock, renew)
    held.hold([1, 2])
    original = lease.RENEW_SECONDS
    lease.RENEW_SECONDS = 0.01
    try:
        with held.kept():
            eventually(lambda: not held.valid(), "the pass to learn its rows were taken")
    finally:
        lease.RENEW_SECONDS = original
    assert not held.valid()


def test_a_lease_that_lapsed_is_not_revived_by_a_late_renewal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Frozen past the point where it stops trusting its lease: waking up, every renewal succeeds (it
    happens to hold its rows still), yet the pass stays stopped: nothing tells which rows were taken."""
    monkeypatch.setattr(lease, "RENEW_SECONDS", 0.01)
    clock = FakeClock(RUN_AT)
    renewals: list[datetime] = []

    def renew(claimant: str, until: datetime) -> set[int]:
        renewals.append(until)
        return {1}

    held = lease.Lease(clock, renew)
    held.hold([1])
    assert held.valid()
    clock.advance(seconds=41)
    with held.kept():
        eventually(lambda: len(renewals) >= 2, "two renewals")
        assert not held.valid()


K = TypeVar("K")


class _Freezable:
    """A real SMTP transport whose thread can be frozen, as SIGSTOP would: it stops between mails
    until thawed. Records which rows were handed to the server, so that those in flight at the freeze
    are known."""

    def __init__(self, inner: Transport, thawed: threading.Event, frozen: threading.Semaphore) -> None:
        self.inner = inner
        self.thawed = thawed
        self.frozen = frozen
        self.handed: list[str] = []

    def _wait(self) -> None:
        if not self.thawed.is_set():
            self.frozen.release()
            self.thawed.wait()

    def _gated(self, mails: Iterable[tuple[K, str, bytes]]) -> Iterator[tuple[K, str, bytes]]:
        for mail in mails:
            self.handed.append(mail[1])
            yield mail
            self._wait()

    def send_many(
        self, sender: str, mails: Iterable[tuple[K, str, bytes]], *, dot_safe: bool = False
    ) -> Iterator[tuple[K, DeliveryError | None]]:
        for outcome in self.inner.send_many(sender, self._gated(mails), dot_safe=dot_safe):
            self._wait()
            yield outcome

    @property
    def accepted(self) -> tuple[int, str] | None:
        return self.inner.accepted

    def close(self) -> None:
        self.inner.close()


def _freezable_sender(
    store: Store,
    settings: Settings,
    clock: FakeClock,
    smtp_url: str,
    thawed: threading.Event,
    frozen: threading.Semaphore,
) -> tuple[Sender, list[_Freezable], list[str]]:
    """A sender whose threads and lease renewer stop where they are while `thawed` is clear (each
    releases `frozen` once as it stops); with its transports made so far and its claimants."""
    transports: list[_Freezable] = []

    def freezable() -> Transport:
        made = _Freezable(SmtpTransport(SmtpAddress.parse(smtp_url)), thawed, frozen)
        transports.append(made)
        return made

    stalled = Sender(store, settings, clock=clock, transports=freezable)
    claimants: list[str] = []
    real_renew = stalled.renew

    def frozen_renew(claimant: str, until: datetime) -> set[int]:
        claimants.append(claimant)
        if not thawed.is_set():
            frozen.release()
            thawed.wait()
        return real_renew(claimant, until)

    stalled.renew = frozen_renew  # type: ignore[method-assign]
    return stalled, transports, claimants


def test_a_sender_frozen_past_its_lease_touches_no_row_another_sender_took(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The attack of a SIGSTOPped leader: frozen mid-send past its lease, its rows are recovered and sent
    by another sender; woken up, it must neither send them again nor mark or queue them again. Only
    the mails in flight at the freeze may arrive twice; every row ends sent once, by the new claimant."""
    monkeypatch.setattr(lease, "RENEW_SECONDS", 0.02)
    connections = 2
    with smtp_server(data_delay=0.01) as first, smtp_server() as second:
        settings = make_settings(database_url, tmp_path, mail={"connections": connections})
        store, addresses = _queued(settings, 300)
        clock = FakeClock(RUN_AT)
        thawed, frozen = threading.Event(), threading.Semaphore(0)
        thawed.set()
        stalled, transports, claimants = _freezable_sender(store, settings, clock, first.url, thawed, frozen)
        reports = []
        sending = threading.Thread(target=lambda: reports.append(stalled.deliver()))
        try:
            started = first.recorder.reached(20)
            sending.start()
            assert started.wait(30)
            thawed.clear()  # SIGSTOP: its sender threads and its lease renewer stop where they are
            for _ in range(connections + 1):
                assert frozen.acquire(timeout=30), "the pass did not freeze"
            handed = [list(made.handed) for made in transports]
            clock.advance(seconds=61)  # its lease ran out: its rows are anyone's
            second_smtp = SmtpAddress.parse(second.url)
            other = Sender(store, settings, clock=clock, transports=lambda: SmtpTransport(second_smtp))
            assert other.deliver().sent > 0
            assert statuses(store) == {"sent": 300}
            thawed.set()  # SIGCONT
            sending.join(60)
            rows = outbox_rows(store)
        finally:
            thawed.set()
            sending.join(60)
            store.close()
    assert not sending.is_alive()
    assert {row.status for row in rows} == {"sent"}
    assert [row.id for row in rows if row.attempts != 1] == []
    # what the old pass marked sent is what it sent before the freeze, nothing after
    assert sum(row.claimed_by == claimants[0] for row in rows) == reports[0].sent
    assert [made.handed for made in transports] == handed, "the old pass sent after it woke up"
    counts = first.recorder.per_recipient() + second.recorder.per_recipient()
    assert sorted(counts) == sorted(addresses), "lost mails"
    # in flight at the freeze: at most the mails each frozen thread had handed to the server and not
    # yet seen settled (with pipelining: the one answered, and the next one's envelope)
    in_flight = Counter(address for taken in handed for address in taken[-2:])
    twice = {address: n for address, n in counts.items() if n > 1}
    assert all(address in in_flight and n == 2 for address, n in twice.items()), twice
    assert any(r.levelno == logging.ERROR and "this sender stops" in r.getMessage() for r in caplog.records)


# -- PostgreSQL: the leader's lock connection is terminated while it sends ------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    require_postgres()
    yield from postgres_schema_url()


def _service(settings: Settings, clock: FakeClock, made: list[tuple[Store, Service]]) -> Service:
    store = Store.open(settings.database_url, settings.categories)
    service = assemble(settings, store, clock)
    made.append((store, service))
    return service


def _deliver_in_background(jobs: Jobs) -> threading.Thread:
    thread = threading.Thread(target=jobs.deliver, name="deliver-job")
    thread.start()
    return thread


def _each_once(smtp: SmtpServer, addresses: list[str]) -> None:
    counts = smtp.recorder.per_recipient()
    assert sorted(counts) == sorted(addresses), "lost mails"
    duplicates = {address: n for address, n in counts.items() if n > 1}
    assert duplicates == {}, f"{sum(duplicates.values()) - len(duplicates)} duplicates"


@pytest.mark.postgres
def test_a_new_term_of_the_same_leader_does_not_resend_what_it_is_sending(
    pg_url: str, tmp_path: Path
) -> None:
    with smtp_server(data_delay=0.03) as smtp:
        settings = make_settings(pg_url, tmp_path, smtp_url=smtp.url, mail={"connections": 4})
        seed, addresses = _queued(settings, 400)
        seed.close()
        made: list[tuple[Store, Service]] = []
        clock = FakeClock(RUN_AT)
        try:
            service = _service(settings, clock, made)
            jobs = Jobs(service)
            some = smtp.recorder.reached(40)
            sending = _deliver_in_background(jobs)
            assert some.wait(30)
            terminate_leader_lock(service.services.store.engine)
            # the next tick finds the lock connection dead, wins the lock again: a new term, recovery
            eventually(lambda: jobs.lead() and service.leadership.term == 2, "a new leadership term")
            assert sending.is_alive() and len(smtp.recorder.messages()) < 400, (
                "recovered too late to prove it"
            )
            sending.join(60)
            jobs.deliver()  # what the pass left unclaimed while it did not lead
            assert statuses(service.services.store) == {"sent": 400}
        finally:
            for store, service in made:
                service.close()
                store.close()
        _each_once(smtp, addresses)


@pytest.mark.postgres
def test_another_instance_taking_the_lead_does_not_resend_what_the_old_leader_sends(
    pg_url: str, tmp_path: Path
) -> None:
    with smtp_server(data_delay=0.03) as smtp:
        settings = make_settings(pg_url, tmp_path, smtp_url=smtp.url, mail={"connections": 4})
        seed, addresses = _queued(settings, 400)
        seed.close()
        made: list[tuple[Store, Service]] = []
        clock = FakeClock(RUN_AT)
        try:
            first, second = _service(settings, clock, made), _service(settings, clock, made)
            first_jobs, second_jobs = Jobs(first), Jobs(second)
            some = smtp.recorder.reached(40)
            old = _deliver_in_background(first_jobs)
            assert some.wait(30)
            assert not second_jobs.lead()
            terminate_leader_lock(first.services.store.engine)
            eventually(second_jobs.lead, "the second instance to take the lead")
            assert old.is_alive() and len(smtp.recorder.messages()) < 400, "took over too late to prove it"
            new = _deliver_in_background(second_jobs)
            assert not first_jobs.lead()  # the old leader learns it: it claims no more
            old.join(60)
            new.join(60)
            second_jobs.deliver()
            assert statuses(second.services.store) == {"sent": 400}
        finally:
            for store, service in made:
                service.close()
                store.close()
        _each_once(smtp, addresses)


@pytest.mark.postgres
def test_losing_the_database_mid_send_is_one_line_not_a_traceback_per_thread(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connections of every sender thread die at once (a relay to the server cut): one line for
    the outage, no traceback (neither the sender's nor the pool's "Exception during reset"); once the
    database is back, and the stopped pass's leases have run out, everything goes."""
    monkeypatch.setattr(Availability, "probe_seconds", 0.2)
    url = make_url(pg_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    relay.start()
    relayed = url.set(host="127.0.0.1", port=relay.port, query={**url.query, "connect_timeout": "2"})
    with smtp_server(data_delay=0.01) as smtp:
        settings = make_settings(pg_url, tmp_path, smtp_url=smtp.url, mail={"connections": 4})
        seed, _ = _queued(settings, 300)
        seed.close()
        store = Store.open(relayed.render_as_string(hide_password=False), settings.categories)
        clock = FakeClock(RUN_AT)
        try:
            started = smtp.recorder.reached(20)
            reports = []
            sending = threading.Thread(
                target=lambda: reports.append(Sender(store, settings, clock=clock).deliver())
            )
            sending.start()
            assert started.wait(30)
            caplog.clear()
            relay.cut()
            sending.join(60)
            assert not sending.is_alive()
            during = [r for r in caplog.records if r.levelno >= logging.WARNING]
            relay.start()
            clock.advance(seconds=61)

            def all_sent() -> bool:
                try:  # the first tries may fail at once, until a probe finds the database again
                    Sender(store, settings, clock=clock).deliver()
                    return statuses(store) == {"sent": 300}
                except OperationalError:
                    return False

            eventually(all_sent, "every mail sent once the database is back")
        finally:
            sending.join(60)
            store.close()
            if relay.listener is not None:
                relay.cut()
    assert [r for r in during if r.exc_info] == [], "tracebacks"
    assert [r.getMessage()[:80] for r in during if r.levelno >= logging.ERROR] == [
        next(r.getMessage()[:80] for r in during if r.getMessage().startswith("database unavailable"))
    ]


@pytest.mark.postgres
def test_sender_connections_killed_while_the_database_answers_are_no_outage(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every sender thread's kept connection is ended by the server (pg_terminate_backend) while the
    database stays up: a warning each, no outage line, no traceback, and every mail goes once the
    stopped threads' leases ran out."""
    name = f"mail_leases_{lease.new_pass().pass_id}"
    url = make_url(pg_url)
    own = url.set(query={**url.query, "application_name": name}).render_as_string(hide_password=False)
    with smtp_server(data_delay=0.01) as smtp:
        settings = make_settings(pg_url, tmp_path, smtp_url=smtp.url, mail={"connections": 4})
        seed, addresses = _queued(settings, 300)
        seed.close()
        store = Store.open(own, settings.categories)
        clock = FakeClock(RUN_AT)
        try:
            started = smtp.recorder.reached(20)
            sending = threading.Thread(target=Sender(store, settings, clock=clock).deliver)
            sending.start()
            assert started.wait(30)
            caplog.clear()
            with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                    (name,),
                )
            sending.join(60)
            during = [r for r in caplog.records if r.levelno >= logging.WARNING]
            clock.advance(seconds=61)
            Sender(store, settings, clock=clock).deliver()
            assert statuses(store) == {"sent": 300}
        finally:
            sending.join(60)
            store.close()
    assert [r for r in during if r.exc_info] == [], "tracebacks"
    assert [r.getMessage() for r in during if r.levelno >= logging.ERROR] == []
    assert sorted(smtp.recorder.per_recipient()) == sorted(addresses)
