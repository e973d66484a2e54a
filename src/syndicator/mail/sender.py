"""Delivery: claim due outbox rows, finish each mail for its recipient, hand it to the transport.

Several sender threads each keep one transport connection (SMTP connection reuse) and claim their
own rows, so parallel connections never take the same row. A row is marked sent right after the
server accepts it. A pass holds its claims under a lease it renews (mail/lease.py): only the mails of
a sender that is gone are ever queued again, so only those that were in flight may go out twice. Every
write to a claimed row holds only while the pass still holds the claim; a pass that finds a claim taken
(it was frozen or cut off past its lease) stops at once. A database outage met by the sender threads is
one line for the process (store.database.Availability), not a traceback per thread and mail.
4xx, timeouts and dropped connections are retried with exponential backoff up to `mail.max_attempts`;
5xx are not; a recipient refused `bounce.hard_limit` times is marked bounced.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import Connection

from syndicator import links, text
from syndicator.clock import Clock
from syndicator.config import Settings
from syndicator.mail import lease
from syndicator.mail.linktokens import subscriber_tokens
from syndicator.mail.mime import (
    CONFIRM_SLOT,
    COUNT,
    COUNT_SLOT,
    PARTS_HTML_SLOT,
    PARTS_TEXT_SLOT,
    PREFERENCES_SLOT,
    TOTAL_SLOT,
    UNSUBSCRIBE_SLOT,
    Template,
    finish,
    no_leading_dots,
)
from syndicator.mail.render import news_count
from syndicator.mail.transport import (
    DeliveryError,
    MaildirTransport,
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
    Transport,
)
from syndicator.model import OutboxKind
from syndicator.smtpurl import SmtpAddress
from syndicator.store import KeptWriter, Store, mailqueue
from syndicator.store.database import Availability, connection_lost, is_unavailable
from syndicator.store.mailqueue import Claimed
from syndicator.store.subscribers import record_hard_bounce

log = logging.getLogger(__name__)

# A claim is checked against unsubscriptions when it is taken: at a few hundred mails per second per
# connection, 50 are gone in well under a second. Claims cost three statements, so not fewer.
CLAIM_SIZE = 50


def transport_factory(settings: Settings) -> Callable[[], Transport]:
    """SMTP when SYNDICATOR_SMTP_URL is set, else the maildir under var/ (the embedded default)."""
    if settings.smtp_url:
        address = SmtpAddress.parse(settings.smtp_url)
        return lambda: SmtpTransport(address, timeout=settings.mail.timeout)
    root = settings.var_dir / "outbox"
    return lambda: MaildirTransport(root)


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    bounced: int = 0
    paused: int = 0  # sender threads that stopped because the server could not be used
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(
        self, *, sent: int = 0, retried: int = 0, failed: int = 0, bounced: int = 0, paused: int = 0
    ) -> None:
        """Count outcomes; the sender threads share one report."""
        with self._lock:
            self.sent += sent
            self.retried += retried
            self.failed += failed
            self.bounced += bounced
            self.paused += paused


@dataclass(frozen=True, slots=True)
class _Shared:
    subject: str
    template: Template
    parts: dict[str, mailqueue.Part]
    language: str  # a digest's count is said in it


class RateLimit:
    """A token bucket shared by the sender threads (0 = no limit)."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def wait(self) -> None:
        if self.per_second <= 0:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now)
            self._next = slot + 1 / self.per_second
        if slot > now:
            time.sleep(slot - now)


class _Halt:
    """A sender thread's question before each mail: asked to stop, or its pass's lease in doubt?
    (Lease.valid logs why, once.)"""

    def __init__(self, stop: threading.Event, held: lease.Lease) -> None:
        self._stop = stop
        self._held = held

    def __call__(self) -> bool:
        return self._stop.is_set() or not self._held.valid()


class _Unsettled(Exception):
    """The database could not record what happened to claimed mails (it is away): the thread stops."""


class Sender:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Clock,
        transports: Callable[[], Transport] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.transports = transports or transport_factory(settings)
        self.secret = settings.resolved_secret_key()
        self.host = urlsplit(settings.base_url).hostname or "localhost"
        self._bodies: OrderedDict[int, _Shared] = OrderedDict()
        self._bodies_lock = threading.Lock()
        self._rate = RateLimit(settings.mail.rate_per_second)
        self._dkim = _dkim_signer(settings)
        # marked bounced by this sender: rows of theirs it had already claimed are not sent either
        self._bounced: set[int] = set()
        self._local = threading.local()

    def _writer(self) -> KeptWriter:
        """The write connection this sender thread keeps (Store.kept_writer)."""
        writer: KeptWriter | None = getattr(self._local, "writer", None)
        if writer is None:
            writer = self._local.writer = self.store.kept_writer()
        return writer

    @contextmanager
    def _writing(self, held: lease.Lease | None = None) -> Iterator[Connection]:
        """Like store.writing() (one transaction each), on the thread's kept connection."""
        if held is not None:
            self._fresh_if_lost(held)
        with self._writer().writing() as conn:
            yield conn

    def _mark_sent(self, outbox_id: int, claimant: str, accepted: tuple[int, str] | None) -> bool:
        """Right after the server accepted it, in its own transaction with its attempt (the server's
        reply `accepted`), straight through the driver (mailqueue.mark_sent_now: the hot path of
        delivery). False when the pass no longer held the row."""
        try:
            return self._mark_sent_once(outbox_id, claimant, accepted)
        except Exception as error:
            if not connection_lost(error):
                raise
            # the kept connection had died (a server restart, a cut network path) while the database may
            # well answer again: once more, on a new connection, rather than leave the row to its lease
            return self._mark_sent_once(outbox_id, claimant, accepted)

    def _fresh_if_lost(self, held: lease.Lease) -> None:
        """A pass found lost was most likely frozen or cut off: its kept connection is probably dead, and
        its last writes go on a new one (checked out with a ping) rather than fail on it."""
        if not held.valid():
            self._writer().close(failed=True)

    def _mark_sent_once(self, outbox_id: int, claimant: str, accepted: tuple[int, str] | None) -> bool:
        code, reply = accepted if accepted is not None else (None, None)
        return self._writer().run(
            lambda conn: mailqueue.mark_sent_now(
                conn, outbox_id, self.clock(), claimant, code=code, reply=reply
            )
        )

    def _close_writer(self) -> None:
        writer: KeptWriter | None = getattr(self._local, "writer", None)
        if writer is not None:
            writer.close()

    def _outage(self, error: BaseException) -> str | None:
        """ "down" when the database cannot be reached: one line per outage for the whole process;
        "dropped" when a kept connection died while the database answers a new one (one warning, no
        outage); None for any other error."""
        if not is_unavailable(error):
            return None
        if connection_lost(error) and self._answers():
            log.warning("outbox: a database connection was lost: %s", lease.one_line(error))
            return "dropped"
        Availability.of(self.store.engine).failed(error)
        return "down"

    def _answers(self) -> bool:
        try:
            self.store.ping()
        except Exception:  # noqa: BLE001 - any failure means it does not answer
            return False
        return True

    def recover(self) -> int:
        """Queue again the mails of senders that are gone (lease run out, or a process of this machine
        that no longer runs). Safe anywhere and at any time: a live sender's mails are never taken."""
        now = self.clock()
        with self.store.writing() as conn:
            dead = [claimant for claimant in mailqueue.claimants(conn, now) if lease.gone(claimant)]
            count = mailqueue.recover(conn, now, dead)
        if count:
            log.warning(
                "outbox: %s in flight when a sender stopped: queued again", text.counted(count, "mail")
            )
        return count

    def deliver(
        self,
        *,
        stop: threading.Event | None = None,
        on_sent: Callable[[int], None] = lambda n: None,
        threads: int | None = None,
        leading: Callable[[], bool] = lambda: True,
    ) -> SendReport:
        """Send everything due now, on `mail.connections` parallel connections; returns when done.

        `leading`: asked before each claim; once False (another instance leads now) this pass sends
        what it holds and claims no more."""
        with self.store.reading() as conn:
            if not mailqueue.has_work(conn, self.clock()):
                return SendReport()  # nothing due, nothing in flight: no threads, no claims
        self.recover()
        report = SendReport()
        stop = stop or threading.Event()
        count = threads or self.settings.mail.connections
        with lease.Lease(self.clock, self.renew).kept() as held:
            # each thread stops sending once the lease may lapse: others could take its mails by then
            halt = _Halt(stop, held)
            workers = [
                threading.Thread(
                    target=self._work,
                    args=(report, halt, on_sent, held, leading),
                    name=f"sender-{i}",
                    daemon=True,
                )
                for i in range(count)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        return report

    def renew(self, claimant: str, until: datetime) -> set[int]:
        """Extend this claimant's claims to `until` (its Lease calls it); the ids it still holds."""
        try:
            with self.store.writing() as conn:
                return mailqueue.renew(conn, claimant, until)
        except Exception as error:
            if self._outage(error) is not None:
                raise lease.RenewalFailed from error
            raise

    def _work(
        self,
        report: SendReport,
        halt: Callable[[], bool],
        on_sent: Callable[[int], None],
        held: lease.Lease,
        leading: Callable[[], bool],
    ) -> None:
        transport = self.transports()
        try:
            while not halt() and leading():
                with self._writing() as conn:
                    claimed = mailqueue.claim(conn, self.clock(), CLAIM_SIZE, held.claimant, held.until())
                held.hold(row.id for row in claimed)
                if not claimed or not self._send_claimed(transport, claimed, report, held, halt, on_sent):
                    return
        except _Unsettled:
            return  # logged once for the outage
        except Exception as error:
            if self._outage(error) is None:
                log.exception("outbox: unexpected error while claiming mails")
        finally:
            transport.close()
            self._close_writer()

    def _send_claimed(
        self,
        transport: Transport,
        claimed: list[Claimed],
        report: SendReport,
        held: lease.Lease,
        stop: Callable[[], bool],
        on_sent: Callable[[int], None],
    ) -> bool:
        """Send what this thread claimed; False when it must stop (asked to, no server to use, or the
        claims were found taken)."""
        taken = 0  # claimed[:taken] were handed to the transport or settled here
        waiting: dict[int, Claimed] = {}  # handed to the transport, outcome not known yet

        def outgoing() -> Iterator[tuple[Claimed, str, bytes]]:
            nonlocal taken
            while taken < len(claimed) and not stop():
                row = claimed[taken]
                if row.subscriber_id in self._bounced:
                    taken += 1
                    held.let_go([row.id])
                    with self._writing(held) as conn:
                        self._still_held(held, mailqueue.cancel(conn, [row.id], "bounced", held.claimant), 1)
                    on_sent(1)
                    continue
                try:
                    message = self.message(row)
                except Exception as error:  # a bug must not strand the rows this thread claimed
                    if is_unavailable(error):
                        raise  # not this mail's fault: handed back with the rest
                    taken += 1
                    log.exception("outbox: mail %d to %s: cannot be written", row.id, row.email)
                    self._retry_or_fail(row, f"{type(error).__name__}: {error}", report, held)
                    on_sent(1)
                    continue
                taken += 1
                self._rate.wait()
                waiting[row.id] = row
                yield row, row.email, message

        try:
            for row, error in transport.send_many(self.settings.mail.from_address, outgoing(), dot_safe=True):
                del waiting[row.id]
                self._settle(row, error, report, held, transport.accepted)
                on_sent(1)
        except TemporaryFailure as error:
            # cannot connect or log in: every mail would fail alike, so none is charged an attempt;
            # they wait one retry period, and a misconfiguration loses nothing
            self._pause([*waiting.values(), *claimed[taken:]], str(error), report, held)
            return False
        except Exception as error:  # a bug must not strand the rows this thread claimed
            transport.close()
            trouble = self._outage(error)
            if trouble is None:
                log.exception("outbox: unexpected error while sending")
            self._give_back(error, list(waiting.values()), claimed[taken:], report, held)
            return not stop() and trouble != "down"
        if claimed[taken:]:  # asked to stop: hand back what this thread claimed but did not send
            self._release(claimed[taken:], held)
        return not stop()

    def _give_back(
        self,
        error: Exception,
        waiting: list[Claimed],
        unsent: list[Claimed],
        report: SendReport,
        held: lease.Lease,
    ) -> None:
        """After an unexpected error: the mails whose outcome is unknown are retried later, the others
        handed back. When the database is away this fails too (already logged): their lease runs out
        and recovery queues them again."""
        try:
            for row in waiting:
                self._retry_or_fail(row, f"{type(error).__name__}: {error}", report, held)
            if unsent:
                self._release(unsent, held)
        except Exception as again:
            if self._outage(again) is None:
                raise
            raise _Unsettled from again

    def _still_held(self, held: lease.Lease, changed: int, expected: int) -> bool:
        """A write to rows this pass claimed changed fewer than expected: another sender took them
        (this pass's lease had lapsed), so it sends nothing more."""
        if changed < expected:
            held.lose(f"{expected - changed} mails this pass held were taken by another sender")
            return False
        return True

    def _pause(self, rows: list[Claimed], error: str, report: SendReport, held: lease.Lease) -> None:
        later = self.clock() + timedelta(seconds=max(self.settings.mail.retry_base_seconds, 1))
        ids = [r.id for r in rows]
        held.let_go(ids)
        with self._writing(held) as conn:
            self._still_held(held, mailqueue.postpone(conn, ids, later, error, held.claimant), len(ids))
        report.add(paused=1)
        log.error("outbox: delivery paused, the SMTP server cannot be used: %s", error)

    def _release(self, rows: list[Claimed], held: lease.Lease) -> None:
        ids = [r.id for r in rows]
        held.let_go(ids)
        with self._writing(held) as conn:
            self._still_held(held, mailqueue.release(conn, ids, held.claimant), len(ids))

    def _settle(
        self,
        row: Claimed,
        error: DeliveryError | None,
        report: SendReport,
        held: lease.Lease,
        accepted: tuple[int, str] | None = None,
    ) -> None:
        """Record what the server said of one mail: sent (at once), to retry, or refused for good; each
        with its attempt, in the same transaction."""
        held.let_go([row.id])
        if error is None:
            self._fresh_if_lost(held)
            if self._still_held(held, self._mark_sent(row.id, held.claimant, accepted), 1):
                report.add(sent=1)
            return
        if not isinstance(error, PermanentFailure):
            self._retry_or_fail(row, str(error), report, held, error.code)
            return
        now = self.clock()
        with self._writing(held) as conn:
            if not self._still_held(held, mailqueue.mark_failed(conn, row.id, str(error), held.claimant), 1):
                return
            outcome = mailqueue.Outcome.BOUNCED if error.recipient_refused else mailqueue.Outcome.FAILED
            mailqueue.record_attempt(
                conn, row.id, now, outcome, held.claimant, code=error.code, reply=str(error)
            )
            bounced = error.recipient_refused and record_hard_bounce(
                conn, row.subscriber_id, self.settings.bounce.hard_limit, now
            )
        report.add(failed=1)
        if bounced:
            self._bounced.add(row.subscriber_id)
            report.add(bounced=1)
            log.warning(
                "outbox: %s refused %s: marked bounced",
                row.email,
                text.counted(self.settings.bounce.hard_limit, "time"),
            )
        log.warning("outbox: mail %d to %s refused for good: %s", row.id, row.email, error)

    def _retry_or_fail(
        self, row: Claimed, error: str, report: SendReport, held: lease.Lease, code: int | None = None
    ) -> None:
        mail = self.settings.mail
        attempts = row.attempts + 1
        held.let_go([row.id])
        now = self.clock()
        with self._writing(held) as conn:
            if attempts >= mail.max_attempts:
                why = f"gave up after {text.counted(attempts, 'attempt')}: {error}"
                if self._still_held(held, mailqueue.mark_failed(conn, row.id, why, held.claimant), 1):
                    mailqueue.record_attempt(
                        conn, row.id, now, mailqueue.Outcome.FAILED, held.claimant, code=code, reply=error
                    )
                    report.add(failed=1)
                    log.warning(
                        "outbox: mail %d to %s failed %s: %s",
                        row.id,
                        row.email,
                        text.counted(attempts, "time"),
                        error,
                    )
                return
            delay = min(mail.retry_base_seconds * 2 ** (attempts - 1), mail.retry_max_seconds)
            at = now + timedelta(seconds=delay)
            if not self._still_held(held, mailqueue.mark_retry(conn, row.id, error, at, held.claimant), 1):
                return
            mailqueue.record_attempt(
                conn, row.id, now, mailqueue.Outcome.RETRY, held.claimant, code=code, reply=error
            )
        report.add(retried=1)
        log.info("outbox: mail %d to %s will be retried in %.0fs: %s", row.id, row.email, delay, error)

    def _shared(self, body_id: int) -> _Shared:
        """A body with its subject and digest parts, read once and kept (a run has one frame)."""
        shared = self._bodies.get(body_id)
        if shared is None:
            with self.store.reading() as conn:
                subject, language = mailqueue.subject_and_language(conn, body_id)
                shared = _Shared(
                    subject,
                    Template.parse(mailqueue.body(conn, body_id)),
                    {  # parts stored by an older version may have lines starting with a dot
                        slug: mailqueue.Part(
                            part.articles, no_leading_dots(part.text_qp), no_leading_dots(part.html_qp)
                        )
                        for slug, part in mailqueue.load_parts(conn, body_id).items()
                    },
                    language,
                )
            with self._bodies_lock:
                self._bodies[body_id] = shared
                self._bodies.move_to_end(body_id)
                while len(self._bodies) > 64:
                    self._bodies.popitem(last=False)
        return shared

    def message(self, row: Claimed) -> bytes:
        """The recipient's copy of the shared body: its headers, its links, its fixed Message-ID."""
        base = self.settings.base_url
        shared = self._shared(row.body_id)
        slots: dict[str, str] = {}
        list_unsubscribe = None
        if row.kind is OutboxKind.CONFIRM:
            slots[CONFIRM_SLOT] = links.in_mail_language(
                links.confirm(base, row.token or ""), shared.language
            )
        else:
            unsubscribe, preferences = subscriber_tokens(self.secret, row.subscriber_id, row.email)
            # the header's link is for the mail provider's one-click POST (RFC 8058): no page, no language
            list_unsubscribe = links.unsubscribe(base, unsubscribe)
            slots[UNSUBSCRIBE_SLOT] = links.in_mail_language(list_unsubscribe, shared.language)
            slots[PREFERENCES_SLOT] = links.in_mail_language(
                links.preferences(base, preferences), shared.language
            )
        subject = None
        encoded: dict[str, bytes] = {}
        if row.parts is not None:
            # a digest: the frame joined with the parts this recipient chose, counted in the subject
            chosen = [shared.parts[slug] for slug in row.parts if slug in shared.parts]
            total = sum(part.articles for part in chosen)
            count = news_count(total, shared.language)  # "3 tin mới", "1 new article"
            subject = shared.subject.replace(COUNT, count).replace("{total}", str(total))
            slots[COUNT_SLOT] = count
            slots[TOTAL_SLOT] = str(total)  # a frame stored before 0012 (a bare number and its noun)
            encoded[PARTS_TEXT_SLOT] = b"".join(part.text_qp for part in chosen)
            encoded[PARTS_HTML_SLOT] = b"".join(part.html_qp for part in chosen)
        fixed = hashlib.sha256(f"{base}\n{row.id}".encode()).hexdigest()[:12]
        message = finish(
            shared.template,
            to_address=row.email,
            to_name=row.name,
            message_id=f"<{row.id}.{fixed}@{self.host}>",
            date=self.clock().astimezone(self.settings.tz),
            slots=slots,
            list_unsubscribe=list_unsubscribe,
            subject=subject,
            encoded_slots=encoded,
        )
        return self._dkim(message) if self._dkim else message


def purge_outbox(store: Store, now: datetime, keep_days: int) -> int:
    """Mails done with for more than `keep_days` are forgotten (see mailqueue.purge)."""
    with store.writing() as conn:
        count = mailqueue.purge(conn, now - timedelta(days=keep_days))
    if count:
        log.info(
            "outbox: %s older than %s deleted", text.counted(count, "mail"), text.counted(keep_days, "day")
        )
    return count


def _dkim_signer(settings: Settings) -> Callable[[bytes], bytes] | None:
    mail = settings.mail
    # the settings check made sure the three come together and the key loads
    if not (mail.dkim_domain and mail.dkim_selector and mail.dkim_key_file):
        return None
    # imported here, not at the top: no cycle hides behind it, but dkimpy (and its crypto) is loaded
    # only when a key is configured
    from syndicator.mail import dkim

    return dkim.signer(mail.dkim_domain, mail.dkim_selector, mail.dkim_key_file)
