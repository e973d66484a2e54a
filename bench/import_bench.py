"""Import benchmark (issue 2): `syndicator import` of a generated corpus, timed, with the peak RSS.

    .venv/bin/python bench/import_bench.py [--count 100000] [--small 10000] [--skip-pg]

One invocation: generate the corpus with bench/generate.py unless bench/out/articles already holds the
same one (its MANIFEST.json says so), then run the real CLI (`syndicator import`, a subprocess with
SYNDICATOR_DATABASE_URL set and a scratch working directory) for:

  - SQLite, fresh database, the first --small articles (whole subfolders of the tree);
  - SQLite, fresh database, all --count articles;
  - SQLite, the same --count articles again into that database (all unchanged);
  - PostgreSQL, a fresh schema, all --count articles (unless --skip-pg or the server is not reachable).

Peak RSS is the import process's own ru_maxrss (os.wait4 on that child), so the runs do not mix. Memory
that does not grow with the number of files shows as the same peak RSS for --small and --count.
Prints a Markdown table; the figures in docs/benchmarks.md come from it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common import (  # bench/common.py (bench/ is on sys.path when run)
    PG_URL,
    machine,
    postgres_problem,
    postgres_schema,
    postgres_version,
)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from generate import PER_FOLDER, manifest_of, read_manifest  # noqa: E402

TARGET_RATE = 2000  # articles/s into SQLite (issue 2)
SUMMARY = re.compile(r"(\d+) files: (\d+) created, (\d+) updated, (\d+) unchanged, (\d+) failed")


@dataclass(frozen=True, slots=True)
class Run:
    label: str
    files: int
    created: int
    unchanged: int
    failed: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.files / self.seconds if self.seconds else 0.0


def syndicator_command() -> str:
    for candidate in (Path(sys.executable).parent / "syndicator", ROOT / ".venv" / "bin" / "syndicator"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("syndicator")
    if found is None:
        sys.exit("error: no `syndicator` command: run with .venv/bin/python or install the project")
    return found


def ensure_corpus(out: Path, count: int, categories: int, seed: int) -> None:
    wanted = manifest_of(count, categories, seed, PER_FOLDER)
    found = read_manifest(out)
    if found is not None and all(found.get(key) == value for key, value in wanted.items()):
        print(f"corpus: reusing {out} ({count} articles, seed {seed})", file=sys.stderr)
        return
    print(f"corpus: generating {count} articles into {out} ...", file=sys.stderr)
    command = [sys.executable, str(BENCH / "generate.py"), "--count", str(count)]
    command += ["--categories", str(categories), "--seed", str(seed), "--out", str(out)]
    subprocess.run(command, check=True)


def first_folders(out: Path, articles: int) -> list[Path]:
    """The subfolders holding the first `articles` articles (whole folders: rounded up)."""
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    return folders[: math.ceil(articles / PER_FOLDER)]


def run_import(label: str, url: str, paths: Sequence[Path], workdir: Path) -> Run:
    """`syndicator import PATHS` in a subprocess; wall time, CPU time and peak RSS of that process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATOR_")}
    env["SYNDICATOR_DATABASE_URL"] = url
    command = [syndicator_command(), "import", *map(str, paths)]
    log_out, log_err = workdir / "import.out", workdir / "import.err"
    with log_out.open("wb") as stdout, log_err.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    output = log_out.read_text(errors="replace")
    match = SUMMARY.search(output)
    if match is None or process.returncode != 0:
        tail = log_err.read_text(errors="replace")[-3000:]
        sys.exit(f"error: {label}: exit {process.returncode}\n{output[-2000:]}\n{tail}")
    files, created, _updated, unchanged, failed = map(int, match.groups())
    run = Run(
        label=label,
        files=files,
        created=created,
        unchanged=unchanged,
        failed=failed,
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
    )
    print(
        f"{label}: {files} files in {seconds:.1f} s ({run.rate:,.0f}/s), "
        f"{created} created, {unchanged} unchanged, {failed} failed, peak RSS {run.peak_rss_mb:.0f} MB",
        file=sys.stderr,
    )
    return run


def table(runs: Sequence[Run]) -> str:
    lines = [
        "| run | articles | seconds | articles/s | CPU s (import process) | articles/CPU-s | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        lines.append(
            f"| {run.label} | {run.files:,} | {run.seconds:.1f} | {run.rate:,.0f} | "
            f"{run.cpu_seconds:.1f} | {run.files / max(run.cpu_seconds, 1e-9):,.0f} | {run.peak_rss_mb:.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=100_000, help="articles in the big runs (100000)")
    parser.add_argument("--small", type=int, help="articles in the small run (default: count / 10)")
    parser.add_argument("--categories", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "articles", help="the corpus folder")
    parser.add_argument("--skip-pg", action="store_true", help="no PostgreSQL run")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server (a fresh schema is used)")
    args = parser.parse_args(argv)
    small = args.small or max(1, args.count // 10)
    if not 1 <= small <= args.count:
        parser.error("--small must be between 1 and --count")

    ensure_corpus(args.out, args.count, args.categories, args.seed)
    everything = [args.out]
    runs: list[Run] = []
    info = machine()
    with tempfile.TemporaryDirectory(prefix="syndicator-bench-") as scratch:
        work = Path(scratch)
        subset = first_folders(args.out, small)
        runs.append(run_import("SQLite, fresh", f"sqlite:///{work / 'small.db'}", subset, work))
        (work / "small.db").unlink()
        full = f"sqlite:///{work / 'full.db'}"
        runs.append(run_import("SQLite, fresh", full, everything, work))
        runs.append(run_import("SQLite, re-import (all unchanged)", full, everything, work))
        empty = work / "empty"
        empty.mkdir()
        startup = run_import("SQLite, no files", f"sqlite:///{work / 'empty.db'}", [empty], work)
        if args.skip_pg:
            print("PostgreSQL: skipped (--skip-pg)", file=sys.stderr)
        elif problem := postgres_problem(args.pg_url):
            print(f"PostgreSQL: skipped, not reachable at {args.pg_url}: {problem}", file=sys.stderr)
        else:
            with postgres_schema(args.pg_url) as url:
                runs.append(run_import("PostgreSQL, fresh schema", url, everything, work))
            info["postgresql"] = postgres_version(args.pg_url)

    for run in runs:
        if run.failed:
            sys.exit(f"error: {run.label}: {run.failed} articles failed to import")
    sqlite_fresh = [r for r in runs if r.label == "SQLite, fresh"]
    rate_ok = all(r.rate >= TARGET_RATE for r in sqlite_fresh)
    low, high = sqlite_fresh[0], sqlite_fresh[-1]
    growth = high.peak_rss_mb - low.peak_rss_mb
    print(table(runs))
    print()
    print(f"Start-up alone (CLI import of an empty folder, schema created): {startup.seconds:.1f} s, "
          f"peak RSS {startup.peak_rss_mb:.0f} MB; it is included in every row above.")  # fmt: skip
    print(
        f"Target >= {TARGET_RATE:,} articles/s into SQLite: {'met' if rate_ok else 'NOT met'} "
        f"({', '.join(f'{r.rate:,.0f}/s' for r in sqlite_fresh)} wall-clock; "
        f"{', '.join(f'{r.files / max(r.cpu_seconds, 1e-9):,.0f}' for r in sqlite_fresh)} per CPU-second). "
        f"Peak RSS {low.peak_rss_mb:.0f} MB for {low.files:,} files vs {high.peak_rss_mb:.0f} MB for "
        f"{high.files:,} ({growth:+.0f} MB)."
    )
    info["load_average_1min"] = {"before": info.pop("load_1min"), "after": round(os.getloadavg()[0], 2)}
    if max(info["load_average_1min"].values()) >= 1:  # the import is one process on one core
        print(
            "Warning: the machine was busy (load average >= 1): the import waited for a CPU, so its "
            "wall-clock rates are low; articles/CPU-s is what it would reach on an idle core."
        )
    print(f"Machine: {json.dumps(info, ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
