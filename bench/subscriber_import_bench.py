"""Subscriber import benchmark (issue 15): `syndicator subscribers import` of a generated CSV against
the database's own bulk loader of the same file, in the same run.

    .venv/bin/python bench/subscriber_import_bench.py [--rows 100000] [--small 10000] [--rounds 3]
        [--skip-pg] [--src DIR]

The file: a header (email,name,categories,frequency,language), then --rows rows of distinct addresses
with mixed categories, frequencies and languages, 1 % of them bad (an address, a frequency or a
language that is none), which the import reports and skips.

Each round, interleaved so that the machine's load falls on both alike:

  - the reference: the `sqlite3` shell's `.import` of the file into a fresh database with a table of the
    same columns and a unique index on the address without regard to case (COLLATE NOCASE); on
    PostgreSQL, `COPY ... FROM STDIN (FORMAT csv, HEADER)` into a fresh table with a unique index on
    lower(email), through psql's `\\copy` (a process, as `sqlite3` is);
  - `syndicator subscribers import FILE` (the CLI as a user runs it, a subprocess) into a database whose
    schema exists (`syndicator db upgrade` first, untimed) and holds no subscriber;
  - the same file again into that database (every row unchanged);
  - the first --small rows into a fresh database: peak RSS that does not grow with the file shows as
    the same peak for --small and --rows.

Wall time includes the CLI's start-up (measured alone too, as `subscribers import` of a header only).
Peak RSS is the import process's own ru_maxrss (os.wait4 on that child). Prints a Markdown table of
medians over the rounds; the figures in docs/benchmarks.md come from it.

--src DIR runs the code of another checkout's src/ (e.g. `git archive main src | tar -x -C /tmp/main`)
with this venv, for a before/after comparison.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common import PG_URL, machine, postgres_problem, postgres_schema, postgres_version

BENCH = Path(__file__).resolve().parent
TARGET = 0.05  # of the reference's speed (issue 15)
SUMMARY = re.compile(r"(\d+) added, (\d+) updated, (\d+) failed")

CATEGORIES = ["all", "thong-bao", "nong-nghiep", "thong-bao,nong-nghiep", "Quốc phòng - An ninh,y-te", ""]
FREQUENCIES = ["daily", "weekly", "immediate", ""]
LANGUAGES = ["vi", "en", ""]
SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi"]
GIVEN = ["Văn An", "Thị Bình", "Minh Chi", "Quốc Dũng", "Thu Hà", "Đức Long"]
DOMAINS = ["thoxuan.thanhhoa.gov.vn", "gmail.com", "yahoo.com.vn", "xa-tho-lap.vn", "Example.ORG"]


def write_csv(path: Path, rows: int, seed: int = 15) -> int:
    """The file; returns how many of its rows are bad (1 %: every 100th)."""
    rng = random.Random(seed)
    bad = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,name,categories,frequency,language\n")
        for number in range(rows):
            local = f"{rng.choice(['an', 'Binh', 'chi', 'dung.le', 'HA'])}{number}"
            email = f"{local}@{rng.choice(DOMAINS)}"
            name = f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}"
            categories = rng.choice(CATEGORIES)
            frequency, language = rng.choice(FREQUENCIES), rng.choice(LANGUAGES)
            if number % 100 == 99:
                bad += 1
                kind = number // 100 % 3
                if kind == 0:
                    email = f"{local} at example.org"
                elif kind == 1:
                    frequency = "hourly"
                else:
                    language = "fr"
            quoted = f'"{categories}"' if "," in categories else categories
            out.write(f"{email},{name},{quoted},{frequency},{language}\n")
    return bad


@dataclass(frozen=True, slots=True)
class Timed:
    seconds: float
    cpu_seconds: float  # the process's own (user + system): not the PostgreSQL server's
    peak_rss_mb: float
    output: str


def timed(command: Sequence[str], env: dict[str, str], cwd: Path, stdin: Path | None = None) -> Timed:
    """Run `command`; its wall time, peak RSS and standard output (and error), failing on no summary."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        source = stdin.open("rb") if stdin is not None else subprocess.DEVNULL
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err, stdin=source)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if stdin is not None and not isinstance(source, int):
            source.close()
        out.seek(0)
        err.seek(0)
        output = out.read().decode(errors="replace")
        errors = err.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Timed(seconds, cpu, usage.ru_maxrss / 1024, f"exit {code}\n{output}\n{errors[-2000:]}")


class Syndicator:
    def __init__(self, src: Path | None, work: Path) -> None:
        self.work = work
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATOR_")}
        if src is not None:
            self.env["PYTHONPATH"] = str(src)

    def run(self, url: str, *args: str) -> Timed:
        env = {**self.env, "SYNDICATOR_DATABASE_URL": url}
        return timed([sys.executable, "-m", "syndicator", *args], env, self.work)

    def upgrade(self, url: str) -> None:
        done = self.run(url, "db", "upgrade")
        if not done.output.startswith("exit 0"):
            sys.exit(f"error: db upgrade: {done.output}")

    def load(self, url: str, file: Path, expect: tuple[int, int, int]) -> Timed:
        done = self.run(url, "subscribers", "import", str(file))
        found = SUMMARY.search(done.output)
        if found is None or tuple(map(int, found.groups())) != expect:
            sys.exit(
                f"error: import of {file.name}: wanted {expect} (added, updated, failed):\n{done.output}"
            )
        return done


def sqlite_reference(file: Path, work: Path) -> Timed:
    database = work / "reference.db"
    database.unlink(missing_ok=True)
    script = (
        "CREATE TABLE s (email TEXT, name TEXT, categories TEXT, frequency TEXT, language TEXT);\n"
        "CREATE UNIQUE INDEX s_email ON s (email COLLATE NOCASE);\n"
        f".import --csv --skip 1 {file} s\n"
    )
    (work / "reference.sql").write_text(script)
    done = timed(["sqlite3", str(database)], dict(os.environ), work, stdin=work / "reference.sql")
    if not done.output.startswith("exit 0"):
        sys.exit(f"error: sqlite3 .import: {done.output}")
    return done


def postgres_reference(file: Path, work: Path, url: str) -> Timed:
    """psql's \\copy (COPY FROM STDIN) into a fresh table in the schema of `url`."""
    plain = url.replace("+psycopg", "")
    script = (
        "DROP TABLE IF EXISTS s;\n"
        "CREATE TABLE s (email text, name text, categories text, frequency text, language text);\n"
        "CREATE UNIQUE INDEX s_email ON s (lower(email));\n"
        f"\\copy s FROM '{file}' WITH (FORMAT csv, HEADER true)\n"
    )
    (work / "reference.psql").write_text(script)
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", plain, "-f", str(work / "reference.psql")]
    done = timed(command, dict(os.environ), work)
    if not done.output.startswith("exit 0"):
        sys.exit(f"error: psql \\copy: {done.output}")
    return done


@dataclass
class Rounds:
    label: str
    seconds: list[float]
    cpu: list[float]
    rss: list[float]

    def add(self, done: Timed) -> None:
        self.seconds.append(done.seconds)
        self.cpu.append(done.cpu_seconds)
        self.rss.append(done.peak_rss_mb)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-pg", action="store_true", help="no PostgreSQL runs")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server (fresh schemas are used)")
    parser.add_argument("--src", type=Path, help="another checkout's src/ to measure, with this venv")
    args = parser.parse_args(argv)
    if shutil.which("sqlite3") is None:
        sys.exit("error: no `sqlite3` shell (the reference)")
    pg_problem = "skipped (--skip-pg)" if args.skip_pg else postgres_problem(args.pg_url)
    info = machine()
    results: dict[str, Rounds] = {}

    def record(label: str, done: Timed) -> None:
        results.setdefault(label, Rounds(label, [], [], [])).add(done)

    with tempfile.TemporaryDirectory(prefix="syndicator-subbench-") as scratch:
        work = Path(scratch)
        big, small, header = work / "big.csv", work / "small.csv", work / "header.csv"
        bad = write_csv(big, args.rows)
        small_bad = write_csv(small, args.small)
        header.write_text("email,name,categories,frequency,language\n", encoding="utf-8")
        print(f"file: {args.rows:,} rows ({bad} bad), {big.stat().st_size:,} bytes", file=sys.stderr)
        cli = Syndicator(args.src, work)
        for round_ in range(1, args.rounds + 1):
            record("sqlite3 .import (reference)", sqlite_reference(big, work))
            db = work / f"r{round_}.db"
            url = f"sqlite:///{db}"
            cli.upgrade(url)
            record("SQLite: import, fresh", cli.load(url, big, (args.rows - bad, 0, bad)))
            record("SQLite: re-import (unchanged)", cli.load(url, big, (0, args.rows - bad, bad)))
            db.unlink()
            small_url = f"sqlite:///{work / 'small.db'}"
            cli.upgrade(small_url)
            expect = (args.small - small_bad, 0, small_bad)
            record(f"SQLite: import of {args.small:,} rows, fresh", cli.load(small_url, small, expect))
            record("start-up (a header only)", cli.load(small_url, header, (0, 0, 0)))
            (work / "small.db").unlink()
            if pg_problem is None:
                with postgres_schema(args.pg_url, prefix="b15a") as pg:
                    record("psql \\copy (reference)", postgres_reference(big, work, pg))
                    cli.upgrade(pg)
                    record("PostgreSQL: import, fresh", cli.load(pg, big, (args.rows - bad, 0, bad)))
                    record("PostgreSQL: re-import (unchanged)", cli.load(pg, big, (0, args.rows - bad, bad)))
            said = ", ".join(f"{k} {v.seconds[-1]:.2f} s" for k, v in results.items())
            print(f"round {round_}: {said}", file=sys.stderr)
    if pg_problem is None:
        info["postgresql"] = postgres_version(args.pg_url)
    else:
        print(f"PostgreSQL: {pg_problem}", file=sys.stderr)

    print(f"{args.rows:,} rows ({bad} bad), {args.rounds} rounds, medians; {info}\n")
    print("| run | seconds | rows/s | × reference | CPU s | CPU × reference | peak RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, rounds in results.items():
        reference = "psql \\copy (reference)" if "PostgreSQL" in label else "sqlite3 .import (reference)"
        rows = args.small if label.startswith("SQLite: import of") else args.rows
        rows = 0 if label.startswith("start-up") else rows
        compared = rows == args.rows and "reference" not in label
        ratio = f"{results[reference].median / rounds.median:.3f}" if compared else ""
        cpu = statistics.median(rounds.cpu)
        # psql's CPU is not COPY's (the server does that): no CPU ratio on PostgreSQL
        cpu_ratio = (
            f"{statistics.median(results[reference].cpu) / cpu:.3f}" if compared and "SQLite" in label else ""
        )
        print(
            f"| {label} | {rounds.median:.2f} | {rows / rounds.median:,.0f} | {ratio} | {cpu:.2f} | "
            f"{cpu_ratio} | {max(rounds.rss):.0f} |"
        )
    print(f"\nTarget: >= {TARGET}× the reference, fresh and re-import, on SQLite and PostgreSQL.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
