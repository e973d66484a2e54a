"""Delivery of finished messages: SMTP (the only smtplib user) or a maildir under var/.

Failures are sorted into TemporaryFailure (4xx, timeouts, dropped connections: try again later)
and PermanentFailure (5xx: do not retry). `recipient_refused` tells a bounce from a refusal that is
not the recipient's fault (e.g. our sender address refused).
"""

from __future__ import annotations

import base64
import os
import random
import smtplib
import socket
import ssl
import time
import uuid
from collections.abc import Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from syndicator.smtpurl import SmtpAddress


class DeliveryError(Exception):
    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        recipient_refused: bool = False,
        server_unusable: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.recipient_refused = recipient_refused
        # cannot connect, log in or secure the connection: no mail can go, whoever it is for
        self.server_unusable = server_unusable


class TemporaryFailure(DeliveryError):
    pass


class PermanentFailure(DeliveryError):
    pass


class _ClosedAtMail(TemporaryFailure):
    """421 to MAIL FROM: the server ends the session before this mail started (many servers take
    only so many messages per connection, e.g. Exim's 1,000). Tried again on a new connection."""


K = TypeVar("K")


class Transport(Protocol):
    @property
    def accepted(self) -> tuple[int, str] | None:
        """The server's reply to the last message it accepted (code, text): the attempt's record."""

    def send_many(
        self, sender: str, mails: Iterable[tuple[K, str, bytes]], *, dot_safe: bool = False
    ) -> Iterator[tuple[K, DeliveryError | None]]: ...

    def close(self) -> None: ...


# Seconds to wait before each new try of a connection the server turned away for now (a 4xx at the
# greeting or in the handshake, or a hang-up: "too many connections"); then the sender pauses.
CONNECT_BACKOFF = (0.5, 1.0, 2.0, 4.0)


class SmtpTransport:
    """One reused SMTP connection (a sender thread owns one); reconnects after any failure."""

    def __init__(
        self,
        address: SmtpAddress,
        *,
        timeout: float = 30,
        tls_context: ssl.SSLContext | None = None,
        connect_backoff: Sequence[float] = CONNECT_BACKOFF,
    ):
        self.address = address
        self.timeout = timeout
        self.connect_backoff = tuple(connect_backoff)
        self._tls_context = tls_context
        if tls_context is not None and not address.verify:
            _unverified(tls_context)
        self._smtp: smtplib.SMTP | None = None
        self._carried = 0  # messages the current connection has carried
        # the server's reply to the content of the last mail reported sent (code, text)
        self.accepted: tuple[int, str] | None = None

    def _tls(self) -> ssl.SSLContext:
        """The TLS context, made when first needed: loading the system's CA certificates takes ~0.1 s of
        CPU per sender thread, spent for nothing on a plain connection (a local relay)."""
        if self._tls_context is None:
            context = ssl.create_default_context()
            if not self.address.verify:
                _unverified(context)
            self._tls_context = context
        return self._tls_context

    def _connect(self) -> smtplib.SMTP:
        a = self.address
        smtp: smtplib.SMTP
        if a.implicit_tls:
            smtp = smtplib.SMTP_SSL(
                a.host,
                a.port,
                timeout=self.timeout,
                context=self._tls(),
                local_hostname=a.local_hostname,
            )
        else:
            smtp = smtplib.SMTP(a.host, a.port, timeout=self.timeout, local_hostname=a.local_hostname)
        try:
            smtp.ehlo()
            if a.starttls:
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if a.username:
                _login(smtp, a.username, a.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send_many(
        self, sender: str, mails: Iterable[tuple[K, str, bytes]], *, dot_safe: bool = False
    ) -> Iterator[tuple[K, DeliveryError | None]]:
        """Each mail's outcome as soon as the server gave it, in order.

        With PIPELINING (RFC 2920) the end of one message goes in the same write as the next one's
        MAIL, RCPT and DATA: one round trip per message. The next mail is taken from `mails` before
        the current one's outcome is known, so at most one message per connection is ever in flight
        unreported. Raises TemporaryFailure(server_unusable) when it cannot connect or log in; the
        mails taken but not reported by then were not sent. `dot_safe`: no line of any message starts
        with a dot (mime.no_leading_dots), so the messages need no dot-stuffing scan.
        """
        queue = iter(mails)
        item = next(queue, None)
        while item is not None:
            smtp = self._open()
            if smtp.has_extn("pipelining"):
                item = yield from self._pipeline(smtp, sender, item, queue, dot_safe)
                continue
            carried = self._carried
            error = self._send_plain(smtp, sender, item[1], item[2])
            if isinstance(error, _ClosedAtMail) and carried:
                continue  # the same mail again, on a new connection
            yield item[0], error
            item = next(queue, None)

    def _open(self) -> smtplib.SMTP:
        """The connection, opened if needed. A server busy for now is tried again after a pause (one
        busy greeting must not idle this sender for the rest of the pass); one that cannot be used
        raises TemporaryFailure(server_unusable)."""
        if self._smtp is not None:
            return self._smtp
        waits = iter(self.connect_backoff)
        while True:
            try:
                self._smtp = self._connect()
            except (TimeoutError, smtplib.SMTPException, OSError) as error:
                wait = next(waits, None) if _busy(error) else None
                if wait is None:
                    raise _unusable(error) from None
                time.sleep(wait * random.uniform(0.5, 1.0))  # spread the threads turned away together
                continue
            self._carried = 0
            return self._smtp

    def _pipeline(
        self,
        smtp: smtplib.SMTP,
        sender: str,
        current: tuple[K, str, bytes],
        queue: Iterator[tuple[K, str, bytes]],
        dot_safe: bool,
    ) -> Generator[tuple[K, DeliveryError | None], None, tuple[K, str, bytes] | None]:
        """Send from `current` on while the connection lasts; returns the mail to go on with."""
        try:
            smtp.send(_envelope(sender, current[1]))
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            yield current[0], self._broken(error)
            return next(queue, None)
        while True:
            refused = self._envelope_replies(smtp, current[1])
            if isinstance(refused, _ClosedAtMail) and self._carried:
                return current  # the same mail again, on a new connection
            if refused is not None:
                yield current[0], refused
                return next(queue, None)
            following = next(queue, None)
            payload = _stuffed(
                current[2], dot_safe, b"" if following is None else _envelope(sender, following[1])
            )
            try:
                smtp.send(payload)
                code, reply = smtp.getreply()
            except (TimeoutError, smtplib.SMTPException, OSError) as error:
                yield current[0], self._broken(error)
                return following  # its envelope went on a connection now closed: it was not sent
            if code == 250:
                self._carried += 1
                self.accepted = (code, _text(reply))
                yield current[0], None
            else:
                # refused after the content: often the content or a policy, not the mailbox, so no bounce
                yield current[0], _classify(code, reply, recipient_refused=False)
                if code == 421:
                    self.close()
                    return following
            if following is None:
                return None
            current = following

    def _envelope_replies(self, smtp: smtplib.SMTP, recipient: str) -> DeliveryError | None:
        """The replies to MAIL, RCPT and DATA; None when the server waits for the content."""
        replies: list[tuple[int, bytes]] = []
        try:
            for _ in range(3):
                replies.append(smtp.getreply())
                if replies[-1][0] == 421:  # the server is closing the channel: nothing more comes
                    self.close()
                    if len(replies) == 1:
                        return _ClosedAtMail(_describe(*replies[0]), code=421)
                    return _classify(*replies[-1], recipient_refused=False)
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            return self._broken(error)
        (mail_code, mail_reply), (rcpt_code, rcpt_reply), (data_code, data_reply) = replies
        if mail_code == 250 and rcpt_code in (250, 251):
            if data_code == 354:
                return None
            self._after_refusal(smtp)
            return _classify(data_code, data_reply, recipient_refused=False)
        try:
            if data_code == 354:  # a lenient server opened DATA anyway: close it empty
                smtp.send(b".\r\n")
                smtp.getreply()
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            return self._broken(error)
        self._after_refusal(smtp)
        if mail_code != 250:
            return _classify(mail_code, mail_reply, recipient_refused=False)
        return _classify(rcpt_code, rcpt_reply, recipient_refused=True)

    def _send_plain(
        self, smtp: smtplib.SMTP, sender: str, recipient: str, message: bytes
    ) -> DeliveryError | None:
        """One mail the classic way (four round trips), for servers without PIPELINING."""
        try:
            code, reply = _sendmail(smtp, sender, recipient, message)
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = error.recipients.get(recipient, (550, b""))
            self._after_refusal(smtp, code)
            return _classify(code, reply, recipient_refused=code != 421)  # 421: the server, not them
        except smtplib.SMTPSenderRefused as error:
            self._after_refusal(smtp, error.smtp_code)
            if error.smtp_code == 421:
                return _ClosedAtMail(_describe(error.smtp_code, error.smtp_error), code=421)
            return _classify(error.smtp_code, error.smtp_error, recipient_refused=False)
        except smtplib.SMTPDataError as error:
            # refused at DATA: often the content or a policy, not the mailbox, so it is no bounce
            self._after_refusal(smtp, error.smtp_code)
            return _classify(error.smtp_code, error.smtp_error, recipient_refused=False)
        except smtplib.SMTPAuthenticationError as error:
            self.close()
            return TemporaryFailure(f"SMTP login refused ({error.smtp_code})", code=error.smtp_code)
        except smtplib.SMTPResponseException as error:
            self.close()
            return _classify(error.smtp_code, error.smtp_error, recipient_refused=False)
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            return self._broken(error)
        self._carried += 1
        self.accepted = (code, _text(reply))
        return None

    def _broken(self, error: BaseException) -> TemporaryFailure:
        self.close()
        return TemporaryFailure(f"connection problem: {type(error).__name__}: {error}")

    def _after_refusal(self, smtp: smtplib.SMTP, code: int = 0) -> None:
        """A refused transaction is reset before the next; 421 means the server is closing."""
        if code == 421:
            self.close()
            return
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _unverified(context: ssl.SSLContext) -> None:
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE


def _busy(error: BaseException) -> bool:
    """Turned away for now at connection time: a 4xx reply, or a hang-up before any reply."""
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    return isinstance(error, smtplib.SMTPServerDisconnected)


def _unusable(error: BaseException) -> TemporaryFailure:
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return TemporaryFailure(
            f"SMTP login refused ({error.smtp_code})", code=error.smtp_code, server_unusable=True
        )
    return TemporaryFailure(
        f"cannot connect to the SMTP server: {type(error).__name__}: {error}", server_unusable=True
    )


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """smtplib sends credentials as ASCII only; AUTH PLAIN carries UTF-8 (RFC 4616), so others go so."""
    if user.isascii() and password.isascii():
        smtp.login(user, password)
        return
    smtp.ehlo_or_helo_if_needed()
    if "PLAIN" not in smtp.esmtp_features.get("auth", "").upper().split():
        raise smtplib.SMTPNotSupportedError("the server offers no AUTH PLAIN for a non-ASCII login")
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode("ascii")
    code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _sendmail(smtp: smtplib.SMTP, sender: str, recipient: str, message: bytes) -> tuple[int, bytes]:
    """smtplib's sendmail for one recipient, keeping the server's reply to the content (sendmail drops
    it): the same commands, and the same exceptions in the same cases. What follows a refusal (RSET,
    or closing after a 421) is left to the caller (SmtpTransport._after_refusal)."""
    smtp.ehlo_or_helo_if_needed()
    options = [f"size={len(message)}"] if smtp.does_esmtp and smtp.has_extn("size") else []
    code, reply = smtp.mail(sender, options)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = smtp.rcpt(recipient)
    if code not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    code, reply = smtp.data(message)
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)
    return code, reply


def _envelope(sender: str, recipient: str) -> bytes:
    return f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode("ascii")


def _stuffed(message: bytes, dot_safe: bool = False, then: bytes = b"") -> bytes:
    """The content as DATA carries it (RFC 5321 4.5.2: a line starting with a dot gets another),
    with its end mark, and `then` (the next mail's envelope) after it: one copy of the message."""
    stuffed = message if dot_safe else message.replace(b"\r\n.", b"\r\n..")
    return b"".join(
        (
            b"." if stuffed.startswith(b".") else b"",
            stuffed,
            b"" if stuffed.endswith(b"\r\n") else b"\r\n",
            b".\r\n",
            then,
        )
    )


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _describe(code: int, reply: bytes | str) -> str:
    return f"{code} {_text(reply)}".strip()


def _classify(code: int, reply: bytes | str, *, recipient_refused: bool) -> DeliveryError:
    message = _describe(code, reply)
    if 500 <= code < 600:
        return PermanentFailure(message, code=code, recipient_refused=recipient_refused)
    return TemporaryFailure(message, code=code, recipient_refused=recipient_refused)


class MaildirTransport:
    """The embedded default: each mail becomes a file in var/outbox/new (maildir), nothing leaves."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.accepted: tuple[int, str] | None = None  # no server: no reply
        for sub in ("tmp", "new", "cur"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.{socket.gethostname().replace('/', '_')}"
        temporary = self.root / "tmp" / name
        try:
            envelope = f"Return-Path: <{sender}>\r\nDelivered-To: {recipient}\r\n".encode()
            with open(temporary, "wb") as handle:
                handle.write(envelope + message)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(temporary, self.root / "new" / f"{name}.eml")
        except OSError as error:
            raise TemporaryFailure(f"cannot write the maildir: {error}") from None

    def send_many(
        self, sender: str, mails: Iterable[tuple[K, str, bytes]], *, dot_safe: bool = False
    ) -> Iterator[tuple[K, DeliveryError | None]]:
        for key, recipient, message in mails:
            try:
                self.send(sender, recipient, message)
            except DeliveryError as error:
                yield key, error
            else:
                yield key, None

    def close(self) -> None:
        pass
