"""Chaos run: the leader loses its advisory-lock connection five times while it sends 2,000 mails.

    .venv/bin/python bench/chaos_leader.py                  # one `syndicator serve`
    .venv/bin/python bench/chaos_leader.py --instances 2    # two, on the same schema

A fresh schema on the PostgreSQL server at SYNDICATOR_BENCH_PG_URL (default 127.0.0.1:5432/test) gets
2,000 confirmed `immediate` subscribers of every category. An SMTP server in this script (aiosmtpd)
takes each message after a delay (--delay, default 0.1 s), so the send lasts long enough to be
interrupted. `syndicator serve` starts as a real process (or several) with SYNDICATOR_SMTP_URL pointing
at it; once the immediate job has looked once, an article is published through the CMS API, and the
leader queues 2,000 mails and sends them. From the first mail on, the session holding the leader lock
(found in pg_locks) is ended with pg_terminate_backend five times, each once the lock is held again
(no process dies). Then the script waits until the outbox has nothing pending or sending (bounded) and
prints what the SMTP server counted: received, unique recipients, duplicates, lost. Exit status 0 when
nothing was lost or duplicated.

    .venv/bin/python bench/chaos_leader.py --freeze 70 --delay 0.2    # two instances, the leader frozen

`--freeze SECONDS`: instead of the terminations, two instances each reach PostgreSQL through a TCP relay
of this script. Once `--freeze-at` mails arrived, the leader is stopped (SIGSTOP) and every one of its
database connections cut at its relay (its lock session included), so the other instance takes the
lead and, once the frozen leader's leases ran out, its mails. After SECONDS the relay comes back and
the leader is continued (SIGCONT). Only the mails in flight at the freeze (received within 2 s of it)
may arrive twice; the exit status is 0 when nothing was lost and no other mail arrived twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from common import PG_URL, machine, postgres_problem, postgres_schema  # bench/ is on sys.path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.relay import Relay

from syndicator.leader import LEADER_LOCK
from syndicator.store import Store
from syndicator.store.schema import job_state, outbox, subscribers
from syndicator.store.subscribers import encode_categories

SUBSCRIBERS = 2000
TERMINATIONS = 5
TOKEN = "chaos-token-0123456789abcdef"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Counting:
    """The aiosmtpd handler: takes every message after `delay` seconds and counts its recipients."""

    delay: float
    received: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        with self.lock:
            self.received.update(envelope.rcpt_tos)
        return "250 2.0.0 queued"

    def total(self) -> int:
        with self.lock:
            return sum(self.received.values())

    def snapshot(self) -> Counter[str]:
        with self.lock:
            return Counter(self.received)


def relayed(url: str, relay: Relay) -> str:
    return make_url(url).set(host=HOST, port=relay.port).render_as_string(hide_password=False)


def prepare(url: str) -> list[str]:
    store = Store.open(url)
    now = datetime.now(UTC)
    addresses = [f"nguoi.dan{i:05d}@xa{i % 37}.thoxuan.test" for i in range(SUBSCRIBERS)]
    rows = [
        {
            "email": address,
            "email_key": address,
            "name": None,
            "status": "confirmed",
            "source": "import",
            "categories": encode_categories(None),  # every category
            "frequency": "immediate",
            "hard_bounces": 0,
            "created_at": now,
            "updated_at": now,
            "confirmed_at": now,
        }
        for address in addresses
    ]
    try:
        with store.writing() as conn:
            conn.execute(subscribers.insert(), rows)
    finally:
        store.close()
    return addresses


def wait_for(condition: Callable[[], Any], what: str, timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {timeout:g} s: {what}")
        time.sleep(interval)


def leader_backend(admin: psycopg.Connection[Any], schema: str) -> int | None:
    """The pid of the session holding this schema's leader lock (leader.py: two-key advisory lock)."""
    row = admin.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2"
        " AND classid = %s::bigint::oid AND objid = (hashtext(%s)::bigint & 4294967295)::oid"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (LEADER_LOCK, schema),
    ).fetchone()
    return int(row[0]) if row else None


def outbox_states(store: Store) -> dict[str, int]:
    with store.reading() as conn:
        query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        return {status: int(n) for status, n in conn.execute(query)}


def immediate_looked(store: Store) -> bool:
    with store.reading() as conn:
        query = select(job_state.c.value).where(job_state.c.name == "immediate.cursor")
        return conn.execute(query).scalar() is not None


def start_serve(folder: Path, env: dict[str, str], name: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = folder / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            # one process per instance: the chaos kills instances and counts their leaders
            [
                sys.executable,
                "-m",
                "syndicator",
                "serve",
                "--host",
                HOST,
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{HOST}:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited:\n{log.read_text(errors='replace')}")
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(healthy, f"{name} to answer /healthz", 60)
    return process, url, log


def publish(url: str) -> None:
    article = {
        "id": "chaos-1",
        "title": "Thông báo lịch tiếp công dân",
        "category": "Thông báo",
        "published_at": datetime.now(UTC).isoformat(),
        "body_text": "UBND huyện Thọ Xuân thông báo lịch tiếp công dân định kỳ.",
    }
    answer = httpx.post(
        f"{url}/api/articles", json=article, headers={"authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    if answer.status_code not in (200, 201):
        raise SystemExit(f"publishing failed: {answer.status_code} {answer.text}")


def terminate(admin: psycopg.Connection[Any], schema: str, timeout: float) -> int:
    """End the leader's lock session once someone holds the lock; returns the pid ended."""
    pid = wait_for(lambda: leader_backend(admin, schema), "a leader to hold the lock", timeout)
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return int(pid)


def run(args: argparse.Namespace, url: str, folder: Path) -> int:
    schema = re.search(r"search_path%3D(\w+)", url)
    assert schema is not None
    addresses = prepare(url)
    handler = Counting(args.delay)
    smtp_port = free_port()
    controller = Controller(handler, hostname=HOST, port=smtp_port, server_hostname="smtp.chaos.test")
    controller.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATOR_")}
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONIOENCODING="utf-8",
        SYNDICATOR_DATABASE_URL=url,
        SYNDICATOR_VAR_DIR=str(folder / "var"),
        SYNDICATOR_ARTICLES_DIR=str(folder / "drop"),
        SYNDICATOR_SECRET_KEY="chaos-secret-key-0123456789",
        SYNDICATOR_BASE_URL="https://rss.thoxuan.example",
        SYNDICATOR_API_TOKENS=TOKEN,
        SYNDICATOR_SMTP_URL=f"smtp://{HOST}:{smtp_port}",
        SYNDICATOR_DIGEST__IMMEDIATE_EVERY_SECONDS="1",
    )
    store = Store.open(url)
    processes: list[tuple[subprocess.Popen[bytes], str, Path]] = []
    started = time.monotonic()
    ended: list[tuple[float, int, int]] = []  # (seconds since publishing, pid ended, mails received by then)
    target = make_url(url)
    relays = [
        Relay(target.host or HOST, target.port or 5432) for _ in range(args.instances if args.freeze else 0)
    ]
    frozen: Frozen | None = None
    try:
        for i in range(args.instances):
            own = dict(env)
            if relays:
                relays[i].start()
                own["SYNDICATOR_DATABASE_URL"] = relayed(url, relays[i])
            processes.append(start_serve(folder, own, f"serve-{i + 1}"))
        wait_for(lambda: immediate_looked(store), "the immediate job's first look", 60)
        publish(processes[0][1])
        published = time.monotonic()
        wait_for(lambda: handler.total() > 0, "the first mail", 60)
        if args.freeze:
            frozen = freeze(args, processes, relays, handler, published)
        else:
            with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as admin:
                for _ in range(TERMINATIONS):
                    time.sleep(args.every)
                    pid = terminate(admin, schema.group(1), 60)
                    ended.append((time.monotonic() - published, pid, handler.total()))

        def done() -> bool:
            states = outbox_states(store)
            return states.get("pending", 0) + states.get("sending", 0) == 0 and sum(states.values()) > 0

        wait_for(done, "the outbox to be sent", args.timeout)
        finished = time.monotonic() - published
        states = outbox_states(store)
    finally:
        for process, _, _ in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)  # a frozen process cannot end
            process.terminate()
        for process, _, _ in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        controller.stop()
        store.close()
        for relay in relays:
            relay.cut()
    received = handler.snapshot()
    unique = len(received)
    duplicates = sum(received.values()) - unique
    lost = len(set(addresses) - set(received))
    logs = "\n".join(log.read_text(errors="replace") for _, _, log in processes)
    facts = machine()
    print(", ".join(f"{k}: {v}" for k, v in facts.items()))
    chaos = (
        f"the leader frozen {args.freeze:g} s with its database connections cut"
        if args.freeze
        else f"{TERMINATIONS} terminations every {args.every:g} s"
    )
    print(
        f"{args.instances} x syndicator serve, {SUBSCRIBERS:,} immediate subscribers, SMTP delay "
        f"{args.delay:g} s/message, {chaos}"
    )
    for at, pid, count in ended:
        print(
            f"  {at:5.1f} s: pg_terminate_backend({pid}) on the leader's lock session, {count} mails received"
        )
    requeued = sum(int(n) for n in re.findall(r"outbox: (\d+) mails were in flight", logs))
    print(
        f"leadership lost {logs.count('lost the leader connection')} times, won "
        f"{logs.count('now runs the scheduled jobs')} times; recovery queued again {requeued} mails"
    )
    outcome = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    print(f"outbox: {outcome}; all sent {finished:.1f} s after publishing")
    print(
        f"received {sum(received.values())}, unique {unique}, duplicates {duplicates}, lost {lost}; "
        f"whole run {time.monotonic() - started:.0f} s"
    )
    if frozen is None:
        return 0 if duplicates == 0 and lost == 0 else 1
    twice = {address for address, n in received.items() if n > 1}
    beyond = twice - frozen.in_flight
    tracebacks = logs.count("Traceback")
    print(
        f"  {frozen.at:5.1f} s: SIGSTOP {frozen.pid} ({frozen.name}) and its connections cut, "
        f"{frozen.received_at_stop} mails received; {len(frozen.in_flight)} arrived within 2 s (in flight)"
    )
    print(
        f"  {frozen.at + args.freeze:5.1f} s: relay back, SIGCONT, {frozen.received_at_cont} mails received"
    )
    print(
        f"sent twice: {len(twice)} mails, of which in flight at the freeze {len(twice & frozen.in_flight)}, "
        f"others {len(beyond)}; tracebacks in the logs: {tracebacks}, "
        f"'Exception during reset': {logs.count('Exception during reset')}"
    )
    for _, _, log in processes:  # what each instance said about the outbox, the database and the lead
        for line in log.read_text(errors="replace").splitlines():
            if re.search(r"outbox|database|scheduled jobs|leader", line):
                print(f"  {log.stem}: {line.strip()[:160]}")
    return 0 if not beyond and lost == 0 else 1


@dataclass(frozen=True)
class Frozen:
    name: str
    pid: int
    at: float  # seconds after publishing
    received_at_stop: int
    received_at_cont: int
    in_flight: set[str]


def freeze(
    args: argparse.Namespace,
    processes: list[tuple[subprocess.Popen[bytes], str, Path]],
    relays: list[Relay],
    handler: Counting,
    published: float,
) -> Frozen:
    """SIGSTOP the leader and cut its connections once --freeze-at mails arrived; SIGCONT after --freeze."""
    wait_for(lambda: handler.total() >= args.freeze_at, f"{args.freeze_at} mails", 120, interval=0.01)
    leaders = [
        i for i, (_, _, log) in enumerate(processes) if b"now runs the scheduled jobs" in log.read_bytes()
    ]
    if len(leaders) != 1:
        raise SystemExit(f"cannot tell the leader: {len(leaders)} instances say they lead")
    leader = leaders[0]
    process = processes[leader][0]
    os.kill(process.pid, signal.SIGSTOP)
    relays[leader].cut()
    at = time.monotonic()
    before = handler.snapshot()
    time.sleep(2)  # what the server still receives now was in flight: the frozen sender cannot send more
    in_flight = set(handler.snapshot() - before)
    time.sleep(max(args.freeze - 2, 0))
    relays[leader].start()
    received_at_cont = handler.total()
    os.kill(process.pid, signal.SIGCONT)
    return Frozen(
        f"serve-{leader + 1}", process.pid, at - published, sum(before.values()), received_at_cont, in_flight
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=1, help="syndicator serve processes (one schema)")
    parser.add_argument("--delay", type=float, default=0.1, help="seconds the SMTP server takes per message")
    parser.add_argument("--every", type=float, default=3.0, help="seconds between terminations")
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds to wait for the outbox")
    parser.add_argument(
        "--freeze",
        type=float,
        default=0.0,
        help="seconds the leader stays frozen, its connections cut (0: off)",
    )
    parser.add_argument("--freeze-at", type=int, default=150, help="mails received before the freeze")
    args = parser.parse_args()
    if args.freeze:
        args.instances = max(args.instances, 2)  # another instance must take over
        args.timeout = max(args.timeout, args.freeze + 150)
    if problem := postgres_problem(PG_URL):
        sys.exit(f"PostgreSQL needed: {problem}")
    with tempfile.TemporaryDirectory(prefix="chaos-") as name, postgres_schema(PG_URL, "chaos") as url:
        sys.exit(run(args, url, Path(name)))


if __name__ == "__main__":
    main()
