"""A real SMTP server for the mail tests: aiosmtpd on a free loopback port, in a thread of the test process.

It records every message it accepts (envelope, raw bytes, which connection carried it), counts the
connections clients opened, and can be told to misbehave the way real servers do:

- `Fault("RCPT", "451 4.7.1 try later")` / `Fault("DATA", "550 5.7.1 no")`: reply so instead of 250;
- `Fault("DATA", DROP)`: close the connection after the message arrived, before the reply (the client
  cannot know whether it went through);
- `Fault("DATA", STALL)`: do not answer until the test ends (the client's timeout fires);
- `per_connection=N`: after N messages on one connection, answer MAIL with 421 and hang up;
- `refuse_greetings=N`: greet the next N connections with 421 and hang up ("too many connections").

Faults apply to one recipient (or any), a number of times. `data_delay` slows every DATA reply a
little (to make a run last long enough to be interrupted). `reached(n)` is an Event set once n
messages were accepted: tests wait on it, never on a sleep. STARTTLS, implicit TLS and AUTH are
aiosmtpd's own (`tls_context`/`ssl_context`, `require_starttls`, `auth_require_tls`). The server
offers PIPELINING unless told not to (`pipelining=False`), so both ways of sending are exercised.
"""

from __future__ import annotations

import asyncio
import email
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

HOST = "127.0.0.1"
DROP = "drop"  # a Fault reply: close the connection without answering
STALL = "stall"  # a Fault reply: answer nothing until the server stops


@dataclass
class Fault:
    stage: str  # "RCPT" or "DATA"
    reply: str  # an SMTP reply ("451 4.3.0 busy"), DROP or STALL
    recipient: str | None = None  # None: any recipient
    times: int = 1  # how many times it strikes; -1: every time

    def matches(self, stage: str, recipient: str) -> bool:
        if self.times == 0 or self.stage != stage:
            return False
        return self.recipient is None or self.recipient.casefold() == recipient.casefold()


@dataclass(frozen=True)
class Received:
    connection: int
    mail_from: str
    recipients: tuple[str, ...]
    data: bytes  # as received: CRLF line ends, dot-unstuffed
    tls: bool = False  # the connection was encrypted (STARTTLS or implicit TLS)
    authenticated: bool = False

    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Recorder:
    """The aiosmtpd handler: records, counts, injects faults. Thread-safe for the test's side."""

    data_delay: float = 0.0
    pipelining: bool = True  # offer PIPELINING (RFC 2920), as Postfix and most servers do
    per_connection: int = 0  # take at most this many messages per connection, then 421 at MAIL (0: any)
    refuse_greetings: int = 0  # greet this many more connections with 421 instead of 220
    faults: list[Fault] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (stage, recipient, reply)
    connections: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changed: threading.Condition = field(init=False)
    _thresholds: list[tuple[int, threading.Event]] = field(default_factory=list)
    _released: threading.Event = field(default_factory=threading.Event)
    _connection_of: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    # --- aiosmtpd side ------------------------------------------------------------------------------

    def connected(self, server: SMTP) -> bool:
        """Count a new connection; True when it is to be turned away at the greeting."""
        with self._lock:
            self.connections += 1
            self._connection_of[id(server)] = self.connections
            if self.refuse_greetings <= 0:
                return False
            self.refuse_greetings -= 1
            self.refused.append(("GREETING", "", "421"))
            return True

    def _fault(self, stage: str, recipient: str) -> str | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(stage, recipient):
                    fault.times -= 1 if fault.times > 0 else 0
                    self.refused.append((stage, recipient, fault.reply))
                    self._changed.notify_all()
                    return fault.reply
        return None

    async def _misbehave(self, server: SMTP, reply: str) -> str:
        if reply == STALL:
            while not self._released.is_set():
                await asyncio.sleep(0.01)
            return "451 4.3.0 stalled"
        if reply == DROP:
            assert server.transport is not None
            server.transport.close()
            return "451 4.3.0 dropped"  # written to a closed transport: the client sees EOF
        return reply

    async def handle_EHLO(
        self, server: SMTP, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        limited = False
        if self.per_connection:  # counted only when a test sets a limit: every MAIL comes here
            connection = self._connection_of.get(id(server), 0)
            with self._lock:
                carried = sum(1 for r in self.received if r.connection == connection)
                limited = carried >= self.per_connection
                if limited:
                    self.refused.append(("MAIL", "", "421"))
        if limited:  # as Exim does past smtp_accept_max_per_connection
            await server.push("421 4.7.0 too many messages in this connection")
            assert server.transport is not None
            server.transport.close()
            return "421 4.7.0 closed"  # written to a closed transport: nobody reads it
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self._fault("RCPT", address)
        if reply is not None:
            return await self._misbehave(server, reply)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        recipient = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        reply = self._fault("DATA", recipient)
        if reply is not None:
            return await self._misbehave(server, reply)
        transport = server.transport
        tls = transport is not None and transport.get_extra_info("ssl_object") is not None
        with self._lock:
            self.received.append(
                Received(
                    self._connection_of.get(id(server), 0),
                    envelope.mail_from,
                    tuple(envelope.rcpt_tos),
                    bytes(envelope.original_content),
                    tls=tls,
                    authenticated=bool(session.authenticated),
                )
            )
            count = len(self.received)
            for threshold, event in self._thresholds:
                if count >= threshold:
                    event.set()
            self._changed.notify_all()
        return "250 2.0.0 queued"

    # --- test side ----------------------------------------------------------------------------------

    def reached(self, count: int) -> threading.Event:
        """An Event set once `count` messages have been accepted."""
        event = threading.Event()
        with self._lock:
            self._thresholds.append((count, event))
            if len(self.received) >= count:
                event.set()
        return event

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Block until at least `count` messages were accepted (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.received)} messages received, expected {count}")
                self._changed.wait(left)
            return list(self.received)

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def per_recipient(self) -> Counter[str]:
        return Counter(r for message in self.messages() for r in message.recipients)

    def release(self) -> None:
        self._released.set()


class _Server(SMTP):
    """aiosmtpd's SMTP session, which can greet with 421 and hang up, as a server at its limit does."""

    turned_away = False

    async def _handle_client(self) -> None:
        if not self.turned_away:
            await super()._handle_client()
            return
        await self.push("421 4.7.0 too many connections, try again later")
        assert self.transport is not None
        self.transport.close()


class _CountingController(Controller):
    """aiosmtpd's threaded controller; each SMTP instance it makes is one client connection."""

    recorder: Recorder

    def factory(self) -> SMTP:
        server = _Server(self.handler, **self.SMTP_kwargs)
        server.turned_away = self.recorder.connected(server)
        return server


@dataclass
class SmtpServer:
    recorder: Recorder
    controller: Controller
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        credentials = f"{self.username}:{self.password}@" if self.username else ""
        scheme = "smtps" if self.controller.ssl_context else "smtp"
        return f"{scheme}://{credentials}{HOST}:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server(
    *,
    data_delay: float = 0.0,
    tls_context: ssl.SSLContext | None = None,
    ssl_context: ssl.SSLContext | None = None,
    credentials: tuple[str, str] | None = None,
    pipelining: bool = True,
) -> Iterator[SmtpServer]:
    """A running server. `tls_context`: STARTTLS offered and required; `ssl_context`: implicit TLS
    (smtps); `credentials`: AUTH required (over TLS only, aiosmtpd's default)."""
    recorder = Recorder(data_delay=data_delay, pipelining=pipelining)
    kwargs: dict[str, Any] = {}
    if tls_context is not None:
        kwargs.update(tls_context=tls_context, require_starttls=True)
    if credentials is not None:
        login, password = (part.encode() for part in credentials)

        def authenticator(server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (login, password)
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends the 535

        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)
    error: Exception | None = None
    for _ in range(5):  # another test may take the free port before we bind it
        port = _free_port()
        controller = _CountingController(
            recorder,
            hostname=HOST,
            port=port,
            ssl_context=ssl_context,
            server_hostname="smtp.test",  # not socket.getfqdn(): no DNS lookups
            ready_timeout=15.0,
            **kwargs,
        )
        controller.recorder = recorder
        try:
            controller.start()
        except Exception as exc:  # noqa: BLE001 - bind failures surface here, whatever their type
            error = exc
            continue
        break
    else:
        raise RuntimeError(f"cannot start the SMTP server: {error}")
    with recorder._lock:
        recorder.connections = 0  # the controller's own readiness probe is not a client
    server = SmtpServer(recorder, controller, port, *(credentials or (None, None)))
    try:
        yield server
    finally:
        recorder.release()
        controller.stop()
