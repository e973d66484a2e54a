"""Which ASGI server for the poll path (issue 15): uvicorn (as `serve --workers N` runs it) against
granian, both with N workers, and nginx `worker_processes auto` as the reference, in the same run.

    .venv/bin/pip install granian   # not a dependency of the project: only this comparison uses it
    .venv/bin/python bench/asgi_servers.py [--workers 2] [--rounds 2] [--seconds 8]

A temporary SQLite database with 2,000 articles in 30 categories is built with `syndicator build
--out TREE`; the three servers (nothing pinned) are polled in alternating rounds by `wrk -t1 -c32`
for /feeds/all.rss, a 304 (If-None-Match: the server's own ETag) and a gzip 200. granian serves the
very app `serve` builds (create_app on an assembled service, without the scheduler), through
`granian --interface asgi --factory asgi_servers:granian_app`. The figure that decides is requests
per server CPU-second (the server's processes, children included): what the other work on a busy
machine changes least. No request leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import feeds_data  # noqa: E402
import feeds_http  # noqa: E402
from common import machine  # noqa: E402
from feeds_bench import child_env, log, run_timed, syndicator_command  # noqa: E402
from feeds_http import BenchError, WrkResult  # noqa: E402
from syndicator.store import Store  # noqa: E402

FEED = "/feeds/all.rss"


def granian_app() -> Any:
    """granian's factory (in each of its workers): the app `serve --no-scheduler` builds."""
    from syndicator.cliout import settings
    from syndicator.service import assemble
    from syndicator.web.app import create_app

    config = settings()
    store = Store.open(config.database_url, config.categories)
    return create_app(assemble(config, store, render_now=False).services)


@contextmanager
def granian(env: Mapping[str, str], workdir: Path, workers: int) -> Iterator[feeds_http.Server]:
    command = shutil.which("granian", path=str(Path(sys.executable).parent)) or shutil.which("granian")
    if command is None:
        raise BenchError("granian is not installed: .venv/bin/pip install granian")
    port = feeds_http.free_port()
    log_path = workdir / "granian.log"
    args = [
        command, "--interface", "asgi", "--factory", "--workers", str(workers), "--host", feeds_http.HOST,
        "--port", str(port), "--log-level", "warning", "--no-ws", "asgi_servers:granian_app",
    ]  # fmt: skip
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            args, env={**env, "PYTHONPATH": str(BENCH)}, cwd=workdir, stdout=out, stderr=out
        )
    base = f"http://{feeds_http.HOST}:{port}"
    try:
        feeds_http.wait_ready(base + "/healthz", process, log_path)
        yield feeds_http.Server(base, process.pid)
    finally:
        feeds_http.stop(process)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args(argv)
    feeds_http.ensure_tools()
    facts = machine()
    results: dict[tuple[str, str], list[WrkResult]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="asgi-servers-") as scratch, ExitStack() as stack:
            workdir = Path(scratch)
            url = f"sqlite:///{workdir / 'db.sqlite'}"
            store = Store.open(url)
            try:
                feeds_data.fill(store, 2000, 30)
            finally:
                store.close()
            run_timed(["build", "--out", str(workdir / "tree")], url, workdir)
            env = child_env(url) | {"SYNDICATOR_VAR_DIR": str(workdir / "var")}
            servers = {
                f"uvicorn (serve --workers {args.workers})": stack.enter_context(
                    feeds_http.syndicator_server(syndicator_command(), env, workdir, None, args.workers)
                ),
                f"granian --workers {args.workers}": stack.enter_context(granian(env, workdir, args.workers)),
                "nginx, worker_processes auto": stack.enter_context(
                    feeds_http.nginx_server(
                        workdir / "tree", workdir / "nginx", "auto", feeds_http.free_port(), None
                    )
                ),
            }
            etags = {name: feeds_http.probe(server.base + FEED).etag for name, server in servers.items()}
            for round_number in range(args.rounds):
                names = list(servers) if round_number % 2 == 0 else list(servers)[::-1]
                for kind in ("304", "gzip 200"):
                    for name in names:
                        headers = (
                            {"If-None-Match": etags[name]} if kind == "304" else {"Accept-Encoding": "gzip"}
                        )
                        result = feeds_http.wrk(
                            servers[name],
                            FEED,
                            headers,
                            threads=1,
                            connections=32,
                            seconds=args.seconds,
                            cpu=None,
                        )
                        log(
                            f"{name}, {kind}: {result.requests_per_second:,.0f}/s, "
                            f"{result.per_cpu_second:,.0f}/CPU-s"
                        )
                        results.setdefault((name, kind), []).append(result)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    facts["load_1min_end"] = round(os.getloadavg()[0], 2)
    print(f"Machine: {json.dumps(facts, ensure_ascii=False)}")
    given = " ".join(argv if argv is not None else sys.argv[1:])
    print(f"Command: .venv/bin/python bench/asgi_servers.py {given}".rstrip() + "\n")
    print("| server | poll | requests/s (median) | requests per server CPU-second (median) | p99 ms |")
    print("| --- | --- | ---: | ---: | ---: |")
    for (name, kind), rounds in results.items():
        print(
            f"| {name} | {kind} | {statistics.median(r.requests_per_second for r in rounds):,.0f} | "
            f"{statistics.median(r.per_cpu_second for r in rounds):,.0f} | "
            f"{statistics.median(r.latency_p99_ms for r in rounds):.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
