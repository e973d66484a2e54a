"""Readership benchmark (issue 14): 304 polls with the readership tally counting them against the same
server without it. Counting must cost at most 5 % of the 304s per second.

    .venv/bin/python bench/readership_bench.py [--seconds 10] [--rounds 5] [--json FILE]

A temporary SQLite database with --count articles (2,000) in --categories (30) is built with
`syndicator build`, then two servers on loopback ports serve its kept feeds, each the app of
`syndicator serve --no-scheduler` with its server options (bench/readership_serve.py): one as shipped
(every 200 and 304 of a feed counted per client family, flushed every 5 s by the app's lifespan), one
with the tally taken off the poll path (`--no-count`). Both are polled by wrk (`wrk -t1 -c32 -d10s
--latency`) for --feed (/feeds/all.rss) with `If-None-Match:` its ETag (a 304 each) and Feedly's
User-Agent (a reported count: the longest path through the counting), in --rounds (5) rounds that
alternate which server goes first. Server and wrk are pinned to CPUs 0 and 1 (taskset; --no-pin not).
The figures: each round's ratio counting/not counting, of requests per second and of requests per
server CPU-second (what other work on the machine changes least); the verdict takes the median of
the rounds' ratios. At the end the counting server is stopped and its counts (flushed every 5 s and at
shutdown) are checked against what wrk sent: counting that loses polls would be no measure.

On a machine shared with other work, wrk's figures move by more than 5 % from one 10-second run to
the next. So the poll path's own cost is also measured apart from the HTTP server, in this process:
the same FeedServer answers --calls (20,000) conditional GETs handed to it directly (an ASGI scope
with wrk's headers), with and without its tally, in --blocks (20) alternating blocks, timed in process
CPU time; the difference per poll, against the server CPU time an HTTP 304 takes (wrk's per
CPU-second figure), is the share of a poll that counting costs. (The server without its tally still
reads the User-Agent in its one pass over the headers: one comparison per header.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import feeds_data  # noqa: E402
import feeds_http  # noqa: E402
from common import machine as common_machine  # noqa: E402
from feeds_bench import child_env, run_timed  # noqa: E402
from feeds_http import BenchError, WrkResult  # noqa: E402
from syndicator import clock  # noqa: E402
from syndicator.config import load_settings  # noqa: E402
from syndicator.service import assemble  # noqa: E402
from syndicator.store import Store  # noqa: E402
from syndicator.store import readership as stored  # noqa: E402

TARGET_LOSS = 0.05
FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 42 subscribers; )"
COUNTING, PLAIN = "counting", "not counting"
SERVER_CPU, WRK_CPU = 0, 1


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def serve_command(counting: bool) -> list[str]:
    return [sys.executable, str(BENCH / "readership_serve.py"), *([] if counting else ["--no-count"])]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000, help="articles behind the servers (2000)")
    parser.add_argument("--categories", type=int, default=30)
    parser.add_argument("--feed", default="/feeds/all.rss", help="the feed polled (/feeds/all.rss)")
    parser.add_argument("--seconds", type=int, default=10, help="wrk -d (10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c (32)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (5)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and wrk to CPUs 0 and 1")
    parser.add_argument("--calls", type=int, default=20_000, help="polls per in-process block (20000)")
    parser.add_argument("--blocks", type=int, default=20, help="in-process blocks per variant (20)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    feeds_http.ensure_tools()
    facts = common_machine()
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="readership-bench-") as scratch:
            results, counted, sent = measure(args, Path(scratch))
            direct = in_process(args, Path(scratch))
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    facts["load_1min_end"] = round(os.getloadavg()[0], 2)
    report(args, argv, facts, results, counted, sent, direct, time.perf_counter() - started)
    return 0


def measure(args: argparse.Namespace, workdir: Path) -> tuple[list[tuple[str, int, WrkResult]], int, int]:
    url = f"sqlite:///{workdir / 'db.sqlite'}"
    store = Store.open(url)
    try:
        feeds_data.fill(store, args.count, args.categories)
    finally:
        store.close()
    run_timed(["build"], url, workdir)  # renders and keeps the feeds the servers load
    cpu = None if args.no_pin else SERVER_CPU
    options = {"threads": 1, "connections": args.connections, "cpu": None if args.no_pin else WRK_CPU}
    results: list[tuple[str, int, WrkResult]] = []
    env = child_env(url)
    for name in ("on", "off"):
        (workdir / name).mkdir()
    with (
        feeds_http.syndicator_server(serve_command(True), env, workdir / "on", cpu) as on,
        feeds_http.syndicator_server(serve_command(False), env, workdir / "off", cpu) as off,
    ):
        servers = {COUNTING: on, PLAIN: off}
        etags = {name: feeds_http.probe(s.base + args.feed).etag for name, s in servers.items()}
        if etags[COUNTING] != etags[PLAIN]:
            raise BenchError("the two servers do not serve the same feed")
        headers = {"If-None-Match": etags[COUNTING], "User-Agent": FEEDLY}
        for server in servers.values():  # warm up
            feeds_http.wrk(server, args.feed, headers, seconds=1, **options)
        for number in range(1, args.rounds + 1):
            order = (COUNTING, PLAIN) if number % 2 else (PLAIN, COUNTING)
            for name in order:
                result = feeds_http.wrk(servers[name], args.feed, headers, seconds=args.seconds, **options)
                if result.errors:
                    raise BenchError(f"{name}: wrk reports {result.errors}")
                log(
                    f"round {number}, {name}: {result.requests_per_second:,.0f} 304s/s, "
                    f"{result.per_cpu_second:,.0f} per server CPU-second"
                )
                results.append((name, number, result))
    # both stopped (SIGTERM): the counting one flushed what it still held at shutdown
    store = Store.open(url)
    try:
        with store.reading() as conn:
            feeds = stored.feeds(conn, datetime(2000, 1, 1, tzinfo=UTC).date(), datetime.now(UTC).date())
    finally:
        store.close()
    counted = sum(f.polls for f in feeds if f.feed == args.feed.removeprefix("/feeds/"))
    # wrk's own requests, plus the warm-up's and the probe's (not in `results`): at least these
    sent = sum(r.requests for name, _, r in results if name == COUNTING)
    if counted < sent:
        raise BenchError(f"the counting server wrote {counted} polls of {args.feed}; wrk sent {sent} or more")
    return results, counted, sent


def in_process(args: argparse.Namespace, workdir: Path) -> tuple[float, float]:
    """Microseconds of CPU per poll handed straight to the FeedServer: (counting, not counting)."""
    from syndicator.web.app import create_app
    from syndicator.web.feedserve import FeedServer

    url = f"sqlite:///{workdir / 'db.sqlite'}"
    settings = load_settings(database_url=url, var_dir=workdir / "var", articles_dir=workdir / "drop")
    store = Store.open(url)
    service = assemble(settings, store, clock.utcnow, render_now=False)
    try:
        app = create_app(service.services)
        assert isinstance(app, FeedServer)
        tally = app.tally
        doc = service.services.cache.get(args.feed)
        if doc is None:
            raise BenchError(f"no {args.feed} kept")
        headers = [
            (b"host", b"127.0.0.1"),
            (b"if-none-match", doc.etag.encode()),
            (b"user-agent", FEEDLY.encode()),
        ]

        async def receive() -> dict[str, object]:
            return {"type": "http.request"}

        async def send(message: object) -> None:
            pass

        async def block() -> None:
            for _ in range(args.calls):  # a scope per request, as the server makes one
                scope = {"type": "http", "method": "GET", "path": args.feed, "headers": list(headers)}
                await app(scope, receive, send)

        times: dict[bool, list[float]] = {True: [], False: []}
        loop = asyncio.new_event_loop()
        try:
            for number in range(args.blocks):
                for counting in (True, False) if number % 2 else (False, True):
                    app.tally = tally if counting else None
                    before = time.process_time()
                    loop.run_until_complete(block())
                    times[counting].append((time.process_time() - before) / args.calls * 1e6)
        finally:
            loop.close()
        return statistics.median(times[True]), statistics.median(times[False])
    finally:
        service.close()
        store.close()


def ratio(results: list[tuple[str, int, WrkResult]], number: int, per_cpu: bool) -> float:
    pair = {name: r for name, n, r in results if n == number}
    if per_cpu:
        return pair[COUNTING].per_cpu_second / pair[PLAIN].per_cpu_second
    return pair[COUNTING].requests_per_second / pair[PLAIN].requests_per_second


def report(
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    facts: dict[str, object],
    results: list[tuple[str, int, WrkResult]],
    counted: int,
    sent: int,
    direct: tuple[float, float],
    elapsed: float,
) -> None:
    rounds = range(1, args.rounds + 1)
    by_rate = [ratio(results, n, False) for n in rounds]
    by_cpu = [ratio(results, n, True) for n in rounds]
    median_rate, median_cpu = statistics.median(by_rate), statistics.median(by_cpu)
    met = 1 - median_rate <= TARGET_LOSS
    print("## Readership benchmark\n")
    print(f"Machine: {json.dumps(facts, ensure_ascii=False)}")
    given = " ".join(argv if argv is not None else sys.argv[1:])
    print(f"Command: .venv/bin/python bench/readership_bench.py {given}".rstrip())
    print(f"Benchmark wall time: {elapsed:.0f} s\n")
    print("| server | round | 304s/s | per server CPU-second | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, number, r in results:
        print(
            f"| {name} | {number} | {r.requests_per_second:,.0f} | {r.per_cpu_second:,.0f} | "
            f"{r.latency_p50_ms:.2f} | {r.latency_p99_ms:.2f} |"
        )
    print()
    print("| target | measured (median of the rounds' ratios) | met |")
    print("| --- | --- | --- |")
    print(
        f"| 304 polls counted lose <= 5 % | {median_rate:.3f}x requests/s ({_loss(median_rate)}), "
        f"{median_cpu:.3f}x per server CPU-second ({_loss(median_cpu)}); rounds: "
        f"{', '.join(f'{x:.3f}' for x in by_rate)} | {verdict(met)} |"
    )
    per_cpu_plain = statistics.median(r.per_cpu_second for name, _, r in results if name == PLAIN)
    extra, http_us = direct[0] - direct[1], 1e6 / per_cpu_plain
    share = extra / http_us
    print(
        "| 304 polls counted lose <= 5 % (in process: the poll path's own cost against a 304's server "
        f"CPU time) | +{extra:.2f} us per poll ({direct[0]:.2f} against {direct[1]:.2f} us handed to the "
        f"FeedServer; median of {args.blocks} blocks of {args.calls:,}), against {http_us:.1f} us of "
        f"server CPU per 304 over HTTP: {share * 100:.1f} % | {verdict(share <= TARGET_LOSS)} |"
    )
    print(
        f"\nPolls of {args.feed} written by the counting server: {counted:,} (wrk's measured runs: {sent:,})."
    )
    if args.json:
        figures = {
            "machine": facts,
            "rounds": [
                {"server": name, "round": n, "requests_per_second": r.requests_per_second,
                 "per_cpu_second": r.per_cpu_second, "p50_ms": r.latency_p50_ms, "p99_ms": r.latency_p99_ms}
                for name, n, r in results
            ],
            "ratio_requests": by_rate,
            "ratio_cpu": by_cpu,
            "in_process_us": {"counting": direct[0], "not_counting": direct[1]},
            "counted": counted,
            "sent": sent,
        }  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=2))


def verdict(met: bool) -> str:
    return "**yes**" if met else "**no**"


def _loss(value: float) -> str:
    return f"{(1 - value) * 100:+.1f} % loss" if value < 1 else f"{(value - 1) * 100:.1f} % gain"


if __name__ == "__main__":
    sys.exit(main())
