"""Delivery of finished messages: SMTP (the only smtplib user) or a maildir under var/.

Failures are sorted into TemporaryFailure (4xx, timeouts, dropped connections: try again later)
and PermanentFailure (5xx: do not retry). `recipient_refused` tells a bounce from a refusal that is
not the recipient's fault (e.g. our sender address refused).
"""

from __future__ import annotations

import base64
import os
import smtplib
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit


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


class Transport(Protocol):
    def send(self, sender: str, recipient: str, message: bytes) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpAddress:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None
    verify: bool
    local_hostname: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpAddress:
        """smtp://user:pass@host:587?starttls=true, smtps://user:pass@host:465 (?verify=false)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"{parts.scheme or 'no'} scheme: use smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("no host in the SMTP URL")
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        known = {"starttls", "verify", "local_hostname"}
        unknown = sorted(set(query) - known)
        if unknown:
            raise ValueError(f"unknown SMTP URL option(s): {', '.join(unknown)}")
        flags = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        for name in ("starttls", "verify"):
            if name in query and query[name] not in flags:
                raise ValueError(f"{name} must be true or false")
        implicit = parts.scheme == "smtps"
        try:
            port = parts.port or (465 if implicit else 25)
        except ValueError:
            raise ValueError("bad port in the SMTP URL") from None
        return cls(
            host=parts.hostname,
            port=port,
            implicit_tls=implicit,
            starttls=flags.get(query.get("starttls", "false"), False),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            verify=flags.get(query.get("verify", "true"), True),
            local_hostname=query.get("local_hostname"),
        )


class SmtpTransport:
    """One reused SMTP connection (a sender thread owns one); reconnects after any failure."""

    def __init__(
        self, address: SmtpAddress, *, timeout: float = 30, tls_context: ssl.SSLContext | None = None
    ):
        self.address = address
        self.timeout = timeout
        self.tls_context = tls_context or ssl.create_default_context()
        if not address.verify:
            self.tls_context.check_hostname = False
            self.tls_context.verify_mode = ssl.CERT_NONE
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        a = self.address
        smtp: smtplib.SMTP
        if a.implicit_tls:
            smtp = smtplib.SMTP_SSL(
                a.host,
                a.port,
                timeout=self.timeout,
                context=self.tls_context,
                local_hostname=a.local_hostname,
            )
        else:
            smtp = smtplib.SMTP(a.host, a.port, timeout=self.timeout, local_hostname=a.local_hostname)
        try:
            smtp.ehlo()
            if a.starttls:
                smtp.starttls(context=self.tls_context)
                smtp.ehlo()
            if a.username:
                _login(smtp, a.username, a.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except smtplib.SMTPAuthenticationError as error:
                raise TemporaryFailure(
                    f"SMTP login refused ({error.smtp_code})", code=error.smtp_code, server_unusable=True
                ) from None
            except (TimeoutError, smtplib.SMTPException, OSError) as error:
                raise TemporaryFailure(
                    f"cannot connect to the SMTP server: {type(error).__name__}: {error}",
                    server_unusable=True,
                ) from None
        try:
            if self._pipelining:
                _send_pipelined(self._smtp, sender, recipient, message)
            else:
                self._smtp.sendmail(sender, [recipient], message)
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = error.recipients.get(recipient, (550, b""))
            self._after_refusal(code)
            raise _classify(code, reply, recipient_refused=True) from None
        except smtplib.SMTPSenderRefused as error:
            self._after_refusal(error.smtp_code)
            raise _classify(error.smtp_code, error.smtp_error, recipient_refused=False) from None
        except smtplib.SMTPDataError as error:
            # refused at DATA: often the content or a policy, not the mailbox, so it is no bounce
            self._after_refusal(error.smtp_code)
            raise _classify(error.smtp_code, error.smtp_error, recipient_refused=False) from None
        except smtplib.SMTPAuthenticationError as error:
            self.close()
            raise TemporaryFailure(f"SMTP login refused ({error.smtp_code})", code=error.smtp_code) from None
        except smtplib.SMTPResponseException as error:
            self.close()
            raise _classify(error.smtp_code, error.smtp_error, recipient_refused=False) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            self.close()
            raise TemporaryFailure(f"connection problem: {type(error).__name__}: {error}") from None

    @property
    def _pipelining(self) -> bool:
        return self._smtp is not None and self._smtp.has_extn("pipelining")

    def _after_refusal(self, code: int) -> None:
        if code == 421 or self._smtp is None:
            self.close()  # 421: the server is closing the channel
            return
        try:
            self._smtp.rset()
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


def _send_pipelined(smtp: smtplib.SMTP, sender: str, recipient: str, message: bytes) -> None:
    """RFC 2920: MAIL, RCPT and DATA in one write, their replies read in order; two round trips a
    mail instead of four. Raises the same smtplib errors as sendmail()."""
    smtp.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode("ascii"))
    mail_code, mail_reply = smtp.getreply()
    rcpt_code, rcpt_reply = smtp.getreply()
    data_code, data_reply = smtp.getreply()
    if mail_code != 250 or rcpt_code not in (250, 251):
        if data_code == 354:  # a lenient server opened DATA anyway: close it empty, then reset
            smtp.send(b".\r\n")
            smtp.getreply()
        if mail_code != 250:
            raise smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
        raise smtplib.SMTPRecipientsRefused({recipient: (rcpt_code, rcpt_reply)})
    if data_code != 354:
        raise smtplib.SMTPDataError(data_code, data_reply)
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    smtp.send(stuffed + b".\r\n")
    code, reply = smtp.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


def _classify(code: int, reply: bytes | str, *, recipient_refused: bool) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    message = f"{code} {text}".strip()
    if 500 <= code < 600:
        return PermanentFailure(message, code=code, recipient_refused=recipient_refused)
    return TemporaryFailure(message, code=code, recipient_refused=recipient_refused)


class MaildirTransport:
    """The embedded default: each mail becomes a file in var/outbox/new (maildir), nothing leaves."""

    def __init__(self, root: Path) -> None:
        self.root = root
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

    def close(self) -> None:
        pass
