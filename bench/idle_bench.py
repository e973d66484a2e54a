"""Idle cost: the CPU an instance with nothing to do uses, as a % of one core (issue 15's targets: a
leading instance with an empty drop folder ≤ 0.5 %, a follower ≤ 0.3 %).

    .venv/bin/python bench/idle_bench.py [--rounds 3] [--seconds 60] [--seed 2000] [--reference SRC]

Starts real `syndicator serve` processes on loopback ports: on SQLite one instance (it leads), on
PostgreSQL (a fresh schema) a leader and a follower (`serve --no-scheduler`), each with --seed articles
imported beforehand and an empty drop folder. With --reference (the src/ folder of another checkout,
e.g. main's), the same processes of that code run beside these, at the same time, so both meet the
same load of the machine. After QUIET_SECONDS (the store watch looks 30 s back), each round reads
utime + stime from /proc/<pid>/stat over --seconds; the table gives each process's median over the
rounds, with the machine's load average. Sends nothing but to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from common import PG_URL, machine, postgres_problem, postgres_schema
from latency_bench import cpu_seconds, jsonl, seed_records

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.processes import Process, Processes, environment  # noqa: E402

QUIET_SECONDS = 35.0
LEADS = "this instance now runs the scheduled jobs"
TARGETS = {"leader": 0.5, "follower": 0.3}


@contextmanager
def database(pg: bool, work: Path) -> Iterator[str]:
    if pg:
        with postgres_schema(PG_URL, prefix="c15idle") as url:
            yield url
    else:
        yield f"sqlite:///{work / 'var' / 'syndicator.db'}"


def start(
    stack: ExitStack, code: str, src: Path, pg: bool, seed: int, scratch: Path
) -> list[tuple[str, Process]]:
    """The processes of one setup ("sqlite" or "pg") of one tree; (label, process) each."""
    work = scratch / f"{code}-{'pg' if pg else 'sqlite'}"
    work.mkdir()
    url = stack.enter_context(database(pg, work))
    folder = work / "drop"
    folder.mkdir()
    env = environment(database_url=url, home=work, articles_dir=folder, extra={"PYTHONPATH": str(src)})
    records = work / "seed.jsonl"
    records.write_text(jsonl(*seed_records(seed)), encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "syndicator", "import", str(records)],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    processes = Processes(work)
    stack.callback(processes.stop_all)
    setup = "pg" if pg else "sqlite"
    leader = processes.serve(env, name="leader")
    processes.eventually(lambda: leader.count(LEADS), "the leader", timeout=60)
    started = [(f"{code} | {setup} | leader", leader)]
    if pg:
        follower = processes.serve(env, name="follower", args=["--no-scheduler"])
        started.append((f"{code} | {setup} | follower", follower))
    return started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=2000)
    parser.add_argument("--reference", type=Path, help="src/ of the code to compare with (e.g. main's)")
    args = parser.parse_args(argv)
    trees = [("this", ROOT / "src")]
    if args.reference is not None:
        trees.insert(0, ("reference", args.reference.resolve()))
    pg = postgres_problem(PG_URL) is None
    with tempfile.TemporaryDirectory(prefix="idle-bench-") as scratch, ExitStack() as stack:
        processes: list[tuple[str, Process]] = []
        for code, src in trees:
            for on_pg in (False, True) if pg else (False,):
                processes += start(stack, code, src, on_pg, args.seed, Path(scratch))
        print(f"  started; {QUIET_SECONDS:.0f} s for quiet", file=sys.stderr, flush=True)
        time.sleep(QUIET_SECONDS)
        shares: dict[str, list[float]] = {label: [] for label, _ in processes}
        loads = []
        for number in range(args.rounds):
            before = {label: cpu_seconds(p.pid) for label, p in processes}
            began = time.monotonic()
            time.sleep(args.seconds)
            wall = time.monotonic() - began
            for label, p in processes:
                shares[label].append(100 * (cpu_seconds(p.pid) - before[label]) / wall)
            loads.append(os.getloadavg()[0])
            print(f"  round {number + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    load = f"load average (1 min) over the rounds {min(loads):.1f}-{max(loads):.1f}"
    print(f"Idle cost, {args.rounds} x {args.seconds:g} s, {args.seed} articles: {machine()}; {load}\n")
    print("| code | database | process | % of one core (median) | rounds | target |")
    print("| --- | --- | --- | ---: | --- | --- |")
    met = True
    for label, values in shares.items():
        role = label.rsplit("| ", 1)[1]
        median = statistics.median(values)
        ok = median <= TARGETS[role]
        if label.startswith("this"):
            met &= ok
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {label} | {median:.2f} % | {shown} | ≤ {TARGETS[role]} % {'yes' if ok else '**no**'} |")
    if not pg:
        print("\nPostgreSQL not reachable: its setups were skipped")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
