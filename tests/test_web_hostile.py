"""The web server under hostile requests and a lost database: never a stall, never a 500.

A request body is parsed and sanitised in a worker thread and refused early when nested too deep;
every query and path parameter is checked before use; while the database is unreachable, pages, the
API and /metrics answer 503 with Retry-After, the log says so once, and feeds answer from memory.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from syndicator.config import Settings, load_settings
from syndicator.ingest.importer import import_paths
from syndicator.jobs import Jobs
from syndicator.sanitize import MAX_NESTING
from syndicator.service import Service, assemble
from syndicator.store import Store
from syndicator.store.database import Availability
from syndicator.web import bodies
from syndicator.web.app import create_app
from tests.conftest import EXAMPLES
from tests.factories import FakeClock, article_json
from tests.live import live_server
from tests.processes import Processes, environment, shows_logs
from tests.relay import Relay

TOKEN = "cms-token-hostile-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}
FEED = "/feeds/thong-bao.rss"
POLL_BOUND = 0.050  # seconds: feed polls answer within this while a heavy request is parsed


def make_settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        articles_dir=tmp_path / "drop",
        secret_key="test-secret-key-0123456789",
        base_url="http://portal.test",
        api_tokens=TOKEN,
        imports={"max_file_bytes": 5_000_000},
    )


def article(article_id: str, now: datetime, **fields: Any) -> dict[str, Any]:
    """An article for the API, published an hour before `now`."""
    return article_json(article_id, now - timedelta(hours=1), **fields)


def open_service(database_url: str, tmp_path: Path, now: datetime) -> Service:
    settings = make_settings(database_url, tmp_path)
    store = Store.open(settings.database_url, settings.categories)
    assert import_paths(store, [EXAMPLES], now - timedelta(days=1), settings.tz).failed == 0
    return assemble(settings, store, FakeClock(now))


def close_service(service: Service) -> None:
    service.close()
    service.services.store.close()


@pytest.fixture
def service(database_url: str, tmp_path: Path, now: datetime) -> Iterator[Service]:
    built = open_service(database_url, tmp_path, now)
    yield built
    close_service(built)


@pytest.fixture
def server(service: Service) -> Iterator[str]:
    with live_server(create_app(service.services)) as url:
        yield url


# -- request bodies ---------------------------------------------------------------------------------


def test_deep_html_is_refused_in_milliseconds_naming_the_field(
    server: str, service: Service, now: datetime
) -> None:
    """40,000 nested <div> held the whole process for 7 s (100,000: 72 s) before the limit."""
    # a body of 256 KiB or more goes to the parsing process: started at the first one, about 0.5 s
    assert httpx.post(f"{server}/api/articles", content=b"[" * 300_000, headers=AUTH).status_code == 422
    for depth in (40_000, 100_000):
        body = article("sau-qua", now, body_html="<div>" * depth + "x" + "</div>" * depth)
        started = time.perf_counter()
        response = httpx.post(f"{server}/api/articles", json=body, headers=AUTH, timeout=120)
        elapsed = time.perf_counter() - started
        assert response.status_code == 422
        message = f"HTML nested deeper than {MAX_NESTING} elements"
        assert response.json()["errors"] == [{"field": "body_html", "message": message}]
        assert elapsed < 1.0, f"{depth} levels took {elapsed:.2f} s"
    assert service.services.store.article("sau-qua") is None


def test_a_body_parsed_past_the_deadline_is_refused_and_the_next_one_parsed(
    server: str, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parsing process is ended when a body overruns its deadline, and a new one parses the next."""
    html = "<p>Đoạn văn.</p>" * 20_000  # over 256 KiB: parsed in the process
    monkeypatch.setattr(bodies, "DEADLINE", 0.0)
    response = httpx.post(f"{server}/api/articles", json=article("lau", now, body_html=html), headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error"] == "the body is too costly to parse (more than 0 s of work)"
    monkeypatch.setattr(bodies, "DEADLINE", 60.0)
    response = httpx.post(f"{server}/api/articles", json=article("lau", now, body_html=html), headers=AUTH)
    assert response.status_code == 201


def test_json_too_deep_or_with_a_huge_number_is_422_naming_the_problem(server: str, now: datetime) -> None:
    fields = json.dumps(article("so-lon", now, body_text="x"))[1:]
    cases = [
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON: arrays or objects nested too deep"),
        (
            b'{"n": ' + b"1" * 5000 + b", " + fields.encode(),
            "not valid JSON: a number of more than 4300 digits",
        ),
    ]
    for raw, problem in cases:
        response = httpx.post(
            f"{server}/api/articles", content=raw, headers={**AUTH, "content-type": "application/json"}
        )
        assert response.status_code == 422, raw[:40]
        assert response.json()["error"] == f"the body is {problem}"


@pytest.mark.slow
@shows_logs
def test_feed_polls_answer_while_request_bodies_are_parsed(
    processes: Processes, database_url: str, tmp_path: Path
) -> None:
    """Parsing, sanitising and storing run in a worker thread: the event loop keeps answering polls. A
    `syndicator serve` process of its own, so that the test's client shares no interpreter with it."""
    env = environment(
        database_url=database_url,
        home=tmp_path,
        tokens=[TOKEN],
        extra={"SYNDICATOR_IMPORTS__MAX_FILE_BYTES": "5000000"},
    )
    imported = subprocess.run(
        [sys.executable, "-m", "syndicator", "import", str(EXAMPLES)], env=env, cwd=tmp_path, check=False
    )
    assert imported.returncode == 0
    # no scheduler: the feeds are rendered at start and nothing re-renders them while the requests run,
    # so what is measured is the request path alone
    server = processes.serve(env, args=["--no-scheduler"]).url
    now = datetime.now(UTC)
    paragraph = "<p>Nội dung <b>đậm</b>, <a href='https://example.org/'>liên kết</a> và chữ thường.</p>"
    large = paragraph * (4_000_000 // len(paragraph.encode()))  # ~1 s of work, within the size limit
    deep = "<div>" * 255 + "x" + "</div>" * 255  # closed, one short of the limit
    bodies = [  # encoded beforehand, so that the client's threads hold each other up less
        json.dumps(article("sau", now, body_html="<div>" * 100_000)).encode(),
        json.dumps(article("dai", now, body_html=large), ensure_ascii=False).encode(),
        json.dumps(article("sau-2", now, body_html="<b><i>" * 50_000)).encode(),
        # valid bodies of seconds of Python-level work each (parsed in a thread they held polls 100-280 ms)
        json.dumps(article("lien-ket", now, body_html="<a>x</a>" * 550_000)).encode(),
        json.dumps(article("sau-255", now, body_html=deep * (2_500_000 // len(deep)))).encode(),
    ]
    statuses: list[int] = []
    done = threading.Event()

    def post() -> None:
        try:
            with httpx.Client(timeout=120) as client:
                for body in bodies:
                    response = client.post(f"{server}/api/articles", content=body, headers=AUTH)
                    statuses.append(response.status_code)
        finally:
            done.set()

    latencies: list[float] = []
    with httpx.Client(timeout=10) as client:
        assert client.get(f"{server}{FEED}").status_code == 200  # the connection open
        poster = threading.Thread(target=post)
        poster.start()
        while not done.is_set():
            started = time.perf_counter()
            response = client.get(f"{server}{FEED}")
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
    poster.join()
    assert statuses == [422, 201, 422, 201, 201]
    assert len(latencies) >= 10, "the polls did not overlap the requests"
    latencies.sort()
    shown = f"{len(latencies)} polls, p99 {latencies[len(latencies) * 99 // 100] * 1000:.0f} ms, " + (
        f"slowest {latencies[-1] * 1000:.0f} ms"
    )
    assert latencies[len(latencies) * 99 // 100] < POLL_BOUND, shown
    # parsed on the event loop, the bodies of seconds of work would each hold a poll for seconds; a
    # loaded machine delays the odd poll even so (2 cores, the parsing process on one; measured: p99
    # 1-5 ms, slowest 54-135 ms; 711 ms once with four test runs beside it; parsed in a thread: p99
    # 12 ms and 2.6 times fewer polls)
    assert latencies[-1] < 1.5, shown


def test_health_answers_while_many_bodies_are_parsed(server: str, now: datetime) -> None:
    """80 large bodies at once: 42 took all 40 threads that pages, /healthz and /metrics share: /healthz
    waited 127 s. The API parses and stores in threads of its own (two), the rest queue behind them."""
    paragraph = "<p>Nội dung <b>đậm</b>, <a href='https://example.org/'>liên kết</a> và chữ thường.</p>"
    html = paragraph * (240_000 // len(paragraph.encode()))  # in a thread, not the parsing process
    bodies = [
        json.dumps(article(f"bai-{n}", now, body_html=html), ensure_ascii=False).encode() for n in range(80)
    ]
    statuses: list[int] = []

    def post(client: httpx.Client, body: bytes) -> None:
        statuses.append(client.post(f"{server}/api/articles", content=body, headers=AUTH).status_code)

    latencies: list[float] = []
    limits = httpx.Limits(max_connections=90)
    with httpx.Client(timeout=120, limits=limits) as posting, httpx.Client() as client:
        posters = [threading.Thread(target=post, args=(posting, body)) for body in bodies]
        for thread in posters:
            thread.start()
        while any(thread.is_alive() for thread in posters):
            started = time.perf_counter()
            assert client.get(f"{server}/healthz").status_code == 200
            latencies.append(time.perf_counter() - started)
        for thread in posters:
            thread.join()
    assert statuses == [201] * 80
    latencies.sort()
    median = latencies[len(latencies) // 2]
    shown = f"{len(latencies)} checks, median {median:.3f} s, slowest {latencies[-1]:.2f} s"
    # with the shared threads taken, every check waits for the 80 bodies ahead of it (a median of 2.5 s
    # and more here, 127 s with larger ones): the median tells. A loaded machine still delays the odd
    # one (0.7 s seen in CI, 1.7 s with four test runs beside it): the slowest only bounds a stall
    assert len(latencies) >= 10, shown
    assert median < 0.1, shown
    assert latencies[-1] < 5, shown


def test_bidi_controls_leave_titles_names_and_categories(server: str, now: datetime) -> None:
    """A right-to-left override would show "gpj.exe" as "exe.jpg" on pages and in mails."""
    rlo, isolate, pop = "\u202e", "\u2066", "\u2069"
    body = article(
        "dao-chieu",
        now,
        title=f"Thông báo {rlo}gpj.exe",
        category=f"Thông{isolate} báo{pop}",
        author=f"Nguyễn {rlo}Văn A",
        office=f"UBND {isolate}xã{pop}",
        body_text="Nội dung.",
    )
    response = httpx.post(f"{server}/api/articles", json=body, headers=AUTH)
    assert response.status_code == 201
    shown = response.json()["article"]
    assert shown["title"] == "Thông báo gpj.exe"
    assert (shown["category"], shown["category_name"]) == ("thong-bao", "Thông báo")
    assert (shown["author"], shown["office"]) == ("Nguyễn Văn A", "UBND xã")


# -- query and path parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/c/thong-bao?trang=²",
        "/c/thong-bao?trang=¹",
        "/c/thong-bao?trang=①",
        "/c/thong-bao?trang=٣",  # Arabic-Indic three: int() takes it, the page number must not
        "/c/thong-bao?trang=0",
        "/c/thong-bao?trang=-1",
        "/c/thong-bao?trang=+1",
        "/c/thong-bao?trang=%201",
        "/c/thong-bao?trang=1e3",
        "/c/thong-bao?trang=" + "9" * 5000,
        "/c/%00",
        "/c/%ED%A0%80",
        "/a/%00",
        "/a/a%00b",
        "/a/" + "a" * 5000,
        "/api/articles/%00",
        "/feeds/thong-bao/archive/%C2%B2.atom",
        "/confirm/%00",
        "/preferences/%00",
        "/unsubscribe/²",
    ],
)
def test_odd_parameters_are_404_or_400(server: str, path: str) -> None:
    response = httpx.get(f"{server}{path}", headers=AUTH)
    assert response.status_code in (400, 404, 410), response.text[:200]


ODD_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from("²¹①٣0123456789-./%?#&="),
    max_size=40,
)


def test_routes_never_answer_500_to_any_parameter(server: str) -> None:
    client = httpx.Client(base_url=server)
    routes = [
        "/c/thong-bao?trang={}",
        "/c/{}",
        "/c/{}?trang={}",
        "/a/{}",
        "/api/articles/{}",
        "/confirm/{}",
        "/preferences/{}",
        "/unsubscribe/{}",
        "/feeds/{}",
        "/feeds/thong-bao/archive/{}.atom",
        "/subscribe?c={}&c={}",
        "/?{}={}",
    ]

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(routes), st.sampled_from(["GET", "POST", "DELETE"]), ODD_TEXT, ODD_TEXT)
    def check(route: str, method: str, first: str, second: str) -> None:
        path = route.format(quote(first, safe=""), quote(second, safe=""))
        response = client.request(method, path, headers=AUTH)
        assert response.status_code < 500, (method, path, response.text[:200])

    with client:
        check()


# -- database outage --------------------------------------------------------------------------------


@dataclass
class Outage:
    service: Service
    cut: Callable[[], object]
    restore: Callable[[], object]
    relay: Relay | None = None


PROBE_SECONDS = 0.3  # the tests' probe interval during an outage (3 s in service)


@pytest.fixture
def outage(
    database_url: str, tmp_path: Path, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Outage]:
    """The app on a database that can be taken away: a SQLite file whose folder goes, or PostgreSQL
    through a relay that stops."""
    monkeypatch.setattr(Availability, "probe_seconds", PROBE_SECONDS)
    if database_url.startswith("sqlite"):
        folder = tmp_path / "db"
        away = tmp_path / "db-away"
        service = open_service(f"sqlite:///{folder / 'store.db'}", tmp_path, now)
        yield Outage(service, lambda: shutil.move(folder, away), lambda: shutil.move(away, folder))
        close_service(service)
        return
    url = make_url(database_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    relay.start()
    # a connect to a hung server gives up after 2 s here (10 s in service): the first request meets it
    relayed = url.set(host="127.0.0.1", port=relay.port, query={**url.query, "connect_timeout": "2"})
    service = open_service(relayed.render_as_string(hide_password=False), tmp_path, now)
    yield Outage(service, relay.cut, relay.start, relay)
    close_service(service)
    if relay.listener is not None:
        relay.cut()


def test_database_outage_is_503_logged_once_and_feeds_keep_answering(
    outage: Outage, caplog: pytest.LogCaptureFixture, now: datetime
) -> None:
    caplog.set_level(logging.INFO)
    with live_server(create_app(outage.service.services)) as url, httpx.Client(base_url=url) as client:
        during_and_after(outage, client, caplog, now)


def test_the_jobs_meeting_an_outage_log_it_once_with_the_web(
    outage: Outage, caplog: pytest.LogCaptureFixture, now: datetime
) -> None:
    caplog.set_level(logging.INFO)
    jobs = Jobs(outage.service)
    every = [jobs.store_watch, jobs.drop_folder, jobs.officials, jobs.digests, jobs.immediate, jobs.deliver]
    for job in every:
        job()  # leading, everything in order
    with live_server(create_app(outage.service.services)) as url, httpx.Client(base_url=url) as client:
        outage.cut()
        caplog.clear()
        for _ in range(5):
            for job in every:
                job()
            assert client.get("/").status_code == 503
        lines = [
            record.getMessage()
            for record in caplog.records
            if record.levelno >= logging.WARNING and record.name != "syndicator.leader"  # its own event
        ]
        assert len(lines) == 1 and lines[0].startswith("database unavailable: "), lines
        assert not any(record.exc_info for record in caplog.records), "a traceback was logged"

        outage.restore()
        caplog.clear()
        wait_available(client)
        for job in every:
            job()
        assert client.get("/").status_code == 200
        lines = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
        assert [line for line in lines if "database" in line][:1] == [
            line for line in lines if line.startswith("database available again")
        ], lines


def during_and_after(
    outage: Outage, client: httpx.Client, caplog: pytest.LogCaptureFixture, now: datetime
) -> None:
    assert client.get("/").status_code == 200
    pages = ["/", "/c/thong-bao", "/a/000_7aa2cdb3d5133083", "/subscribe", "/healthz"]
    outage.cut()
    caplog.clear()
    for _ in range(5):
        for path in pages:
            response = client.get(path)
            assert response.status_code == 503, path
            assert response.headers["retry-after"] == "30"
        for response in (
            client.get("/api/articles/000_7aa2cdb3d5133083", headers=AUTH),
            client.post("/api/articles", json=article("moi", now, body_text="Mới."), headers=AUTH),
        ):
            assert response.status_code == 503
            assert response.headers["retry-after"] == "30"
            assert response.json() == {"error": "the database is unavailable: retry later"}
        metrics = client.get("/metrics")
        assert (metrics.status_code, metrics.headers["retry-after"]) == (503, "30")
        assert client.get(FEED).status_code == 200  # from memory
        archive = client.get("/feeds/thong-bao/archive/7.atom")  # rendered on demand: needs the database
        assert (archive.status_code, archive.headers["retry-after"]) == (503, "30")
    lines = [record.getMessage() for record in caplog.records]
    assert sum("database unavailable" in line for line in lines) == 1, lines
    assert not any(record.exc_info for record in caplog.records), "a traceback was logged"

    outage.restore()
    caplog.clear()
    wait_available(client)
    assert client.get("/").status_code == 200
    assert client.get("/metrics").status_code == 200
    lines = [record.getMessage() for record in caplog.records]
    assert sum("database available again" in line for line in lines) == 1, lines


def wait_available(client: httpx.Client) -> None:
    """Recovery is found by the next probe, within PROBE_SECONDS of the database's return."""
    deadline = time.monotonic() + 10
    while client.get("/healthz").status_code != 200:
        assert time.monotonic() < deadline, "the database's return was not noticed"


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # a SQLite file cannot hang
def test_a_hung_database_costs_one_connect_timeout_then_requests_fail_at_once(
    outage: Outage, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that accepts and never answers made every request wait the connect timeout (60 requests
    took 20 s, /healthz 15 s): once the outage is known, requests are 503 at once while one probe at a
    time looks for the server's return."""
    assert outage.relay is not None
    # no probe during the waves below: a probe is a request that waits the connect timeout (one at a time)
    monkeypatch.setattr(Availability, "probe_seconds", 6.0)
    relay = outage.relay
    caplog.set_level(logging.INFO)
    with live_server(create_app(outage.service.services)) as url, httpx.Client(base_url=url) as client:
        assert client.get("/").status_code == 200
        relay.hang()
        caplog.clear()

        def wave() -> tuple[set[int], list[float]]:
            """32 requests at once: their statuses and each one's time."""
            answers: list[tuple[int, float]] = []

            def one(client: httpx.Client, path: str) -> None:
                started = time.perf_counter()
                status = client.get(path, headers=AUTH).status_code
                answers.append((status, time.perf_counter() - started))

            with httpx.Client(base_url=url, timeout=60) as each:
                paths = ["/", "/healthz", "/c/thong-bao", "/api/articles/000_7aa2cdb3d5133083"] * 8
                threads = [threading.Thread(target=one, args=(each, path)) for path in paths]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            return {status for status, _ in answers}, sorted(took for _, took in answers)

        statuses, times = wave()
        assert statuses == {503}
        assert times[-1] < 2 + 3, (
            f"slowest of the first 32 requests: {times[-1]:.1f} s"
        )  # connect timeout: 2 s
        slow = 0
        for _ in range(3):
            statuses, times = wave()
            assert statuses == {503}
            slow += sum(took > 1.0 for took in times)
            assert times[-2] < 1.0, f"requests during a known outage took {times[-8:]} s"
        # the one probe right after the outage was found waits its connect timeout; no other until 6 s
        assert slow <= 1, slow
        started = time.perf_counter()
        assert client.get("/healthz").status_code == 503
        assert time.perf_counter() - started < 0.5
        lines = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
        assert len(lines) == 1 and lines[0].startswith("database unavailable"), lines

        relay.resume()
        caplog.clear()
        wait_available(client)
        assert client.get("/").status_code == 200
        lines = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
        assert len(lines) == 1 and lines[0].startswith("database available again"), lines


def test_any_statement_that_succeeds_ends_the_outage(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    """After a hang, pooled connections came back without a new connect: "available again" was never
    logged and the next outage not at all."""
    engine = service.services.store.engine
    availability = Availability.of(engine)
    caplog.set_level(logging.INFO)
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
        availability.failed(OSError("the server stopped answering"))
        assert availability.down
        conn.exec_driver_sql("SELECT 1")
    assert not availability.down
    availability.failed(OSError("a second outage"))
    lines = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert [line.split(":")[0] for line in lines] == [
        "database unavailable",
        "database available again after 0 s",
        "database unavailable",
    ], lines


def test_a_sqlite_file_moved_away_is_one_outage_and_no_new_empty_store(
    tmp_path: Path, now: datetime, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moving the file under a running server flapped the log (one unavailable/available pair per
    request) and sqlite made a new, empty database at the configured path."""
    monkeypatch.setattr(Availability, "probe_seconds", PROBE_SECONDS)
    path = tmp_path / "db" / "store.db"
    service = open_service(f"sqlite:///{path}", tmp_path, now)
    caplog.set_level(logging.INFO)
    try:
        with live_server(create_app(service.services)) as url, httpx.Client(base_url=url) as client:
            assert client.get("/").status_code == 200
            path.rename(tmp_path / "moved.db")
            caplog.clear()
            deadline = time.monotonic() + 3 * PROBE_SECONDS  # long enough for several probes
            while time.monotonic() < deadline:
                for page in ("/", "/healthz", "/c/thong-bao"):
                    assert client.get(page).status_code == 503, page
            assert not path.exists(), "a new empty database was made in the moved one's place"
            lines = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
            assert len(lines) == 1 and lines[0].startswith("database unavailable"), lines

            (tmp_path / "moved.db").rename(path)
            caplog.clear()
            wait_available(client)
            assert client.get("/c/thong-bao").status_code == 200
            lines = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
            assert len(lines) == 1 and lines[0].startswith("database available again"), lines
    finally:
        close_service(service)
