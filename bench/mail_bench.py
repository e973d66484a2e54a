"""Email delivery benchmark: `syndicator digest send` against Postfix's smtp-sink, next to smtp-source.

    .venv/bin/python bench/mail_bench.py                      # 5,000 and 20,000, SQLite and PostgreSQL
    .venv/bin/python bench/mail_bench.py --subscribers 20000 --databases sqlite --connections 4

For each size and database: a store (a SQLite file in a temporary folder, or a fresh schema on the
PostgreSQL server at SYNDICATOR_BENCH_PG_URL, default 127.0.0.1:5432/test) with that many confirmed
daily subscribers, each with a random choice among 30 categories (a fifth of them "all"), and 50 new
articles in the window of the daily run of 07/01/2021. Then, each against a fresh `smtp-sink` on a
loopback port:

1. `syndicator digest send --frequency daily --at 2021-01-07T07:00` as a process (queue + send), with
   SYNDICATOR_SMTP_URL pointing at the sink: wall time, peak RSS (wait4), messages counted by the sink;
2. `smtp-source` sending as many messages of the same average size over as many reused connections
   (-s N -d): the same sink's ceiling on this machine.

Target (issue 15): syndicator >= 0.5x smtp-source's messages/s, every message counted at the sink, peak RSS
<= 300 MB and flat in the number of subscribers. Needs Debian's postfix package for smtp-sink and
smtp-source (`apt-get install postfix`; the MTA itself is not started). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select

from common import (  # bench/ is on sys.path
    PG_URL,
    machine,
    postgres_problem,
    postgres_schema,
    postgres_version,
)
from syndicator.model import ArticleInput
from syndicator.store import Store
from syndicator.store.schema import digest_parts, mail_bodies, outbox, subscribers
from syndicator.store.subscribers import encode_categories
from syndicator.text import category_slug

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
AT = "2021-01-07T07:00"
WINDOW_START = datetime(2021, 1, 6, 6, 30, tzinfo=TZ)
CATEGORIES = [
    "Thông báo", "Tin tức - Sự kiện", "Chính trị", "Kinh tế", "Văn hóa - Xã hội", "Nông nghiệp",
    "Giáo dục", "Y tế", "Quốc phòng - An ninh", "Cải cách hành chính", "Tài nguyên - Môi trường",
    "Xây dựng", "Giao thông", "Du lịch", "Thể thao", "Lao động - Việc làm", "Khoa học - Công nghệ",
    "Tư pháp", "Dân tộc - Tôn giáo", "Đoàn thể", "Thanh niên", "Phụ nữ", "Cựu chiến binh",
    "Nông thôn mới", "Chuyển đổi số", "Đầu tư", "Thuế - Tài chính", "Văn bản pháp luật",
    "Lịch công tác", "Hỏi đáp",
]  # fmt: skip
SECRET = "bench-secret-key-0123456789"


@dataclass
class Measure:
    database: str
    subscribers: int
    mails: int
    bodies: int
    average_bytes: int
    syndicator_seconds: float
    queue_seconds: float  # from the start of the process to the first mail accepted (start-up included)
    send_seconds: float  # from the first mail accepted to the last
    syndicator_counted: int
    peak_rss_mb: float
    cpu_seconds: float  # user + system time of the `digest send` process (the machine's load aside)
    source_seconds: float
    source_counted: int

    @property
    def syndicator_rate(self) -> float:
        return self.syndicator_counted / self.syndicator_seconds

    @property
    def source_rate(self) -> float:
        return self.source_counted / self.source_seconds


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if not found:
        sys.exit(f"{name} not found: DEBIAN_FRONTEND=noninteractive apt-get install -y postfix")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sink:
    """A fresh smtp-sink counting DATA completions (-c), on a free loopback port."""

    def __init__(self, folder: Path, name: str) -> None:
        self.port = free_port()
        self.out = folder / f"{name}.sink"
        with open(self.out, "wb") as out:
            self.process = subprocess.Popen(
                [tool("smtp-sink"), "-c", "-u", "nobody", f"127.0.0.1:{self.port}", "256"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while True:  # listening: a connection is accepted
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"smtp-sink did not start: {self.out.read_text()}") from None
                time.sleep(0.05)

    def count(self) -> int:
        found = re.findall(r"mesg=(\d+)", self.out.read_text(errors="replace"))
        return int(found[-1]) if found else 0

    def stop(self) -> int:
        time.sleep(0.2)  # the counter line of the last session is written when it ends
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(10)
        return self.count()


def prepare(url: str, count: int, articles: int, seed: int) -> None:
    store = Store.open(url)
    rng = random.Random(seed)
    try:
        written = WINDOW_START + timedelta(hours=1)
        batch = [
            ArticleInput(
                id=f"bench-{i:03d}",
                title=f"Bài viết số {i}: hội nghị triển khai nhiệm vụ trọng tâm năm 2021 của huyện",
                category_name=CATEGORIES[i]
                if i < len(CATEGORIES)
                else rng.choice(CATEGORIES),  # news in each
                published_at=written + timedelta(minutes=15 * i),
                body_html="<p>Nội dung.</p>",
                summary="Sáng ngày 06/01, UBND huyện Thọ Xuân tổ chức hội nghị tổng kết công tác năm 2020, "
                "triển khai nhiệm vụ năm 2021 với sự tham dự của lãnh đạo các phòng, ban, ngành.",
                source="bench",
            )
            for i in range(articles)
        ]
        store.write(batch, written.astimezone(UTC))
        slugs = [category_slug(name) for name in CATEGORIES]
        now = datetime(2021, 1, 1, tzinfo=UTC)
        rows = []
        for i in range(count):
            chosen = None if rng.random() < 0.2 else rng.sample(slugs, rng.randint(1, 6))
            email = f"nguoi.dan{i:06d}@xa{i % 97}.thoxuan.test"
            rows.append(
                {
                    "email": email,
                    "email_key": email,
                    "name": f"Người dân {i}" if i % 3 else None,
                    "status": "confirmed",
                    "source": "import",
                    "categories": encode_categories(chosen),
                    "frequency": "daily",
                    "hard_bounces": 0,
                    "created_at": now,
                    "updated_at": now,
                    "confirmed_at": now,
                }
            )
        with store.writing() as conn:
            conn.execute(subscribers.insert(), rows)
    finally:
        store.close()


def run_syndicator(
    folder: Path, url: str, sink: Sink, connections: int
) -> tuple[datetime, float, float, float, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATOR_")}
    env.update(
        SYNDICATOR_DATABASE_URL=url,
        SYNDICATOR_VAR_DIR=str(folder / "var"),
        SYNDICATOR_SECRET_KEY=SECRET,
        SYNDICATOR_BASE_URL="https://rss.thoxuan.example",
        SYNDICATOR_SMTP_URL=f"smtp://127.0.0.1:{sink.port}",
        SYNDICATOR_MAIL__CONNECTIONS=str(connections),
        PYTHONIOENCODING="utf-8",
    )
    log = folder / "send.log"
    wall = datetime.now(UTC)
    started = time.perf_counter()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "syndicator", "digest", "send", "--frequency", "daily", "--at", AT],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"digest send failed ({process.returncode}):\n{text}")
    return wall, elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, text.strip()


def run_source(sink: Sink, count: int, size: int, connections: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            tool("smtp-source"),
            *("-s", str(connections), "-l", str(size), "-m", str(count), "-d"),
            *("-f", "bantin@thoxuan.thanhhoa.gov.vn", "-t", "nguoi.dan@xa.thoxuan.test"),
            f"127.0.0.1:{sink.port}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def _average_size(conn: Connection) -> float:
    """Bytes of the mails as sent: each digest is its frame plus the parts its recipient chose."""
    frames = {i: n for i, n in conn.execute(select(mail_bodies.c.id, func.length(mail_bodies.c.mime)))}
    parts: dict[tuple[int, str], int] = {
        (row.body_id, row.slug): len(row.text_qp) + len(row.html_qp)
        for row in conn.execute(select(digest_parts))
    }
    sizes = [
        frames[row.body_id] + sum(parts.get((row.body_id, slug), 0) for slug in (row.parts or "").split(","))
        for row in conn.execute(select(outbox.c.body_id, outbox.c.parts))
    ]
    return sum(sizes) / len(sizes) if sizes else 0.0


def measure(database: str, count: int, articles: int, connections: int, seed: int) -> Measure:
    with tempfile.TemporaryDirectory(prefix="mail-bench-") as name:
        folder = Path(name)
        if database == "sqlite":
            return _measure(
                database, f"sqlite:///{folder / 'bench.db'}", folder, count, articles, connections, seed
            )
        with postgres_schema(PG_URL, "mailbench") as url:
            return _measure(database, url, folder, count, articles, connections, seed)


def _measure(
    database: str, url: str, folder: Path, count: int, articles: int, connections: int, seed: int
) -> Measure:
    prepare(url, count, articles, seed)
    sink = Sink(folder, "syndicator")
    try:
        began, seconds, rss, cpu, output = run_syndicator(folder, url, sink, connections)
    finally:
        counted = sink.stop()
    print(f"  {count} subscribers: {output}", file=sys.stderr)
    store = Store.open(url)
    try:
        with store.reading() as conn:
            mails = int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())
            bodies = int(conn.execute(select(func.count()).select_from(mail_bodies)).scalar_one())
            body_bytes = _average_size(conn)
            first, last = conn.execute(select(func.min(outbox.c.sent_at), func.max(outbox.c.sent_at))).one()
    finally:
        store.close()
    average = int(body_bytes or 0) + 400  # + the per-recipient headers (To, Date, List-Unsubscribe ...)
    sink = Sink(folder, "source")
    try:
        source_seconds = run_source(sink, counted, average, connections)
    finally:
        source_counted = sink.stop()
    queue = (first - began).total_seconds()
    send = (last - first).total_seconds()
    return Measure(
        database,
        count,
        mails,
        int(bodies),
        average,
        seconds,
        queue,
        send,
        counted,
        rss,
        cpu,
        source_seconds,
        source_counted,
    )


def table(results: list[Measure], connections: int) -> str:
    lines = [
        "| database | subscribers | mails | distinct bodies | avg size | syndicator (queue+send) "
        "| of which start+queue | of which send | smtp-source "
        f"(-s {connections} -d) | ratio | counted at sink | peak RSS | CPU of send |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.database} | {r.subscribers:,} | {r.mails:,} | {r.bodies:,} "
            f"| {r.average_bytes / 1024:.1f} KB "
            f"| {r.syndicator_seconds:.1f} s = {r.syndicator_rate:,.0f} msg/s "
            f"| {r.queue_seconds:.1f} s "
            f"| {r.send_seconds:.1f} s = {r.subscribers / r.send_seconds:,.0f} msg/s "
            f"| {r.source_seconds:.1f} s = {r.source_rate:,.0f} msg/s "
            f"| {r.syndicator_rate / r.source_rate:.2f}x "
            f"| {r.syndicator_counted:,} / {r.source_counted:,} | {r.peak_rss_mb:.0f} MB "
            f"| {r.cpu_seconds:.1f} s |"
        )
    return "\n".join(lines)


def medians(results: list[Measure]) -> str:
    """Per database and size: the medians of the rounds."""
    lines = [
        "| database | subscribers | rounds | syndicator msg/s | send s | smtp-source msg/s | ratio "
        "| CPU of send |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    keys = dict.fromkeys((r.database, r.subscribers) for r in results)
    for database, count in keys:
        runs = [r for r in results if (r.database, r.subscribers) == (database, count)]
        lines.append(
            f"| {database} | {count:,} | {len(runs)} "
            f"| {statistics.median(r.syndicator_rate for r in runs):,.0f} "
            f"| {statistics.median(r.send_seconds for r in runs):.1f} "
            f"| {statistics.median(r.source_rate for r in runs):,.0f} "
            f"| {statistics.median(r.syndicator_rate / r.source_rate for r in runs):.2f}x "
            f"| {statistics.median(r.cpu_seconds for r in runs):.1f} s |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--articles", type=int, default=50)
    parser.add_argument(
        "--connections", type=int, default=8, help="mail.connections (its default) and smtp-source -s"
    )
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat each measure; the medians of the rounds are printed too"
    )
    parser.add_argument(
        "--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    args = parser.parse_args()
    facts = machine()
    databases = list(args.databases)
    if "postgresql" in databases:
        if problem := postgres_problem(PG_URL):
            print(f"PostgreSQL skipped: {problem}", file=sys.stderr)
            databases.remove("postgresql")
        else:
            facts["postgresql"] = postgres_version(PG_URL)
    results = []
    loads = []
    for _ in range(args.rounds):  # rounds interleaved: the machine's load drifts
        for database in databases:
            for count in args.subscribers:
                loads.append(os.getloadavg()[0])
                results.append(measure(database, count, args.articles, args.connections, args.seed))
    print(", ".join(f"{k}: {v}" for k, v in facts.items()))
    print(table(results, args.connections))
    if args.rounds > 1:
        print(f"load (1 min) before each measure: {', '.join(f'{load:.1f}' for load in loads)}")
        print(medians(results))
    for r in results:
        ok = (
            r.syndicator_rate >= 0.5 * r.source_rate,
            r.syndicator_counted == r.subscribers == r.mails,
            r.peak_rss_mb <= 300,
        )
        verdict = ", ".join(
            f"{what} {'ok' if good else 'MISSED'}"
            for what, good in zip(("rate", "count", "memory"), ok, strict=True)
        )
        print(f"{r.database} {r.subscribers:,}: {verdict}")


if __name__ == "__main__":
    main()
