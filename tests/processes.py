"""Real `python -m syndicator ...` processes for the end-to-end tests and the latency benchmark.

Each process listens on a free loopback port (serve), runs in the test's own folder, and writes its
stderr (our log lines) to a file there. `Processes` starts them and stops every one at the end:
SIGTERM, then SIGKILL if it has not exited in time. Waiting is always for a condition, with a
deadline: `eventually(...)`.

A test decorated with `@shows_logs` has the log of every process it started attached to its report
when it fails (a timeout of `Processes.eventually` or a failed start says it in the message too).
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ParamSpec, TypeVar

import httpx
import pytest

from tests.live import free_port

T = TypeVar("T")

HOST = "127.0.0.1"
TOKEN = "e2e-token-0123456789abcdef"
BASE_URL = "http://portal.test"  # the same for every instance of a cluster, so they render the same bytes
START_SECONDS = 30.0  # an import of syndicator and a schema creation, on a loaded 2-core machine
STOP_SECONDS = 10.0


@dataclass
class Process:
    name: str
    args: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str | None = None  # http://127.0.0.1:PORT for `serve`

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def count(self, text: str) -> int:
        """How many lines of the log contain `text`."""
        return sum(1 for line in self.log().splitlines() if text in line)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = STOP_SECONDS) -> int:
        """SIGTERM and wait; SIGKILL if it has not exited by then. Returns the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine or the OOM killer takes it."""
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(STOP_SECONDS)


def environment(
    *,
    database_url: str,
    home: Path,
    articles_dir: Path | None = None,
    tokens: Sequence[str] = (TOKEN,),
    base_url: str = BASE_URL,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a syndicator process: this one's, less any SYNDICATOR_* it had."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATOR_")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "PYTHONIOENCODING": "utf-8",
            "SYNDICATOR_DATABASE_URL": database_url,
            "SYNDICATOR_ARTICLES_DIR": str(articles_dir or home / "drop"),
            "SYNDICATOR_VAR_DIR": str(home / "var"),
            "SYNDICATOR_API_TOKENS": ",".join(tokens),
            "SYNDICATOR_BASE_URL": base_url,
            "SYNDICATOR_SECRET_KEY": "e2e-secret-key-0123456789",
        }
    )
    env.update(extra or {})
    return env


def eventually(
    condition: Callable[[], T],
    what: str,
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    logs: Callable[[], str] = lambda: "",
) -> T:
    """Call `condition` until it returns something true (returned) or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            shown = logs()
            raise AssertionError(f"not within {timeout:g} s: {what}" + (f"\n{shown}" if shown else ""))
        time.sleep(interval)


@dataclass
class Processes:
    """The processes of one test; `stop_all` ends every one still running."""

    workdir: Path
    node: pytest.Item | None = None  # the test, to attach the logs to when it fails
    started: list[Process] = field(default_factory=list)

    def serve(self, env: Mapping[str, str], *, name: str = "serve", args: Sequence[str] = ()) -> Process:
        """`syndicator serve` on a free port, returned once /healthz answers 200."""
        # one process unless the test asks for workers: what the tests count (log lines, leaders)
        # is per process, and a 2-core machine runs them in parallel
        workers = [] if any(a.startswith("--workers") for a in args) else ["--workers", "1"]
        for attempt in range(3):
            port = free_port()
            process = self._start(
                name,
                ["serve", "--host", HOST, "--port", str(port), *workers, *args],
                env,
                url=f"http://{HOST}:{port}",
            )
            if self._wait_healthy(process):
                return process
            if "address already in use" not in process.log().lower() or attempt == 2:
                break
            # another test took the port between free_port() and the bind: take another one
            self.started.remove(process)
        raise AssertionError(f"{process.name} did not become healthy\n{self.logs()}")

    def worker(self, env: Mapping[str, str], *, name: str = "worker") -> Process:
        process = self._start(name, ["worker"], env)
        eventually(
            lambda: process.count("worker running the scheduled jobs") or not process.alive(),
            f"{name} to start",
            timeout=START_SECONDS,
            logs=self.logs,
        )
        if not process.alive():
            raise AssertionError(f"{name} exited with {process.popen.returncode}\n{self.logs()}")
        return process

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop()

    def logs(self) -> str:
        parts = []
        for process in self.started:
            state = "running" if process.alive() else f"exited {process.popen.returncode}"
            parts.append(f"----- {process.name} (pid {process.pid}, {state}): {' '.join(process.args)}")
            parts.append(process.log().rstrip() or "(no output)")
        return "\n".join(parts)

    def attach_logs(self) -> None:
        if self.node is not None and self.started:
            self.node.add_report_section("call", "stderr of syndicator processes", self.logs())

    def eventually(self, condition: Callable[[], T], what: str, *, timeout: float = 10.0) -> T:
        return eventually(condition, what, timeout=timeout, logs=self.logs)

    def _start(self, name: str, args: list[str], env: Mapping[str, str], url: str | None = None) -> Process:
        taken = {p.name for p in self.started}
        unique = name if name not in taken else f"{name}-{len(self.started)}"
        log_path = self.workdir / f"{unique}.stderr.log"
        command = [sys.executable, "-m", "syndicator", *args]
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                command, cwd=self.workdir, env=dict(env), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        process = Process(unique, command[1:], popen, log_path, url)
        self.started.append(process)
        return process

    def _wait_healthy(self, process: Process) -> bool:
        assert process.url is not None
        deadline = time.monotonic() + START_SECONDS
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not process.alive():
                    return False
                try:
                    if client.get(f"{process.url}/healthz").status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        process.kill()
        return False


P = ParamSpec("P")


def shows_logs(test: Callable[P, None]) -> Callable[P, None]:
    """Decorate a test taking a `Processes` fixture: on failure, its report shows the processes' logs."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            test(*args, **kwargs)
        except BaseException:
            for value in kwargs.values():
                if isinstance(value, Processes):
                    value.attach_logs()
            raise

    return run
