"""`serve --workers N`: real processes sharing one port, one of them running the jobs, supervised.

Which worker answered is told by process inspection, not by anything the server sends: a connection
accepted by a worker is an open socket of that worker (/proc/PID/fd), found by its inode in
/proc/net/tcp. Every wait is for a condition, with a deadline.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.factories import article_json
from tests.processes import BASE_URL, HOST, TOKEN, Process, Processes, environment, shows_logs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

LEADS = "this instance now runs the scheduled jobs"
ESTABLISHED = "01"


def workers_of(server: Process) -> set[int]:
    """The process ids of serve's children (its workers)."""
    found: set[int] = set()
    try:
        for task in Path(f"/proc/{server.pid}/task").iterdir():
            found |= {int(pid) for pid in (task / "children").read_text().split()}
    except OSError:
        pass
    return found


def two_workers_of(processes: Processes, server: Process, *, not_: int | None = None) -> set[int]:
    """serve's two workers, once it has two (none of them `not_`)."""

    def found() -> set[int]:
        pids = workers_of(server)
        return pids if len(pids) == 2 and not_ not in pids else set()

    return processes.eventually(found, "two workers" + (f" (not {not_})" if not_ else ""), timeout=30)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def accepted_by(port: int, pids: set[int]) -> dict[int, int]:
    """How many established connections to `port` each of `pids` holds (its accepted sockets)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rpartition(":")[2], 16) == port and fields[3] == ESTABLISHED:
                inodes.add(fields[9])
    held: dict[int, int] = {}
    for pid in pids:
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for name in names:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{name}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held[pid] = held.get(pid, 0) + 1
    return held


def port_of(server: Process) -> int:
    assert server.url is not None
    return int(server.url.rpartition(":")[2])


def clients_per_worker(server: Process, stack: ExitStack, processes: Processes) -> dict[int, httpx.Client]:
    """One kept-alive connection held by each worker: new connections until every worker has one."""
    port = port_of(server)
    pids = two_workers_of(processes, server)
    assert server.url is not None
    by_worker: dict[int, httpx.Client] = {}

    def one_more() -> bool:
        before = accepted_by(port, pids)
        client = stack.enter_context(httpx.Client(base_url=server.url or "", timeout=5))
        assert client.get("/healthz").status_code == 200  # the connection stays open (keep-alive)
        after = accepted_by(port, pids)
        grown = [pid for pid in pids if after.get(pid, 0) > before.get(pid, 0)]
        if len(grown) == 1:  # the worker that accepted this client's connection
            by_worker.setdefault(grown[0], client)
        return len(by_worker) == len(pids)

    processes.eventually(one_more, "a connection accepted by each worker", timeout=20)
    return by_worker


def feed_ids(client: httpx.Client, key: str = "all") -> set[str]:
    response = client.get(f"/feeds/{key}.json")
    if response.status_code != 200:
        return set()
    return {item["id"].removeprefix(f"{BASE_URL}/a/") for item in response.json()["items"]}


def post(client: httpx.Client, article_id: str) -> None:
    article = article_json(article_id, datetime.now(UTC) - timedelta(hours=1))
    response = client.post("/api/articles", json=article, headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code in (200, 201), response.text


def published_everywhere(processes: Processes, clients: dict[int, httpx.Client], article_id: str) -> None:
    for pid, client in clients.items():

        def served(client: httpx.Client = client) -> bool:
            return article_id in feed_ids(client)

        processes.eventually(served, f"{article_id} served by worker {pid}")


@pytest.fixture
def two_workers(database_url: str, processes: Processes, tmp_path: Path) -> Iterator[Process]:
    env = environment(database_url=database_url, home=tmp_path)
    yield processes.serve(env, args=["--workers", "2"])


@shows_logs
def test_both_workers_serve_one_runs_the_jobs_and_sigterm_stops_them_all(
    database_url: str, processes: Processes, two_workers: Process
) -> None:
    server = two_workers
    with ExitStack() as stack:
        clients = clients_per_worker(server, stack, processes)
        assert set(clients) == workers_of(server)
        # an article sent to either worker is published by the leader and served by both
        first, second = clients.values()
        post(first, "qua-tien-trinh-mot")
        post(second, "qua-tien-trinh-hai")
        published_everywhere(processes, clients, "qua-tien-trinh-mot")
        published_everywhere(processes, clients, "qua-tien-trinh-hai")
    assert server.count(LEADS) == 1  # one election won, by one worker, for the whole run
    assert "Traceback" not in server.log()
    children = workers_of(server)

    assert server.stop() == 0
    processes.eventually(lambda: not any(alive(pid) for pid in children), "every worker to be gone")
    assert server.count("Application shutdown complete") == 2  # each ran its lifespan's end (flush)
    assert "not written at shutdown" not in server.log()


@shows_logs
def test_a_killed_worker_is_replaced_and_a_killed_parent_leaves_no_worker(
    database_url: str, processes: Processes, two_workers: Process
) -> None:
    server = two_workers
    before = two_workers_of(processes, server)
    processes.eventually(lambda: server.count(LEADS), "a worker to lead")
    killed = min(before)
    os.kill(killed, signal.SIGKILL)  # as the OOM killer would; it may be the leader
    processes.eventually(
        lambda: server.count(f"(pid {killed}) was killed by signal 9; starting another"), "a line"
    )
    after = two_workers_of(processes, server, not_=killed)
    assert len(after & before) == 1 and server.alive()
    with ExitStack() as stack:
        clients = clients_per_worker(server, stack, processes)
        post(next(iter(clients.values())), "sau-khi-thay-the")
        published_everywhere(processes, clients, "sau-khi-thay-the")  # someone leads again

    server.kill()  # SIGKILL: no shutdown code of the parent runs
    processes.eventually(lambda: not any(alive(pid) for pid in after), "the workers to follow their parent")


def test_a_port_in_use_fails_the_start_in_one_line(processes: Processes, tmp_path: Path) -> None:
    env = environment(database_url=f"sqlite:///{tmp_path / 'store.db'}", home=tmp_path)
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "syndicator",
                "serve",
                "--host",
                HOST,
                "--port",
                str(port),
                "--workers",
                "2",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"error: cannot listen on http://{HOST}:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_workers_that_keep_dying_stop_the_serve_with_one_line() -> None:
    """A worker that cannot stay up (here: its body exits at once) is started again until RESTART_LIMIT
    deaths within RESTART_WINDOW; then the supervisor stops and returns 1, saying why."""
    from syndicator import workers

    said: list[str] = []
    sockets = workers.listening_sockets(HOST, 0, 1)  # port 0: one socket is enough here
    status = workers.Supervisor(sockets, lambda index, sock: 3, said.append).run()
    assert status == 1
    restarts = [line for line in said if line.endswith("exited with status 3; starting another")]
    assert len(restarts) == workers.RESTART_LIMIT - 1
    assert said[-1].startswith("syndicator: worker 1 (pid ")
    assert said[-1].endswith(
        f"{workers.RESTART_LIMIT} workers died within 60 s: stopping the others and exiting"
    )
    assert all(sock.fileno() == -1 for sock in sockets)  # closed
