"""Feed benchmark (issue 3): polls against nginx, rebuild after one change, full build at 100,000 articles.

    .venv/bin/python bench/feeds_bench.py [--skip-pg] [--no-archives] [--seconds 10] [--json FILE]

One invocation measures, in this order:

1. Polls. A temporary SQLite database with --serve-count articles (2,000) in --serve-categories (30)
   is built with `syndicator build --out TREE` (which also keeps the rendered feeds in the database).
   `syndicator serve --no-scheduler --log-level warning` (one process, serving the kept feeds) and
   nginx with docs/nginx.md's configuration serving TREE with `worker_processes 1`, on loopback
   ports, are polled by wrk (`wrk -t1 -c32 -d10s --latency`) for the same feed (--feed,
   /feeds/all.rss) two ways: a conditional GET answered 304 (`If-None-Match:` the ETag that server
   itself returns) and a gzip 200 (`Accept-Encoding: gzip`), in --rounds (3) rounds that alternate
   the two servers (the table gives medians, and the median of each round's ratio); then nginx with
   `worker_processes auto`, one round. Before measuring, each server is checked to answer exactly
   that (and all to serve the same bytes); the benchmark stops with an error otherwise. On this
   2-core machine the server under test is pinned to CPU 0 and wrk to CPU 1 (taskset; --no-pin to
   not), so syndicator (one process) against nginx (one worker) is a fair 1-vs-1 comparison;
   `worker_processes auto` (2 workers, unpinned, sharing the CPUs with wrk) is there for context.
   With --workers N (above 1; issue 15), `serve --workers N` is compared with nginx `worker_processes
   auto` instead, round by round, nothing pinned (targets: 304 >= 0.9x, gzip 200 >= 0.75x);
   --polls-only skips parts 2 and 3.
2. Rebuild after one change, at --count (100,000) articles in --categories (100): in this process, a
   FeedBuilder on a copy of the filled SQLite database (and on a fresh PostgreSQL schema unless
   --skip-pg or no server) does its first full refresh, then --iterations (20) times the newest
   article is rewritten (Store.write, new title and body) and `builder.refresh(now)` is timed: it must
   render the category's and `all`'s three feeds, exactly those six documents. Also timed: the store
   watch's next tick (1 s later, inside its 30 s look-back: the two channels are checked again and
   nothing is rendered) and an idle tick. A second, instrumented series splits the refresh into store
   queries, rendering, gzip, fingerprints and the database write of the rendered feeds.
3. Full build: `syndicator build` (a subprocess, first build: no kept feeds) on a copy of the
   100,000-article database, timed, with its peak RSS (os.wait4); then `syndicator build --out DIR`
   on another fresh copy, which also renders every RFC 5005 archive page (--no-archives skips it).

The filled 100,000-article SQLite database is kept under bench/out/feeds/ (gitignored) and reused by
later runs while the schema revision matches. nginx-light and wrk are installed with apt-get when
missing (the benchmark says so). No request leaves 127.0.0.1. Prints Markdown tables; the figures in
docs/benchmarks.md ("## Feeds") come from them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import feeds_data  # noqa: E402
import feeds_http  # noqa: E402
from common import PG_URL, postgres_problem, postgres_schema, postgres_version  # noqa: E402
from common import machine as common_machine  # noqa: E402
from feeds_http import BenchError, WrkResult  # noqa: E402
from syndicator import documents as cache_module  # noqa: E402 - RenderedFeed.make calls these
from syndicator import feeds as syndicator_feeds  # noqa: E402
from syndicator import links  # noqa: E402
from syndicator.config import load_settings  # noqa: E402
from syndicator.model import ArticleInput  # noqa: E402
from syndicator.publish.builder import FeedBuilder  # noqa: E402
from syndicator.publish.cache import FeedCache  # noqa: E402
from syndicator.store import Store  # noqa: E402
from syndicator.store import archives as store_archives  # noqa: E402
from syndicator.store import articles as store_articles  # noqa: E402
from syndicator.store import channels as store_channels  # noqa: E402

# issue 3's targets
TARGET_RATIO = 0.5  # syndicator's requests/s at least half of nginx's (one worker)
TARGET_REBUILD_MS = 50.0
TARGET_BUILD_S = 5.0
TARGET_BUILD_MB = 300.0
SERVER_CPU, WRK_CPU = 0, 1


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def syndicator_command() -> list[str]:
    for candidate in (Path(sys.executable).parent / "syndicator", ROOT / ".venv" / "bin" / "syndicator"):
        if candidate.is_file():
            return [str(candidate)]
    raise BenchError("no `syndicator` command: run with .venv/bin/python or install the project")


def child_env(url: str) -> dict[str, str]:
    """The environment of a syndicator subprocess: this one's, less any SYNDICATOR_* but the database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATOR_")}
    return env | {"SYNDICATOR_DATABASE_URL": url}


# ---------------------------------------------------------------------------------------------------
# 1. polls: syndicator serve against nginx
# ---------------------------------------------------------------------------------------------------


SYNDICATOR = "syndicator serve (1 process)"
NGINX_1 = "nginx, worker_processes 1"
NGINX_AUTO = "nginx, worker_processes auto"
POLL_KINDS = ("304", "gzip 200")
# issue 15's targets for `serve --workers N` against nginx with `worker_processes auto`, all unpinned
WORKERS_TARGETS = {"304": 0.9, "gzip 200": 0.75}


def syndicator_name(workers: int) -> str:
    return SYNDICATOR if workers == 1 else f"syndicator serve --workers {workers}"


def reference(workers: int) -> str:
    """What syndicator is compared with: one nginx worker pinned beside it, or as many as cores."""
    return NGINX_1 if workers == 1 else NGINX_AUTO


@dataclass(frozen=True, slots=True)
class Poll:
    server: str
    kind: str  # "304" | "gzip 200"
    round: int
    result: WrkResult


def polls(args: argparse.Namespace, workdir: Path) -> list[Poll]:
    """wrk against syndicator and nginx (1 worker) in alternating rounds, then nginx (auto) once.

    Other work on the machine comes and goes: alternating the two servers round by round, and
    comparing each round's pair, keeps a passing load from favouring one of them.
    """
    serve_dir = workdir / "serve"
    serve_dir.mkdir()
    url = f"sqlite:///{serve_dir / 'db.sqlite'}"
    store = Store.open(url)
    try:
        feeds_data.fill(store, args.serve_count, args.serve_categories)
    finally:
        store.close()
    tree = serve_dir / "tree"
    run_timed(["build", "--out", str(tree)], url, serve_dir)  # keeps the feeds in the database too
    if not (tree / args.feed.lstrip("/")).is_file():
        raise BenchError(f"`syndicator build --out` wrote no {args.feed}")
    # several workers use every core, as nginx's `auto` does: nothing is pinned then
    pin = not args.no_pin and args.workers == 1
    cpu = SERVER_CPU if pin else None
    options: dict[str, Any] = {
        "threads": args.threads,
        "connections": args.connections,
        "cpu": WRK_CPU if pin else None,
    }
    syndicator_label, reference_label = syndicator_name(args.workers), reference(args.workers)
    results: list[Poll] = []
    probes: dict[str, feeds_http.Probe] = {}
    servers: dict[str, feeds_http.Server] = {}

    def check(name: str, server: feeds_http.Server) -> None:
        """The server answers the two polls as it must (else BenchError), and is warmed up."""
        servers[name] = server
        probe = probes[name] = feeds_http.probe(server.base + args.feed)
        log(
            f"polls: {name}: {server.base}{args.feed} answers 200, 304 to ETag {probe.etag}, "
            f"gzip 200 ({probe.gzip_bytes} B)"
        )
        for kind in POLL_KINDS:
            feeds_http.wrk(server, args.feed, headers(name, kind), seconds=1, **options)

    def headers(name: str, kind: str) -> dict[str, str]:
        return {"If-None-Match": probes[name].etag} if kind == "304" else {"Accept-Encoding": "gzip"}

    def measure(name: str, kind: str, round_number: int) -> None:
        result = feeds_http.wrk(
            servers[name], args.feed, headers(name, kind), seconds=args.seconds, **options
        )
        if result.errors:
            raise BenchError(f"{name}, {kind}: wrk reports {result.errors}")
        log(
            f"polls: round {round_number}, {name}, {kind}: {result.requests_per_second:,.0f} requests/s, "
            f"{result.per_cpu_second:,.0f} per server CPU-second"
        )
        results.append(Poll(name, kind, round_number, result))

    def unchanged(name: str) -> None:
        if feeds_http.probe(servers[name].base + args.feed).etag != probes[name].etag:
            raise BenchError(f"{name}: the ETag of {args.feed} changed while it was polled")

    upstream = feeds_http.free_port()  # nginx's `location /` proxy target; not polled
    nginx_workers = "1" if args.workers == 1 else "auto"
    with (
        feeds_http.syndicator_server(
            syndicator_command(), child_env(url), serve_dir, cpu, args.workers
        ) as syndicator,
        feeds_http.nginx_server(
            tree, serve_dir / f"nginx-{nginx_workers}", nginx_workers, upstream, cpu
        ) as nginx,
    ):
        check(syndicator_label, syndicator)
        check(reference_label, nginx)
        for round_number in range(1, args.rounds + 1):
            pair = (syndicator_label, reference_label)
            order = pair if round_number % 2 else pair[::-1]
            for kind in POLL_KINDS:
                for name in order:
                    measure(name, kind, round_number)
        unchanged(syndicator_label)
        unchanged(reference_label)
    if args.workers > 1:  # nginx auto was the reference, measured in every round
        if len({probe.body for probe in probes.values()}) != 1:
            raise BenchError(f"the servers do not serve the same bytes for {args.feed}")
        return results
    with feeds_http.nginx_server(tree, serve_dir / "nginx-auto", "auto", upstream, None) as nginx:
        check(NGINX_AUTO, nginx)
        for kind in POLL_KINDS:
            measure(NGINX_AUTO, kind, 1)
        unchanged(NGINX_AUTO)
    if len({probe.body for probe in probes.values()}) != 1:
        raise BenchError(f"the servers do not serve the same bytes for {args.feed}")
    return results


# ---------------------------------------------------------------------------------------------------
# 2. rebuild of one category after one change
# ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Rebuild:
    database: str
    articles: int
    fill_seconds: float | None  # None: a kept template was copied
    first_refresh_ms: float
    change_ms: list[float]
    recheck_ms: list[float]  # the next store-watch tick, inside the look-back
    idle_ms: list[float]
    phases_ms: dict[str, float] = field(default_factory=dict)  # per changed refresh, instrumented


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (p95 of 20 values is the 19th smallest)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


class Phases:
    """Wall time spent in named functions during a with-block, by patching them (no nesting among them)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, label: str | Callable[..., str]) -> None:
        original = getattr(owner, name)
        totals = self.totals

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                key = label(*args, **kwargs) if callable(label) else label
                totals[key] = totals.get(key, 0.0) + time.perf_counter() - started

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()


@contextmanager
def instrumented(store: Store) -> Iterator[Phases]:
    phases = Phases()
    phases.wrap(store_channels, "changes", "store: changed categories (changes)")
    phases.wrap(store_channels, "names", "store: category names (names)")
    phases.wrap(
        store_articles,
        "count_visible",
        lambda conn, now, category=None: f"store: count, {'category' if category else '`all`'}",
    )
    phases.wrap(
        store_archives,
        "unarchived",
        lambda conn, key, now, **kw: f"store: unarchived ids, {'`all`' if key == 'all' else 'category'}",
    )
    phases.wrap(store_archives, "by_ids", "store: the feed's rows (by_ids)")
    phases.wrap(store_archives, "last_page", "store: newest archive page (last_page)")
    phases.wrap(store_archives, "archive", "store: archive what left the feed (archive)")
    phases.wrap(store_archives, "page", "store: archive page rows (archives.page)")
    phases.wrap(syndicator_feeds, "render", lambda kind, *a, **k: f"render {kind} (feeds.render)")
    phases.wrap(cache_module, "deterministic_gzip", "gzip -9 of each document")
    phases.wrap(cache_module, "etag_of", "sha256 ETag")
    phases.wrap(FeedBuilder, "_fingerprint", "fingerprints (_fingerprint)")
    phases.wrap(FeedBuilder, "persist", "write rendered_feeds (persist)")
    try:
        yield phases
    finally:
        phases.restore()


def rebuild(database: str, url: str, count: int, iterations: int, fill_seconds: float | None) -> Rebuild:
    settings = load_settings(database_url=url)
    store = Store.open(url)
    try:
        newest = store.articles(datetime.now(UTC), limit=1)[0]  # in its category's feed and in `all`
        changed_input = ArticleInput(
            id=newest.id,
            title=newest.title,
            category_name=newest.category.name,
            published_at=newest.published_at,
            body_html=newest.body_html,
            summary=newest.summary,
            author=newest.author,
            office=newest.office,
            url=newest.url,
            source="bench",
        )
        builder = FeedBuilder(store, settings, FeedCache())
        now = datetime.now(UTC).replace(microsecond=0)
        started = time.perf_counter()
        first = builder.refresh(now)
        first_ms = (time.perf_counter() - started) * 1000
        log(
            f"rebuild ({database}): first refresh rendered {len(first.rendered)} documents "
            f"in {first_ms:,.0f} ms"
        )
        expected = {
            links.feed_path(key, kind)
            for key in ("all", newest.category.slug)
            for kind in ("rss", "atom", "json")
        }
        result = Rebuild(database, count, fill_seconds, first_ms, [], [], [])
        for round_number in range(iterations * 2):
            now += timedelta(seconds=60)  # outside the store watch's 30 s look-back of the last change
            edited = replace(
                changed_input,
                title=f"{changed_input.title} (cập nhật lần {round_number + 1})",
                body_html=changed_input.body_html + f"<p>Cập nhật lần {round_number + 1}.</p>",
            )
            store.write([edited], now)
            timing = instrumented(store) if round_number >= iterations else _nothing()
            with timing as phases:
                started = time.perf_counter()
                report = builder.refresh(now)
                elapsed = (time.perf_counter() - started) * 1000
            if set(report.rendered) != expected:
                raise BenchError(
                    f"one change rendered {sorted(report.rendered)}, expected {sorted(expected)}"
                )
            if phases is None:
                result.change_ms.append(elapsed)
            else:
                for key, seconds in phases.totals.items():
                    result.phases_ms[key] = result.phases_ms.get(key, 0.0) + seconds * 1000 / iterations
                result.phases_ms["(total)"] = result.phases_ms.get("(total)", 0.0) + elapsed / iterations
            if round_number < iterations:
                started = time.perf_counter()
                report = builder.refresh(now + timedelta(seconds=1))  # the store watch's next tick
                result.recheck_ms.append((time.perf_counter() - started) * 1000)
                # a change already handled is not looked at again (its revision is known)
                if report.rendered or report.checked != 0:
                    raise BenchError(
                        f"the tick after a change checked {report.checked}, rendered {report.rendered}"
                    )
        now += timedelta(seconds=60)
        builder.refresh(now)  # the last change's re-check; the ticks below have nothing to look at
        for _ in range(iterations):
            now += timedelta(seconds=60)
            started = time.perf_counter()
            report = builder.refresh(now)
            result.idle_ms.append((time.perf_counter() - started) * 1000)
            if report.checked or report.rendered:
                raise BenchError(f"an idle tick checked {report.checked} channels")
    finally:
        store.close()
    log(
        f"rebuild ({database}): one change {statistics.median(result.change_ms):.1f} ms median, "
        f"{percentile(result.change_ms, 0.95):.1f} ms p95"
    )
    return result


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


# ---------------------------------------------------------------------------------------------------
# 3. full build
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Build:
    label: str
    seconds: float
    peak_mb: float
    output: str  # what the command printed (its own counts)
    finished: bool = True  # False: stopped at the time limit


def run_timed(args: Sequence[str], url: str, workdir: Path, limit: float | None = None) -> Build:
    """`syndicator ARGS` as a subprocess: wall time, peak RSS (its own ru_maxrss, via os.wait4)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*syndicator_command(), *args], env=child_env(url), cwd=workdir, stdout=out, stderr=err
        )
        finished = True
        deadline = None if limit is None else started + limit
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                process.kill()  # our own child, by its pid
                _, status, usage = os.wait4(process.pid, 0)
                finished = False
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting
        out.seek(0)
        err.seek(0)
        printed, problems = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if finished and process.returncode != 0:
        raise BenchError(f"syndicator {' '.join(args)} exited {process.returncode}:\n{problems}")
    return Build(" ".join(args), seconds, usage.ru_maxrss / 1024, " ".join(printed.split()), finished)


def builds(template: Path, workdir: Path, archives: bool, archive_limit: float) -> list[Build]:
    done: list[Build] = []
    url = feeds_data.copy_of(template, workdir / "build" / "db.sqlite")
    result = run_timed(["build"], url, workdir / "build")
    log(f"build: {result.seconds:.2f} s, peak RSS {result.peak_mb:.0f} MB: {result.output}")
    done.append(result)
    if archives:
        url = feeds_data.copy_of(template, workdir / "build-out" / "db.sqlite")
        tree = workdir / "build-out" / "tree"
        log(f"build --out: running (stopped after {archive_limit:.0f} s) ...")
        result = run_timed(["build", "--out", str(tree)], url, workdir / "build-out", archive_limit)
        state = "" if result.finished else f" (stopped at the {archive_limit:.0f} s limit)"
        log(f"build --out: {result.seconds:.1f} s{state}, peak RSS {result.peak_mb:.0f} MB: {result.output}")
        done.append(replace(result, label="build --out DIR", output=result.output.replace(str(tree), "DIR")))
    return done


# ---------------------------------------------------------------------------------------------------
# archive pages, sampled in process (the full `build --out` may take many minutes)
# ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ArchiveSample:
    pages_all: int  # archive pages of `all`
    pages_categories: int  # of every category together
    sample_ms: dict[int, float]  # `all`'s page number -> ms
    category_ms: float  # every page of one category
    category_pages: int
    estimate_s: float  # every archive page of every channel, from the samples
    phases_ms: dict[str, float]  # per `all` page, averaged over the sample


def archive_sample(url: str, samples: int = 6) -> ArchiveSample:
    """Time `all`'s archive pages at points spread over its range, and one category's whole set.

    A page is read by its stored number (store/archives.py), so its cost should not grow with the
    number; `all`'s total is still fitted as a + b * page over the samples and summed over every page.
    The builder's first refresh archives what left each feed before the pages are read.
    """
    settings = load_settings(database_url=url)
    store = Store.open(url)
    try:
        now = datetime.now(UTC)
        builder = FeedBuilder(store, settings, FeedCache())
        builder.refresh(now)  # archives what left each feed (the first time: every older article)
        with store.reading() as conn:
            last_page = store_archives.last_page(conn, "all")
            slugs = [c.category.slug for c in store.categories(now) if c.visible]
            per_category = {slug: store_archives.last_page(conn, slug) for slug in slugs}
        pages = sorted({max(1, round(last_page * i / (samples - 1))) for i in range(samples)})
        timings: dict[int, float] = {}
        with instrumented(store) as phases:
            for page in pages:
                started = time.perf_counter()
                if builder.archive_page("all", page, now) is None:
                    raise BenchError(f"no archive page {page} of `all` (of {last_page})")
                timings[page] = (time.perf_counter() - started) * 1000
        slug = max(per_category, key=lambda k: per_category[k])
        started = time.perf_counter()
        made = sum(1 for _ in builder.archive_pages(slug, now))
        category_ms = (time.perf_counter() - started) * 1000
    finally:
        store.close()
    xs, ys = list(timings), list(timings.values())
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread if spread else 0.0
    intercept = mean_y - slope * mean_x
    all_ms = sum(max(0.0, intercept + slope * p) for p in range(1, last_page + 1))
    categories_ms = category_ms / max(made, 1) * sum(per_category.values())
    result = ArchiveSample(
        pages_all=last_page,
        pages_categories=sum(per_category.values()),
        sample_ms=timings,
        category_ms=category_ms,
        category_pages=made,
        estimate_s=(all_ms + categories_ms) / 1000,
        phases_ms={k: v * 1000 / len(pages) for k, v in phases.totals.items()},
    )
    log(
        f"archives: `all` page 1 {timings[pages[0]]:.0f} ms ... "
        f"page {pages[-1]} {timings[pages[-1]]:.0f} ms; "
        f"{made} pages of {slug} in {category_ms:.0f} ms; all {result.pages_all + result.pages_categories} "
        f"pages: ~{result.estimate_s:.0f} s"
    )
    return result


# ---------------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "**yes**" if met else "**no**"


def paired_ratio(
    rounds: dict[int, WrkResult], base: dict[int, WrkResult], value: Callable[[WrkResult], float]
) -> float:
    """The median over rounds of value(this round) / value(the base server's same round)."""
    pairs = [value(r) / value(base[n]) for n, r in rounds.items() if n in base]
    return statistics.median(pairs) if pairs else float("nan")


def poll_table(results: Sequence[Poll], workers: int = 1) -> str:
    """Medians over the rounds; a ratio is the median of each round's syndicator/nginx pair."""
    by: dict[tuple[str, str], dict[int, WrkResult]] = {}
    for poll in results:
        by.setdefault((poll.server, poll.kind), {})[poll.round] = poll.result
    base = reference(workers)
    targets = {kind: TARGET_RATIO for kind in POLL_KINDS} if workers == 1 else WORKERS_TARGETS
    shown = " / ".join(f"{ratio}x" for ratio in dict.fromkeys(targets.values()))
    lines = [
        f"| server | poll | requests/s (median) | rounds: min - max | vs {base} | "
        f"target >= {shown} met | requests per server CPU-second | vs nginx | p50 ms | p99 ms |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for (server, kind), rounds in by.items():
        nginx = by.get((base, kind), {})

        rates = [r.requests_per_second for r in rounds.values()]
        per_cpu = statistics.median(r.per_cpu_second for r in rounds.values())
        rate_ratio = paired_ratio(rounds, nginx, lambda r: r.requests_per_second)
        cpu_ratio = paired_ratio(rounds, nginx, lambda r: r.per_cpu_second)
        met = verdict(rate_ratio >= targets[kind]) if server == syndicator_name(workers) else ""
        p50 = statistics.median(r.latency_p50_ms for r in rounds.values())
        p99 = statistics.median(r.latency_p99_ms for r in rounds.values())
        spread = f"{min(rates):,.0f} - {max(rates):,.0f}" if len(rates) > 1 else "(1 round)"
        lines.append(
            f"| {server} | {kind} | {statistics.median(rates):,.0f} | {spread} | {rate_ratio:.2f}x | {met} | "
            f"{per_cpu:,.0f} | {cpu_ratio:.2f}x | {p50:.2f} | {p99:.2f} |"
        )
    return "\n".join(lines)


def rebuild_table(results: Sequence[Rebuild]) -> str:
    lines = [
        "| database | articles | first refresh (all channels) | one change: median | p95 | "
        "target <= 50 ms met (p95) | next tick (re-check, no render): median | idle tick: median |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in results:
        p95 = percentile(r.change_ms, 0.95)
        lines.append(
            f"| {r.database} | {r.articles:,} | {r.first_refresh_ms / 1000:.2f} s | "
            f"{statistics.median(r.change_ms):.1f} ms | {p95:.1f} ms | {verdict(p95 <= TARGET_REBUILD_MS)} | "
            f"{statistics.median(r.recheck_ms):.1f} ms | {statistics.median(r.idle_ms):.1f} ms |"
        )
    return "\n".join(lines)


def phases_table(results: Sequence[Rebuild], sample: ArchiveSample | None) -> str:
    names = sorted({k for r in results for k in r.phases_ms if k != "(total)"})
    header = [f"one change, {r.database} (ms)" for r in results]
    if sample is not None:
        header.append("one `all` archive page, SQLite (ms)")
        names = sorted(set(names) | set(sample.phases_ms))
    lines = ["| where the time goes | " + " | ".join(header) + " |", "| --- |" + " ---: |" * len(header)]
    columns = [r.phases_ms for r in results] + ([sample.phases_ms] if sample is not None else [])
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{c.get(name, 0.0):.1f}" for c in columns) + " |")
    totals = [r.phases_ms.get("(total)", 0.0) for r in results]
    if sample is not None:
        totals.append(statistics.fmean(sample.sample_ms.values()))
    others = [
        t - sum(v for k, v in c.items() if k != "(total)") for t, c in zip(totals, columns, strict=True)
    ]
    lines.append(
        "| everything else (SQLAlchemy/Python glue, OPML, ...) | "
        + " | ".join(f"{o:.1f}" for o in others)
        + " |"
    )
    lines.append("| **total** | " + " | ".join(f"**{t:.1f}**" for t in totals) + " |")
    return "\n".join(lines)


def build_table(results: Sequence[Build], sample: ArchiveSample | None, count: int, categories: int) -> str:
    lines = [
        f"| command ({count:,} articles, {categories} categories, first build) | seconds | peak RSS MB | "
        "target <= 5 s and <= 300 MB met | output |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for b in results:
        seconds = f"{b.seconds:.2f}" if b.finished else f"> {b.seconds:.0f} (stopped)"
        met = verdict(b.finished and b.seconds <= TARGET_BUILD_S and b.peak_mb <= TARGET_BUILD_MB)
        if b.label != "build":
            met = "(reported separately)"
        lines.append(f"| `syndicator {b.label}` | {seconds} | {b.peak_mb:.0f} | {met} | {b.output or '-'} |")
    if sample is not None:
        lines.append(
            f"| archive pages alone, estimated from samples ({sample.pages_all:,} of `all` + "
            f"{sample.pages_categories:,} of the categories) | ~{sample.estimate_s:,.0f} | | | "
            f"`all` page 1: {min(sample.sample_ms.values()):.0f} ms, page {max(sample.sample_ms)}: "
            f"{sample.sample_ms[max(sample.sample_ms)]:.0f} ms; "
            f"{sample.category_pages} pages of one category: {sample.category_ms:.0f} ms |"
        )
    return "\n".join(lines)


def machine(pg: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {**common_machine(), **feeds_http.versions()}
    if pg:
        found["postgresql"] = pg
    return found


# ---------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=100_000, help="articles for rebuild and build (100000)")
    parser.add_argument("--categories", type=int, default=100, help="their categories (100)")
    parser.add_argument("--serve-count", type=int, default=2000, help="articles behind the polled servers")
    parser.add_argument("--serve-categories", type=int, default=30)
    parser.add_argument("--feed", default="/feeds/all.rss", help="the feed polled (/feeds/all.rss)")
    parser.add_argument("--seconds", type=int, default=10, help="wrk -d (10)")
    parser.add_argument("--threads", type=int, default=1, help="wrk -t (1)")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c (32)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per server and poll (3)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and wrk to CPUs 0 and 1")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="serve --workers N (1): above 1, compared with nginx `worker_processes auto`, nothing pinned",
    )
    parser.add_argument("--polls-only", action="store_true", help="only the wrk runs (no rebuild, no build)")
    parser.add_argument("--iterations", type=int, default=20, help="timed changes per database (20)")
    parser.add_argument("--skip-pg", action="store_true", help="no PostgreSQL rebuild run")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server (a fresh schema is used)")
    parser.add_argument(
        "--no-archives", action="store_true", help="skip `build --out` and the archive samples"
    )
    parser.add_argument(
        "--archive-limit", type=float, default=120.0, help="stop `build --out` after this many seconds (120)"
    )
    parser.add_argument(
        "--skip-polls", action="store_true", help="no wrk runs (for a quick look at the rest)"
    )
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)

    installed = feeds_http.ensure_tools()
    pg_problem = None if args.skip_pg else postgres_problem(args.pg_url)
    pg_version = postgres_version(args.pg_url) if not args.skip_pg and pg_problem is None else None
    facts = machine(pg_version)
    log(f"machine: {json.dumps(facts, ensure_ascii=False)}")
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="feeds-bench-") as scratch:
            workdir = Path(scratch)
            poll_results = [] if args.skip_polls else polls(args, workdir)
            rebuilds: list[Rebuild] = []
            build_results: list[Build] = []
            sample: ArchiveSample | None = None
            if not args.polls_only:
                template = feeds_data.template(args.count, args.categories)
                url = feeds_data.copy_of(template, workdir / "rebuild" / "db.sqlite")
                rebuilds = [rebuild("SQLite", url, args.count, args.iterations, None)]
                sample = None if args.no_archives else archive_sample(url)
                if args.skip_pg:
                    log("PostgreSQL: skipped (--skip-pg)")
                elif pg_problem is not None:
                    log(f"PostgreSQL: skipped, not reachable at {args.pg_url}: {pg_problem}")
                else:
                    with postgres_schema(args.pg_url) as pg_url:
                        log(f"data: writing {args.count} articles into a fresh PostgreSQL schema ...")
                        store = Store.open(pg_url)
                        try:
                            fill_seconds = feeds_data.fill(
                                store, args.count, args.categories, label="PostgreSQL"
                            )
                        finally:
                            store.close()
                        log(f"data: PostgreSQL filled in {fill_seconds:.0f} s")
                        rebuilds.append(
                            rebuild("PostgreSQL", pg_url, args.count, args.iterations, fill_seconds)
                        )
                build_results = builds(template, workdir, not args.no_archives, args.archive_limit)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    facts["load_1min_end"] = round(os.getloadavg()[0], 2)  # other work on the machine skews the figures

    print("## Feeds benchmark\n")
    print(f"Machine: {json.dumps(facts, ensure_ascii=False)}")
    if installed:
        print(f"Installed for this run with apt-get: {', '.join(installed)}")
    given = " ".join(argv if argv is not None else sys.argv[1:])
    print(f"Command: .venv/bin/python bench/feeds_bench.py {given}".rstrip())
    print(f"Benchmark wall time: {elapsed:.0f} s\n")
    if poll_results:
        print(
            f"### Polls of {args.feed} ({args.serve_count:,} articles, {args.serve_categories} categories), "
            f"`wrk -t{args.threads} -c{args.connections} -d{args.seconds}s --latency`, {args.rounds} rounds"
            + (
                ", nothing pinned"
                if args.no_pin or args.workers > 1
                else ", server on CPU 0, wrk on CPU 1 (nginx auto: unpinned)"
            )
            + "\n"
        )
        print(poll_table(poll_results, args.workers) + "\n")
    if not args.polls_only:
        print(
            f"### Rebuild after one article changes ({args.count:,} articles, {args.categories} categories)\n"
        )
        print(rebuild_table(rebuilds) + "\n")
        print(phases_table(rebuilds, sample) + "\n")
        print("### Full build\n")
        print(build_table(build_results, sample, args.count, args.categories))
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "machine": facts,
                    "installed": installed,
                    "polls": [
                        {"server": p.server, "kind": p.kind, "round": p.round, **asdict(p.result)}
                        for p in poll_results
                    ],
                    "rebuilds": [asdict(r) for r in rebuilds],
                    "archive_sample": asdict(sample) if sample is not None else None,
                    "builds": [asdict(b) for b in build_results],
                    "seconds": elapsed,
                },
                ensure_ascii=False,
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
