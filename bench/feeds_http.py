"""The HTTP half of the feed benchmark: nginx and `syndicator serve` on loopback ports, polled by wrk.

Nothing here sends a request anywhere but 127.0.0.1. Every server is a child process of the benchmark,
stopped by its own process id when the benchmark ends (or fails).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

HOST = "127.0.0.1"

# docs/nginx.md's server block, on a loopback port and a temporary root; the rest is what nginx needs
# to run unprivileged files in a temporary directory in the foreground (`daemon off`).
NGINX_CONF = """\
user root;  # the benchmark runs as root and its temporary root is 0700: workers must read it
worker_processes {workers};
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;  # as Debian's stock nginx.conf
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    server {{
        listen {host}:{port};
        server_name localhost;
        root {root};

        types {{
            application/rss+xml  rss;
            application/atom+xml atom;
            application/feed+json json;
            text/x-opml          opml;
        }}
        charset utf-8;
        charset_types application/rss+xml application/atom+xml application/feed+json text/x-opml;

        etag on;
        gzip_static on;
        gzip_vary on;
        if_modified_since exact;

        location /feeds/ {{
            add_header Cache-Control "public, max-age=300" always;
            try_files $uri =404;
        }}
        location = /feeds.opml {{
            add_header Cache-Control "public, max-age=300" always;
        }}
        location / {{
            proxy_pass http://{host}:{upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


class BenchError(Exception):
    """The benchmark cannot measure what it claims to (a server answers wrongly, a tool is missing)."""


def ensure_tools() -> list[str]:
    """nginx and wrk, installed with apt-get when missing; returns what was installed."""
    missing = [pkg for pkg, tool in (("nginx-light", "nginx"), ("wrk", "wrk")) if not _which(tool)]
    if not missing:
        return []
    print(
        f"tools: {', '.join(missing)} missing: running apt-get install -y {' '.join(missing)}",
        file=sys.stderr,
    )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", *missing], check=True, env=env, stdout=subprocess.DEVNULL)
    for tool in ("nginx", "wrk"):
        if not _which(tool):
            raise BenchError(f"{tool} is still missing after apt-get install")
    return missing


def _which(tool: str) -> str | None:
    return shutil.which(tool) or next(
        (str(p) for p in (Path("/usr/sbin") / tool, Path("/usr/bin") / tool) if p.is_file()), None
    )


def versions() -> dict[str, str]:
    nginx = subprocess.run([_which("nginx") or "nginx", "-v"], capture_output=True, text=True)
    wrk = subprocess.run([_which("wrk") or "wrk", "-v"], capture_output=True, text=True)
    nginx_version = (nginx.stderr or nginx.stdout).strip().removeprefix("nginx version: ")
    wrk_match = re.search(r"wrk (\S+)", wrk.stdout + wrk.stderr)
    return {"nginx": nginx_version, "wrk": wrk_match[1] if wrk_match else "?"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int | None, command: Sequence[str]) -> list[str]:
    """`command` bound to one CPU with taskset (when asked and available)."""
    if cpu is None or not shutil.which("taskset"):
        return list(command)
    return ["taskset", "-c", str(cpu), *command]


def stop(process: subprocess.Popen[bytes]) -> None:
    """End one child we started (SIGTERM, then SIGKILL), by its own process id."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{url}: server exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise BenchError(f"{url}: not ready after {timeout:.0f} s:\n{_tail(log)}")


def _tail(path: Path) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-20:])
    except OSError:
        return "(no log)"


@dataclass(frozen=True, slots=True)
class Server:
    base: str  # http://127.0.0.1:PORT
    pid: int  # the server's process (nginx: its master; the workers are its children)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's processes, children included."""
        return sum(_cpu_of(pid) for pid in _tree(self.pid))


_TICKS = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    found = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found += _tree(int(child))
    except OSError:
        pass
    return found


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


@contextmanager
def syndicator_server(
    command: Sequence[str],
    env: Mapping[str, str],
    workdir: Path,
    cpu: int | None,
    workers: int = 1,
    *,
    scheduler: bool = False,
) -> Iterator[Server]:
    """`syndicator serve --no-scheduler --workers N` (`scheduler`: with it, as deployed); yields its base
    URL once /healthz answers (its pid is the parent's: cpu_seconds() counts its workers too)."""
    port = free_port()
    log = workdir / "serve.log"
    args = [
        *command,
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--scheduler" if scheduler else "--no-scheduler",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(pinned(cpu, args), env={**env}, cwd=workdir, stdout=out, stderr=out)
    base = f"http://{HOST}:{port}"
    try:
        wait_ready(base + "/healthz", process, log)
        yield Server(base, process.pid)  # taskset execs the command: the same process
    finally:
        stop(process)


@contextmanager
def nginx_server(root: Path, workdir: Path, workers: str, upstream: int, cpu: int | None) -> Iterator[Server]:
    """nginx with docs/nginx.md's configuration serving `root`; yields its base URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(workers=workers, tmp=workdir, host=HOST, port=port, root=root, upstream=upstream)
    )
    log = workdir / "error.log"
    nginx = _which("nginx") or "nginx"
    args = [nginx, "-p", str(workdir), "-c", str(conf), "-e", str(log)]
    check = subprocess.run([*args, "-t"], capture_output=True, text=True)
    if check.returncode != 0:
        raise BenchError(f"nginx -t failed:\n{check.stderr}")
    with (workdir / "nginx.out").open("wb") as out:
        process = subprocess.Popen(pinned(cpu, args), cwd=workdir, stdout=out, stderr=out)
    base = f"http://{HOST}:{port}"
    try:
        wait_ready(base + "/feeds.opml", process, log)
        yield Server(base, process.pid)
    finally:
        stop(process)


@dataclass(frozen=True, slots=True)
class Probe:
    """What a server answers for the feed: its validators and bytes, checked for the two polls."""

    etag: str  # for a plain GET
    body: bytes
    gzip_bytes: int  # size on the wire of the gzip 200


def probe(url: str) -> Probe:
    """Check that `url` answers 200, 304 to its own ETag and a gzip 200; fail loudly otherwise."""
    with httpx.Client(timeout=10) as client:
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        if plain.status_code != 200 or "etag" not in plain.headers:
            raise BenchError(f"{url}: plain GET gave {plain.status_code} (ETag {plain.headers.get('etag')})")
        if plain.headers.get("content-encoding"):
            raise BenchError(f"{url}: plain GET came encoded ({plain.headers['content-encoding']})")
        etag = plain.headers["etag"]
        conditional = client.get(url, headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
        if conditional.status_code != 304 or conditional.content:
            raise BenchError(f"{url}: If-None-Match {etag} gave {conditional.status_code}, not an empty 304")
        with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as zipped:
            raw = b"".join(zipped.iter_raw())
        if zipped.status_code != 200 or zipped.headers.get("content-encoding") != "gzip":
            raise BenchError(
                f"{url}: Accept-Encoding: gzip gave {zipped.status_code} "
                f"(Content-Encoding {zipped.headers.get('content-encoding')})"
            )
        if gzip.decompress(raw) != plain.content:
            raise BenchError(f"{url}: the gzip body does not decompress to the plain body")
    return Probe(etag=etag, body=plain.content, gzip_bytes=len(raw))


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests_per_second: float
    latency_p50_ms: float
    latency_p99_ms: float
    requests: int
    errors: str  # "" or wrk's socket error / non-2xx-3xx lines
    server_cpu_seconds: float  # CPU time the server used during the run

    @property
    def per_cpu_second(self) -> float:
        """Requests per second of server CPU: what other work on the machine does not change."""
        return self.requests / self.server_cpu_seconds if self.server_cpu_seconds else float("nan")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise BenchError(f"cannot read wrk latency {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def wrk(
    server: Server,
    path: str,
    headers: Mapping[str, str],
    *,
    threads: int,
    connections: int,
    seconds: int,
    cpu: int | None,
    script: Path | None = None,
) -> WrkResult:
    """wrk against server.base + path; with `script`, a Lua file that makes the requests itself."""
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        args += ["-s", str(script)]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    before = server.cpu_seconds()
    done = subprocess.run(
        pinned(cpu, [*args, server.base + path]), capture_output=True, text=True, check=True
    )
    used = server.cpu_seconds() - before
    out = done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    if not (rate and total and p50 and p99):
        raise BenchError(f"cannot read wrk output:\n{out}\n{done.stderr}")
    errors = "; ".join(
        line.strip() for line in out.splitlines() if "Socket errors" in line or "Non-2xx" in line
    )
    return WrkResult(float(rate[1]), _ms(p50[1]), _ms(p99[1]), int(total[1]), errors, used)
