"""The scheduler's jobs as the console shows them: each job's runs per instance (count, last start,
duration, outcome, last error) and the instances that ran a scheduler, the leader among them.

jobs.py keeps runs in memory and writes them here every few seconds, or at once when something worth
seeing happened (a failure, a recovery, a slow run): a leader with nothing to do writes little.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, RowMapping, delete, select, update

from syndicator.store.database import _dialect_insert, upsert
from syndicator.store.schema import job_instances, job_runs


@dataclass(frozen=True, slots=True)
class JobRun:
    """One job's runs in one instance, as last recorded."""

    job: str
    instance: str
    runs: int
    failures: int
    last_started_at: datetime | None
    last_seconds: float | None
    last_ok: bool | None
    last_error: str | None
    last_error_at: datetime | None
    next_run_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Instance:
    instance: str
    leading: bool
    leading_since: datetime | None
    seen_at: datetime


ERROR_CHARS = 2000  # an error is one line; a driver's may be long, and a page shows it whole


def record(conn: Connection, runs: Sequence[JobRun]) -> None:
    """Writes each job's state in its instance (replacing what was there: one writer per instance)."""
    if not runs:
        return
    rows = [
        {
            "job": r.job,
            "instance": r.instance,
            "runs": r.runs,
            "failures": r.failures,
            "last_started_at": r.last_started_at,
            "last_seconds": r.last_seconds,
            "last_ok": r.last_ok,
            "last_error": r.last_error[:ERROR_CHARS] if r.last_error is not None else None,
            "last_error_at": r.last_error_at,
            "next_run_at": r.next_run_at,
            "updated_at": r.updated_at,
        }
        for r in runs
    ]
    statement = _dialect_insert(conn)(job_runs)
    columns = {c: statement.excluded[c] for c in rows[0] if c not in ("job", "instance")}
    conn.execute(statement.on_conflict_do_update(index_elements=["job", "instance"], set_=columns), rows)


def leads(conn: Connection, instance: str, since: datetime | None, now: datetime) -> None:
    """`instance` is seen now, leading since `since` (None: it runs a scheduler without leading); any
    other instance marked leading is not any more (one leader at a time)."""
    if since is not None:
        conn.execute(
            update(job_instances)
            .where(job_instances.c.instance != instance, job_instances.c.leading.is_(True))
            .values(leading=False, leading_since=None)
        )
    upsert(
        conn,
        job_instances,
        [{"instance": instance, "leading": since is not None, "leading_since": since, "seen_at": now}],
        "instance",
    )


def prune(conn: Connection, before: datetime) -> None:
    """Forgets instances not seen since `before`, and their runs: a restart is a new instance (a new
    process id), so each would otherwise stay listed for good."""
    conn.execute(delete(job_runs).where(job_runs.c.updated_at < before))
    conn.execute(delete(job_instances).where(job_instances.c.seen_at < before))


def runs(conn: Connection) -> list[JobRun]:
    """Every job's runs in every instance, by job then most recently updated first."""
    rows = conn.execute(select(job_runs).order_by(job_runs.c.job, job_runs.c.updated_at.desc()))
    return [_run(row._mapping) for row in rows]


def failing(conn: Connection) -> list[JobRun]:
    """Jobs whose last run failed, in the instance that ran them last (the leader's word is the latest):
    what the dashboard lists as needing attention."""
    latest: dict[str, JobRun] = {}
    for run in runs(conn):
        if run.last_started_at is None:
            continue
        held = latest.get(run.job)
        if held is None or (held.last_started_at is not None and run.last_started_at > held.last_started_at):
            latest[run.job] = run
    return sorted((r for r in latest.values() if r.last_ok is False), key=lambda r: r.job)


def instances(conn: Connection) -> list[Instance]:
    """Instances that ran a scheduler, the leader first, then the most recently seen."""
    rows = conn.execute(
        select(job_instances).order_by(job_instances.c.leading.desc(), job_instances.c.seen_at.desc())
    )
    return [Instance(str(r.instance), bool(r.leading), r.leading_since, r.seen_at) for r in rows]


def _run(row: RowMapping) -> JobRun:
    get = row.__getitem__
    return JobRun(
        job=str(get("job")),
        instance=str(get("instance")),
        runs=int(get("runs")),
        failures=int(get("failures")),
        last_started_at=get("last_started_at"),
        last_seconds=get("last_seconds"),
        last_ok=None if get("last_ok") is None else bool(get("last_ok")),
        last_error=get("last_error"),
        last_error_at=get("last_error_at"),
        next_run_at=get("next_run_at"),
        updated_at=get("updated_at"),
    )
