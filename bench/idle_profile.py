"""Where an idle instance's CPU goes: each scheduled job (and the feed cache's follower look) called
in this process, over an idle store, `--calls` times; its CPU time per call (time.thread_time) times
the calls per minute its interval makes is its share of one core.

    .venv/bin/python bench/idle_profile.py [--calls 200] [--seed 2000] [--pg]

The seed is imported first and rendered once; the jobs then find nothing to do, as on an idle day.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from common import PG_URL, machine, postgres_problem, postgres_schema

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from latency_bench import seed_records  # noqa: E402
from syndicator import jobs  # noqa: E402
from syndicator.config import load_settings  # noqa: E402
from syndicator.service import assemble  # noqa: E402
from syndicator.store import Store  # noqa: E402


@contextmanager
def database(pg: bool, work: Path) -> Iterator[str]:
    if pg:
        with postgres_schema(PG_URL, prefix="c15idle") as url:
            yield url
    else:
        yield f"sqlite:///{work / 'syndicator.db'}"


def per_call(job: Callable[[], object], calls: int) -> float:
    job()  # the first call may do once-only work (a takeover, a cache fill)
    started = time.thread_time()
    for _ in range(calls):
        job()
    return (time.thread_time() - started) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2000)
    parser.add_argument("--pg", action="store_true")
    args = parser.parse_args()
    if args.pg and (problem := postgres_problem(PG_URL)):
        print(f"PostgreSQL not reachable: {problem}")
        return 1
    with (
        tempfile.TemporaryDirectory(prefix="idle-profile-") as scratch,
        database(args.pg, Path(scratch)) as url,
    ):
        work = Path(scratch)
        (work / "drop").mkdir()
        seed = work / "drop" / "seed.jsonl"
        seed.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in seed_records(args.seed)))
        os.environ.update({"SYNDICATOR_ARTICLES_DIR": str(work / "drop"), "SYNDICATOR_VAR_DIR": str(work)})
        settings = load_settings(database_url=url)
        store = Store.open(url, settings.category_names())
        try:
            service = assemble(settings, store)
            work_jobs = jobs.Jobs(service)
            work_jobs.drop_folder()  # the seed, read and rendered
            follower = service.services.follower
            assert follower is not None
            every = {
                "store-watch": jobs.STORE_WATCH_SECONDS,
                "drop-folder (no watch)": jobs.DROP_FOLDER_SECONDS,
                "drop-folder (watched)": settings.imports.rescan_seconds,
                "officials": jobs.OFFICIALS_SECONDS,
                "deliver": jobs.DELIVER_SECONDS,
                "immediate": settings.digest.immediate_every_seconds,
                "readership": jobs.READERSHIP_SECONDS,
                "digests + purge": jobs.DIGEST_CHECK_SECONDS,
                "follower look (SQLite)": 0.5,
                "lead() alone": jobs.STORE_WATCH_SECONDS,
            }
            calls: dict[str, Callable[[], object]] = {
                "store-watch": work_jobs.store_watch,
                "drop-folder (no watch)": work_jobs.drop_folder,
                "drop-folder (watched)": work_jobs.drop_folder,
                "officials": work_jobs.officials,
                "deliver": work_jobs.deliver,
                "immediate": work_jobs.immediate,
                "readership": work_jobs.readership,
                "digests + purge": work_jobs.digests,
                "follower look (SQLite)": lambda: follower.sync(service.services.clock()),
                "lead() alone": work_jobs.lead,
            }
            print(
                f"Idle cost per job, {'PostgreSQL' if args.pg else 'SQLite'}, {args.seed} articles: "
                f"{machine()}\n"
            )
            print("| job | CPU ms per call | every (s) | % of one core |")
            print("| --- | ---: | ---: | ---: |")
            total = 0.0
            for name, job in calls.items():
                if name == "follower look (SQLite)" and args.pg:
                    continue
                cost = per_call(job, args.calls)
                share = 100 * cost / every[name]
                if "(no watch)" not in name and name != "lead() alone":
                    total += share
                print(f"| {name} | {cost * 1000:.2f} | {every[name]:g} | {share:.2f} % |")
            print(f"\nTotal (watched drop folder, without lead() alone): {total:.2f} % of one core")
            service.close()
        finally:
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
