"""Polls under load (issue 15): 200 connections for 30 s of mixed conditional and full polls.

    .venv/bin/python bench/poll_load.py [--workers 2] [--connections 200] [--seconds 30] [--rounds 2]

A temporary SQLite database with --serve-count articles (2,000) in --serve-categories (30) is built
with `syndicator build --out TREE`. `syndicator serve --workers N` (as deployed: with its scheduler,
so one worker leads the jobs while the others serve) and nginx with docs/nginx.md's configuration and
`worker_processes auto` serving TREE are polled in turn, --rounds times each (alternating, nothing
pinned: the server shares the 2 cores with wrk), by `wrk -t2 -c200 -d30s --latency` with a Lua script
that rotates over --feeds and alternates, per connection, a conditional GET (`If-None-Match:` the
ETag that server gives for a gzip GET of that feed: answered 304) and a full gzip GET (200). Before
measuring, each server is checked to answer each feed 200 and 304 to its own ETag. Reports p50, p99,
the worst round's p99, requests/s and every wrk error (socket errors, non-2xx/3xx answers); the
target is p99 <= 20 ms with no errors. No request leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import feeds_data  # noqa: E402
import feeds_http  # noqa: E402
from common import machine  # noqa: E402
from feeds_bench import child_env, log, run_timed, syndicator_command  # noqa: E402
from feeds_http import BenchError, WrkResult  # noqa: E402
from syndicator.store import Store  # noqa: E402

TARGET_P99_MS = 20.0
FEEDS = "/feeds/all.rss,/feeds/all.atom,/feeds/all.json"

# per connection (wrk runs each thread's connections through one request() in turn): the n-th call
# polls feed n mod len(feeds), conditionally on even turns of the rotation, fully on odd ones
SCRIPT = """\
local feeds = {{ {feeds} }}
local etags = {{ {etags} }}
local n = 0
request = function()
  n = n + 1
  local i = (n % #feeds) + 1
  if math.floor(n / #feeds) % 2 == 0 then
    return wrk.format("GET", feeds[i], {{["Accept-Encoding"] = "gzip", ["If-None-Match"] = etags[i]}})
  end
  return wrk.format("GET", feeds[i], {{["Accept-Encoding"] = "gzip"}})
end
"""


@dataclass(frozen=True, slots=True)
class Load:
    server: str
    round: int
    result: WrkResult


def script_for(server: feeds_http.Server, feeds: Sequence[str], path: Path) -> Path:
    """The Lua script with this server's own ETags, checked: each feed answers 200, then 304 to it."""
    etags = []
    with httpx.Client(timeout=10) as client:
        for feed in feeds:
            full = client.get(server.base + feed, headers={"Accept-Encoding": "gzip"})
            etag = full.headers.get("etag")
            if full.status_code != 200 or etag is None:
                raise BenchError(f"{server.base}{feed}: gzip GET gave {full.status_code} (ETag {etag})")
            again = client.get(server.base + feed, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
            if again.status_code != 304:
                raise BenchError(f"{server.base}{feed}: If-None-Match {etag} gave {again.status_code}")
            etags.append(etag)
    quoted = ", ".join(json.dumps(x) for x in feeds), ", ".join(json.dumps(x) for x in etags)
    path.write_text(SCRIPT.format(feeds=quoted[0], etags=quoted[1]))
    return path


def run(args: argparse.Namespace, workdir: Path) -> list[Load]:
    serve_dir = workdir / "serve"
    serve_dir.mkdir()
    url = f"sqlite:///{serve_dir / 'db.sqlite'}"
    store = Store.open(url)
    try:
        feeds_data.fill(store, args.serve_count, args.serve_categories)
    finally:
        store.close()
    tree = serve_dir / "tree"
    run_timed(["build", "--out", str(tree)], url, serve_dir)
    feeds = args.feeds.split(",")
    syndicator = f"syndicator serve --workers {args.workers}"
    nginx = "nginx, worker_processes auto"
    results: list[Load] = []
    options = {"threads": args.threads, "connections": args.connections, "cpu": None}
    env = child_env(url) | {"SYNDICATOR_VAR_DIR": str(serve_dir / "var")}
    with (
        feeds_http.syndicator_server(
            syndicator_command(), env, serve_dir, None, args.workers, scheduler=True
        ) as ours,
        feeds_http.nginx_server(tree, serve_dir / "nginx", "auto", feeds_http.free_port(), None) as theirs,
    ):
        servers = {syndicator: ours, nginx: theirs}
        scripts = {
            name: script_for(s, feeds, serve_dir / f"{i}.lua") for i, (name, s) in enumerate(servers.items())
        }
        for name, server in servers.items():  # warm up
            feeds_http.wrk(server, "/", {}, seconds=2, script=scripts[name], **options)
        for round_number in range(1, args.rounds + 1):
            order = list(servers) if round_number % 2 else list(servers)[::-1]
            for name in order:
                result = feeds_http.wrk(
                    servers[name], "/", {}, seconds=args.seconds, script=scripts[name], **options
                )
                log(
                    f"load: round {round_number}, {name}: {result.requests_per_second:,.0f} requests/s, "
                    f"p50 {result.latency_p50_ms:.2f} ms, p99 {result.latency_p99_ms:.2f} ms"
                    + (f", errors: {result.errors}" if result.errors else "")
                )
                results.append(Load(name, round_number, result))
    return results


def table(results: Sequence[Load]) -> str:
    by: dict[str, list[WrkResult]] = {}
    for load in results:
        by.setdefault(load.server, []).append(load.result)
    lines = [
        f"| server | requests/s (median) | p50 ms (median) | p99 ms (median) | p99 ms (worst round) | "
        f"errors | target p99 <= {TARGET_P99_MS:g} ms, no errors, met |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for server, rounds in by.items():
        p99 = statistics.median(r.latency_p99_ms for r in rounds)
        errors = "; ".join(r.errors for r in rounds if r.errors) or "none"
        met = (
            ("**yes**" if p99 <= TARGET_P99_MS and errors == "none" else "**no**")
            if "syndicator" in server
            else ""
        )
        lines.append(
            f"| {server} | {statistics.median(r.requests_per_second for r in rounds):,.0f} | "
            f"{statistics.median(r.latency_p50_ms for r in rounds):.2f} | {p99:.2f} | "
            f"{max(r.latency_p99_ms for r in rounds):.2f} | {errors} | {met} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2, help="serve --workers (2)")
    parser.add_argument("--connections", type=int, default=200, help="wrk -c (200)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (2)")
    parser.add_argument("--seconds", type=int, default=30, help="wrk -d (30)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per server (2)")
    parser.add_argument("--feeds", default=FEEDS, help=f"comma-separated feeds polled ({FEEDS})")
    parser.add_argument("--serve-count", type=int, default=2000)
    parser.add_argument("--serve-categories", type=int, default=30)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    installed = feeds_http.ensure_tools()
    facts = machine()
    try:
        with tempfile.TemporaryDirectory(prefix="poll-load-") as scratch:
            results = run(args, Path(scratch))
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    facts["load_1min_end"] = round(os.getloadavg()[0], 2)
    print(f"Machine: {json.dumps(facts, ensure_ascii=False)}")
    if installed:
        print(f"Installed for this run with apt-get: {', '.join(installed)}")
    given = " ".join(argv if argv is not None else sys.argv[1:])
    print(f"Command: .venv/bin/python bench/poll_load.py {given}".rstrip())
    print(
        f"\n### Mixed polls ({args.feeds}: 304 and gzip 200 alternating), `wrk -t{args.threads} "
        f"-c{args.connections} -d{args.seconds}s --latency`, {args.rounds} rounds, nothing pinned\n"
    )
    print(table(results))
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "machine": facts,
                    "loads": [{"server": x.server, "round": x.round, **asdict(x.result)} for x in results],
                },
                ensure_ascii=False,
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
