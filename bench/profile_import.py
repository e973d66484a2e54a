"""Where the import's time goes: per-article cost of each stage, then a cProfile of import_paths.

    .venv/bin/python bench/profile_import.py [--files 10000] [--corpus bench/out/articles] [--top 25]

Uses the corpus of bench/generate.py (run bench/import_bench.py or generate.py first). The stage timings
run without the profiler (its overhead inflates code made of many small calls); the profile then runs
import_paths into a fresh SQLite file, as `syndicator import` does, and lists the top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from syndicator.ingest.importer import import_paths, iter_files
from syndicator.ingest.portal import parse_export
from syndicator.store import Store
from syndicator.text import category_slug

BENCH = Path(__file__).resolve().parent


def per_article(label: str, count: int, action: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = action()
    print(f"  {label:<34} {(time.perf_counter() - started) / count * 1e6:8.1f} µs/article")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=10_000, help="articles to use (whole subfolders)")
    parser.add_argument("--corpus", type=Path, default=BENCH / "out" / "articles")
    parser.add_argument("--top", type=int, default=25, help="functions listed")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        parser.error(f"no corpus at {args.corpus}: run bench/generate.py first")
    folders = sorted(p for p in args.corpus.iterdir() if p.is_dir())
    files = [source.path for source in iter_files(folders)][: args.files]
    count = len(files)
    print(f"{count} files from {args.corpus}; stages, no profiler:")
    datas = per_article("read the file", count, lambda: [(f.read_bytes(), f.stem) for f in files])
    parsed = per_article("parse_export", count, lambda: [parse_export(d, s) for d, s in datas])
    per_article("ArticleInput.content_hash()", count, lambda: [a.content_hash() for a in parsed])
    per_article("one category_slug() call", count, lambda: [category_slug(a.category_name) for a in parsed])

    with tempfile.TemporaryDirectory(prefix="syndicator-profile-") as scratch:
        store = Store.open(f"sqlite:///{Path(scratch) / 'profile.db'}")
        try:
            profile = cProfile.Profile()
            started = time.perf_counter()
            profile.enable()
            report = import_paths(store, files, datetime.now(UTC), ZoneInfo("Asia/Ho_Chi_Minh"))
            profile.disable()
            seconds = time.perf_counter() - started
        finally:
            store.close()
    print(f"\nimport_paths under cProfile: {report.created} created, {report.failed} failed, {seconds:.1f} s")
    stats = pstats.Stats(profile, stream=sys.stdout).strip_dirs()
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
