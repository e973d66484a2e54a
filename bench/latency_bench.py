"""Publish latency (issue 4): from a new article to the feed that includes it being served.

    .venv/bin/python bench/latency_bench.py [--articles 50] [--seed 2000] [--idle 30] [--setups ...]

Each setup starts real `syndicator serve` processes (web + scheduler in one process, as deployed) on
loopback ports, with --seed articles already in the store, then for --articles articles per route:

  - drop:  the article is written into the drop folder under a .tmp name and renamed into place;
  - api:   POST /api/articles (the clock starts before the request is sent);

and polls the article's category feed (/feeds/thong-bao.json, conditional GET) every 20 ms until the
article is in it. With two instances (PostgreSQL), the time is until *both* serve it; the API call
then goes to the instance that does not lead, so the change travels leader -> database -> follower.
A random pause of 0-1 s between articles keeps the writes out of step with the scheduler's ticks.

Then, once 31 s have passed since the last change (the store watch looks 30 s back), the idle CPU use
of each process: utime + stime from /proc/<pid>/stat over --idle seconds, as a % of one core.

Setups: sqlite-store (the seed imported with `syndicator import` before the start), sqlite-folder (the
seed left in the drop folder as one file per article: each scan lists them all), pg-two (PostgreSQL, a
fresh schema, two instances; skipped when the server is not reachable), pg-web (the same, the second
instance a `serve --no-scheduler`). Prints Markdown tables; the figures in docs/benchmarks.md
("Publish latency") come from it. Sends nothing but to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from common import (  # bench/common.py (bench/ is on sys.path when run)
    PG_URL,
    postgres_problem,
    postgres_schema,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.processes import TOKEN, Process, Processes, environment  # noqa: E402

CATEGORY, SLUG = "Thông báo", "thong-bao"
SEED_CATEGORIES = [
    "Thông báo", "Tin tức - Sự kiện", "Văn bản chỉ đạo", "Kinh tế", "Văn hóa - Xã hội",
    "Giáo dục", "Y tế", "Nông nghiệp", "Quốc phòng - An ninh", "Cải cách hành chính",
]  # fmt: skip
POLL_SECONDS = 0.02
DEADLINE_SECONDS = 15.0
QUIET_SECONDS = 31.0  # channels changed within the store watch's 30 s look-back are checked again
TARGET_P95 = 0.5  # issue 15 (issue 4's was 2 s)
SETUPS = ("sqlite-store", "sqlite-folder", "pg-two", "pg-web")


@dataclass(frozen=True, slots=True)
class Latencies:
    setup: str
    route: str
    seconds: list[float]

    @property
    def p95(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[max(0, round(0.95 * len(ordered)) - 1)]  # nearest rank

    def row(self) -> str:
        ordered, p95 = sorted(self.seconds), self.p95
        ok = "yes" if p95 <= TARGET_P95 else "**no**"
        return (
            f"| {self.setup} | {self.route} | {len(ordered)} | {statistics.median(ordered):.2f} | "
            f"{p95:.2f} | {ordered[-1]:.2f} | {ok} |"
        )


@dataclass(frozen=True, slots=True)
class Idle:
    setup: str
    process: str
    cpu_seconds: float
    wall_seconds: float

    def row(self) -> str:
        share = 100 * self.cpu_seconds / self.wall_seconds
        spent = f"{self.cpu_seconds:.2f} s / {self.wall_seconds:.0f} s"
        return f"| {self.setup} | {self.process} | {spent} | {share:.1f} % |"


def seed_records(count: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(4)
    start = datetime.now(UTC) - timedelta(days=365)
    for index in range(count):
        yield {
            "id": f"seed-{index:05d}",
            "title": f"Bài đã đăng số {index} về hoạt động của huyện",
            "category": SEED_CATEGORIES[index % len(SEED_CATEGORIES)],
            "published_at": (start + timedelta(minutes=index * 200 + rng.randint(0, 120))).isoformat(),
            "body_text": "\n\n".join(
                f"Đoạn {p}: UBND huyện Thọ Xuân thông báo nội dung công việc số {index}." for p in range(6)
            ),
            "office": "Văn phòng HĐND và UBND huyện",
        }


def jsonl(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def article(article_id: str) -> dict[str, Any]:
    return {
        "id": article_id,
        "title": f"Thông báo mới {article_id}",
        "category": CATEGORY,
        "published_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
        "body_text": "Nội dung thông báo.\n\nĐoạn thứ hai.",
    }


class FeedWatcher:
    """Polls one instance's category feed with conditional GETs (a 304 costs the server a dict lookup)."""

    def __init__(self, process: Process) -> None:
        assert process.url is not None
        self.url = f"{process.url}/feeds/{SLUG}.json"
        self.client = httpx.Client(timeout=5)
        self.etag: str | None = None
        self.body = b""

    def has(self, article_id: str) -> bool:
        headers = {"if-none-match": self.etag} if self.etag else {}
        response = self.client.get(self.url, headers=headers)
        if response.status_code == 200:
            self.etag, self.body = response.headers["etag"], response.content
        return f'/a/{article_id}"'.encode() in self.body

    def close(self) -> None:
        self.client.close()


def wait_served(watchers: Sequence[FeedWatcher], article_id: str, started: float) -> float:
    """Seconds from `started` until every watcher's feed has the article."""
    pending = list(watchers)
    deadline = started + DEADLINE_SECONDS
    while True:
        pending = [w for w in pending if not w.has(article_id)]
        now = time.perf_counter()
        if not pending:
            return now - started
        if now > deadline:
            raise RuntimeError(f"{article_id} not served within {DEADLINE_SECONDS:.0f} s")
        time.sleep(POLL_SECONDS)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def measure_route(
    route: str, count: int, writer: Process, folder: Path, watchers: Sequence[FeedWatcher], rng: random.Random
) -> list[float]:
    seconds = []
    client = httpx.Client(timeout=10)
    try:
        for number in range(count):
            time.sleep(rng.uniform(0, 1))
            article_id = f"{route}-{uuid.uuid4().hex[:10]}"
            record = article(article_id)
            if route == "drop":
                started = time.perf_counter()
                temporary = folder / f"{article_id}.jsonl.tmp"
                temporary.write_text(jsonl(record), encoding="utf-8")
                os.replace(temporary, folder / f"{article_id}.jsonl")
            else:
                started = time.perf_counter()
                response = client.post(
                    f"{writer.url}/api/articles", json=record, headers={"authorization": f"Bearer {TOKEN}"}
                )
                response.raise_for_status()
            seconds.append(wait_served(watchers, article_id, started))
            print(f"  {route} {number + 1}/{count}: {seconds[-1]:.3f} s", file=sys.stderr, flush=True)
    finally:
        client.close()
    return seconds


@contextmanager
def database(name: str, work: Path) -> Iterator[str]:
    if name.startswith("pg"):
        with postgres_schema(PG_URL) as url:
            yield url
    else:
        yield f"sqlite:///{work / 'var' / 'syndicator.db'}"


def run_setup(name: str, args: argparse.Namespace, work: Path) -> tuple[list[Latencies], list[Idle]]:
    print(f"== {name}", file=sys.stderr, flush=True)
    with database(name, work) as url:
        folder = work / "drop"
        folder.mkdir(parents=True)
        env = environment(database_url=url, home=work, articles_dir=folder)
        if name == "sqlite-folder":
            for record in seed_records(args.seed):  # one export per article, as the portal writes them
                (folder / f"{record['id']}.jsonl").write_text(jsonl(record), encoding="utf-8")
        else:
            seed = work / "seed.jsonl"
            seed.write_text(jsonl(*seed_records(args.seed)), encoding="utf-8")
            subprocess.run(
                [sys.executable, "-m", "syndicator", "import", str(seed)],
                cwd=work,
                env=env,
                check=True,
                capture_output=True,
                timeout=600,
            )
        processes = Processes(work)
        try:
            instances = [processes.serve(env, name="first")]
            if name == "pg-two":
                instances.append(processes.serve(env, name="second"))
            elif name == "pg-web":
                instances.append(processes.serve(env, name="web", args=["--no-scheduler"]))
            leads = "this instance now runs the scheduled jobs"
            leader = processes.eventually(
                lambda: next((p for p in instances if p.count(leads)), None), "a leader", timeout=60
            )
            assert leader is not None
            watchers = [FeedWatcher(p) for p in instances]
            # the seed is in the feed (the first store-watch tick, or the first scan, is done)
            last_seed = f"seed-{(args.seed - 1) // len(SEED_CATEGORIES) * len(SEED_CATEGORIES):05d}"  # newest
            processes.eventually(lambda: all(w.has(last_seed) for w in watchers), "the seed", timeout=120)
            writer = next((p for p in instances if p is not leader), leader)
            rng = random.Random(1)
            results = []
            for route in ("drop", "api"):
                label = route
                if len(instances) > 1:
                    label = (
                        "drop, served by both" if route == "drop" else "api on the follower, served by both"
                    )
                results.append(
                    Latencies(name, label, measure_route(route, args.articles, writer, folder, watchers, rng))
                )
            for watcher in watchers:
                watcher.close()
            print(
                f"  waiting {QUIET_SECONDS:.0f} s for quiet, then {args.idle} s idle",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(QUIET_SECONDS)
            before = {p.pid: cpu_seconds(p.pid) for p in instances}
            began = time.monotonic()
            time.sleep(args.idle)
            wall = time.monotonic() - began
            idle = [
                Idle(name, "leader" if p is leader else "follower", cpu_seconds(p.pid) - before[p.pid], wall)
                for p in instances
            ]
            return results, idle
        except Exception:
            print(processes.logs(), file=sys.stderr)
            raise
        finally:
            processes.stop_all()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=50, help="articles per route (50)")
    parser.add_argument("--seed", type=int, default=2000, help="articles in the store beforehand (2000)")
    parser.add_argument("--idle", type=int, default=30, help="seconds of idleness measured (30)")
    parser.add_argument("--setups", nargs="+", choices=SETUPS, default=list(SETUPS))
    args = parser.parse_args(argv)

    setups = list(args.setups)
    skipped = []
    if any(s.startswith("pg") for s in setups) and (problem := postgres_problem(PG_URL)) is not None:
        skipped += [f"{s} skipped: {problem}" for s in setups if s.startswith("pg")]
        setups = [s for s in setups if not s.startswith("pg")]
    latencies: list[Latencies] = []
    idle: list[Idle] = []
    for name in setups:
        with tempfile.TemporaryDirectory(prefix=f"latency-{name}-") as scratch:
            got, quiet = run_setup(name, args, Path(scratch))
        latencies.extend(got)
        idle.extend(quiet)

    print(f"Publish latency: {args.articles} articles per route, {args.seed} articles in the store, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")  # fmt: skip
    print(f"| setup | route | articles | p50 (s) | p95 (s) | max (s) | p95 ≤ {TARGET_P95:g} s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for result in latencies:
        print(result.row())
    print("\nIdle CPU of the serve processes (web + scheduler), after 31 s without a change:\n")
    print("| setup | process | CPU time | % of one core |")
    print("| --- | --- | ---: | ---: |")
    for row in idle:
        print(row.row())
    for line in skipped:
        print(f"\n{line}")
    return 0 if all(r.p95 <= TARGET_P95 for r in latencies) else 1


if __name__ == "__main__":
    sys.exit(main())
