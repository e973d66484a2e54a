"""Publishing without waiting for the intervals: a file renamed into the drop folder wakes its scan
(inotify), a write wakes the store watch, and on PostgreSQL the leader's notice wakes the other
instance's feed cache. The intervals stay as fallbacks: without the watch the scan still reads the file.

Real `syndicator serve` processes; each wait is for a condition with a deadline far shorter than the
fallback interval the test configures, which is what proves the wake-up.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from syndicator.store import Store
from tests.conftest import postgres_schema_url, require_postgres
from tests.factories import article_input, article_json
from tests.live import live_server
from tests.processes import BASE_URL, TOKEN, Process, Processes, environment, shows_logs

pytestmark = pytest.mark.slow

LEADS = "this instance now runs the scheduled jobs"
LISTENING = "database notices: listening"
WOKEN_WITHIN = 5.0  # seconds: far below the fallback scan's 600 s, above a loaded machine's hiccups
NO_RESCAN = {"SYNDICATOR_IMPORTS__RESCAN_SECONDS": "600"}


def test_a_write_signals_this_process_and_notifies_the_others(store: Store, now: datetime) -> None:
    """Store.write and withdraw signal when something changed; on PostgreSQL another Store on the same
    database (another instance) hears it through LISTEN/NOTIFY; SQLite has no listener."""
    here = threading.Event()
    store.articles_changed.subscribe(here.set)
    store.write([article_input("bao-hieu")], now)
    assert here.is_set()
    here.clear()
    store.write([article_input("bao-hieu")], now)  # unchanged: nothing to render
    assert not here.is_set()

    other = Store.open(str(store.engine.url.render_as_string(hide_password=False)))
    try:
        listener = other.listen()
        if store.engine.dialect.name == "sqlite":
            assert listener is None and not other.notified
            return
        assert listener is not None and listener.wait_live(10)
        assert other.notified
        there = threading.Event()
        other.articles_changed.subscribe(there.set)
        assert store.withdraw("bao-hieu", now)
        assert there.wait(10), "no notice from the other store"
    finally:
        other.close()


def test_data_version_changes_with_every_commit_on_sqlite(store: Store, now: datetime) -> None:
    version = store.data_version()
    if store.engine.dialect.name != "sqlite":
        assert version is None  # PostgreSQL: its notices say it
        return
    assert version is not None
    assert store.data_version() == version
    store.write([article_input("phien-ban")], now)
    assert store.data_version() != version


def article(article_id: str) -> dict[str, Any]:
    return article_json(article_id, datetime.now(UTC) - timedelta(hours=1))


def drop(folder: Path, name: str, *articles: dict[str, Any]) -> None:
    """As an export tool should: write under a temporary name, then rename into place."""
    temporary = folder / f"{name}.tmp"
    temporary.write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles), encoding="utf-8"
    )
    os.replace(temporary, folder / name)


def served(server: Process) -> set[str]:
    response = httpx.get(f"{server.url}/feeds/all.json", timeout=5)
    if response.status_code != 200:
        return set()
    return {item["id"].removeprefix(f"{BASE_URL}/a/") for item in response.json()["items"]}


def post(server: Process, obj: dict[str, Any]) -> None:
    response = httpx.post(
        f"{server.url}/api/articles", json=obj, headers={"authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert response.status_code in (200, 201), response.text


def leading(processes: Processes, *servers: Process) -> Process:
    leader = processes.eventually(
        lambda: next((s for s in servers if s.count(LEADS)), None), "an instance to lead", timeout=30
    )
    assert leader is not None
    return leader


@shows_logs
def test_a_renamed_file_wakes_the_scan(database_url: str, processes: Processes, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    drop(folder, "truoc.jsonl", article("co-truoc"))  # there before the start: the first scan reads it
    server = processes.serve(environment(database_url=database_url, home=tmp_path, extra=NO_RESCAN))
    leading(processes, server)
    processes.eventually(lambda: "co-truoc" in served(server), "the file there at the start", timeout=30)

    for number in range(3):
        article_id = f"doi-ten-{number}"
        drop(folder, f"{article_id}.jsonl", article(article_id))
        processes.eventually(
            lambda: article_id in served(server),  # noqa: B023
            f"{article_id} long before the 600 s scan",
            timeout=WOKEN_WITHIN,
        )
    # a subfolder made after the start is watched once the scan has seen it
    (folder / "con").mkdir()
    drop(folder / "con", "a.jsonl", article("trong-thu-muc-con"))
    processes.eventually(lambda: "trong-thu-muc-con" in served(server), "the subfolder's file", timeout=15)
    drop(folder / "con", "b.jsonl", article("trong-thu-muc-con-2"))
    processes.eventually(
        lambda: "trong-thu-muc-con-2" in served(server), "the watched subfolder's file", timeout=WOKEN_WITHIN
    )


@shows_logs
def test_without_the_watch_the_interval_scan_reads_the_folder(
    database_url: str, processes: Processes, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    env = environment(
        database_url=database_url, home=tmp_path, extra={"SYNDICATOR_IMPORTS__WATCH": "false", **NO_RESCAN}
    )
    server = processes.serve(env)
    leading(processes, server)
    drop(folder, "quet.jsonl", article("tu-lan-quet"))
    processes.eventually(lambda: "tu-lan-quet" in served(server), "the scan every 0.5 s", timeout=10)


@shows_logs
def test_an_api_write_wakes_the_store_watch(database_url: str, processes: Processes, tmp_path: Path) -> None:
    server = processes.serve(environment(database_url=database_url, home=tmp_path))
    leading(processes, server)
    for number in range(3):
        article_id = f"qua-api-{number}"
        post(server, article(article_id))
        processes.eventually(lambda: article_id in served(server), article_id, timeout=WOKEN_WITHIN)  # noqa: B023


@pytest.fixture
def pg_url() -> Iterator[str]:
    require_postgres()
    yield from postgres_schema_url()


@shows_logs
def test_the_other_instance_reloads_on_the_leaders_notice(
    pg_url: str, processes: Processes, tmp_path: Path
) -> None:
    """The follower's own look is every 60 s while notices arrive: served within 5 s means woken."""
    folder = tmp_path / "drop"
    first = processes.serve(
        environment(database_url=pg_url, home=tmp_path / "a", articles_dir=folder), name="first"
    )
    second = processes.serve(
        environment(database_url=pg_url, home=tmp_path / "b", articles_dir=folder),
        name="second",
        args=["--no-scheduler"],
    )
    servers = (first, second)
    assert leading(processes, first, second) is first
    for server in servers:  # from then on the follower looks on its own only every 60 s
        processes.eventually(lambda: server.count(LISTENING), f"{server.name} to listen")  # noqa: B023
    for number in range(3):
        article_id = f"thong-bao-{number}"
        post(second, article(article_id))  # written by the follower, rendered by the leader
        processes.eventually(
            lambda: article_id in served(second) and article_id in served(first),  # noqa: B023
            f"both to serve {article_id}",
            timeout=WOKEN_WITHIN,
        )
    drop(folder, "chung.jsonl", article("tu-thu-muc"))
    processes.eventually(
        lambda: "tu-thu-muc" in served(second), "the dropped file on the follower", timeout=WOKEN_WITHIN
    )


@shows_logs
def test_the_hub_is_pinged_as_the_renamed_file_is_published(
    database_url: str, processes: Processes, tmp_path: Path
) -> None:
    received: list[str] = []

    async def hub(request: Request) -> Response:
        form = await request.form()
        received.append(str(form["hub.url"]))
        return PlainTextResponse("", status_code=204)

    folder = tmp_path / "drop"
    folder.mkdir()
    with live_server(Starlette(routes=[Route("/", hub, methods=["POST"])])) as hub_url:
        pinged = {**NO_RESCAN, "SYNDICATOR_WEBSUB_HUB": hub_url + "/"}
        env = environment(database_url=database_url, home=tmp_path, extra=pinged)
        server = processes.serve(env)
        leading(processes, server)
        drop(folder, "co-ping.jsonl", article("co-ping"))
        processes.eventually(
            lambda: f"{BASE_URL}/feeds/thong-bao.atom" in received, "the hub's ping", timeout=WOKEN_WITHIN
        )
        assert "co-ping" in served(server)
