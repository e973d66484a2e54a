"""Feed readership (issue 14): client families from User-Agents, the in-memory tally, its flush into
the store from several instances, the console's page and API, and that nothing of a client but its
family is kept. On SQLite and PostgreSQL; HTTP through a real uvicorn server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp

from syndicator import dates, readership
from syndicator.accounts import Role
from syndicator.config import Settings
from syndicator.jobs import Jobs
from syndicator.readership import FAMILIES, MAX_SUBSCRIBERS, PARSED_BYTES, Client, Counts, Tally, client
from syndicator.service import Service, assemble
from syndicator.store import Store
from syndicator.store import readership as stored
from syndicator.store.readership import Counted, PollDay
from syndicator.store.schema import feed_readership
from tests.consolekit import make_account, signed_in_client
from tests.factories import FakeClock
from tests.hostile import finishes
from tests.live import free_port
from tests.processes import eventually
from tests.subscribekit import Site, running_site

HANOI = timezone(timedelta(hours=7))
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi
TODAY = date(2026, 11, 29)

FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 42 subscribers; )"
INOREADER = "Mozilla/5.0 (compatible; Inoreader/1.0; +http://www.inoreader.com; 7 subscribers; )"
NEWSBLUR = "NewsBlur Feed Fetcher - 5 subscribers - http://www.newsblur.com/site/6251/thong-bao (Mozilla/5.0)"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


# --- User-Agents ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (FEEDLY, Client("Feedly", 42)),
        (INOREADER, Client("Inoreader", 7)),
        (NEWSBLUR, Client("NewsBlur", 5)),
        (
            "Mozilla/5.0 (compatible; theoldreader.com; 12 subscribers; feed-id=abc)",
            Client("The Old Reader", 12),
        ),
        ("Feedbin feed-id:1373711 - 3 subscribers", Client("Feedbin", 3)),
        ("Mozilla/5.0 (compatible; Miniflux/2.0.51; +https://miniflux.app)", Client("Miniflux", None)),
        ("NetNewsWire (RSS Reader; https://netnewswire.com/)", Client("NetNewsWire", None)),
        ("Tiny Tiny RSS/23.04 (https://tt-rss.org/)", Client("Tiny Tiny RSS", None)),
        ("FreshRSS/1.23.1 (Linux; https://freshrss.org)", Client("FreshRSS", None)),
        ("Mozilla/5.0 (X11) Gecko/20100101 Firefox/115.0 Feedbro/4.22", Client("Feedbro", None)),
        ("feedparser/6.0.11 +https://github.com/kurtmckee/feedparser/", Client("Python", None)),
        ("python-requests/2.32.3", Client("Python", None)),
        ("curl/8.5.0", Client("curl", None)),
        (FIREFOX, Client("Browser", None)),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", Client("Other", None)),
        ("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 1 subscriber; )", Client("Feedly", 1)),
        ("", Client("Other", None)),
    ],
)
def test_client_family_and_reported_subscribers(user_agent: str, expected: Client) -> None:
    assert client(user_agent.encode()) == expected
    assert expected.family in FAMILIES


def test_no_user_agent_is_other() -> None:
    assert client(None) == Client("Other", None)


def test_hostile_user_agents_cost_little_and_give_bounded_answers() -> None:
    forged = b"Feedly/1.0 (+http://www.feedly.com/fetcher.html; 99999999999999999999 subscribers; )"
    assert client(forged) == Client("Feedly", None)  # past any real feed's readers: forged, not taken
    assert client(f"Feedly/1.0 ({MAX_SUBSCRIBERS} subscribers)".encode()) == Client("Feedly", MAX_SUBSCRIBERS)
    # only an aggregator's report is taken: an unknown fetcher or a script saying so is not one
    assert client(b"MyFetcher/1.0 (9999999 subscribers)") == Client("Other", None)
    assert client(b"python-requests/2.32 (40 subscribers)") == Client("Python", None)
    # a count past the bytes read is not read; a megabyte of digits costs what a short string does
    huge = b"Feedly/1.0 " + b"9" * 1_000_000 + b" subscribers"
    assert finishes(lambda: client(huge), seconds=2) == Client("Feedly", None)
    assert finishes(lambda: client(b"1 " * 500_000 + b"subscribers"), seconds=2).family == "Other"
    controls = b"Feedly/1.0\x00\r\n\x1b[31m; 3 subscribers\xff\xfe"
    assert client(controls) == Client("Feedly", 3)
    assert client("Inoreader/1.0 (tiếng Việt; 5 subscribers)".encode()) == Client("Inoreader", 5)
    # a browser reporting subscribers is no aggregator: its number is not taken
    assert client(FIREFOX.encode() + b" 500 subscribers") == Client("Browser", None)
    names = {client(ua).family for ua in (forged, huge, controls, b"\x00" * 100, b"x" * 10_000)}
    assert names <= set(FAMILIES)


# --- the tally -------------------------------------------------------------------------------------


def _flushed(tally: Tally) -> dict[tuple[str, str], Counts]:
    """What a flush that succeeds would write."""
    with tally.flushing:
        grown, mark = tally.take()
        tally.written(mark)
    return grown


def test_tally_counts_polls_304s_and_the_latest_report_then_starts_again() -> None:
    tally = Tally()
    tally.poll("/feeds/thong-bao.atom", FEEDLY.encode(), False)
    tally.poll("/feeds/thong-bao.atom", FEEDLY.replace("42", "43").encode(), True)
    tally.poll("/feeds/thong-bao.atom", FIREFOX.encode(), True)
    tally.poll("/feeds/all.rss", None, False)
    assert _flushed(tally) == {
        ("thong-bao.atom", "Feedly"): Counts(2, 1, 43),
        ("thong-bao.atom", "Browser"): Counts(1, 1, None),
        ("all.rss", "Other"): Counts(1, 0, None),
    }
    assert _flushed(tally) == {}
    tally.poll("/feeds/all.rss", FEEDLY.encode(), True)
    tally.poll("/feeds/all.rss", None, False)
    assert _flushed(tally) == {
        ("all.rss", "Feedly"): Counts(1, 1, 42),
        ("all.rss", "Other"): Counts(1, 0, None),
    }
    assert len(tally) == 4  # one counter per (feed, family) seen: bounded by the documents that exist


def test_huge_user_agents_are_counted_but_never_kept() -> None:
    tally = Tally()
    for n in range(50):  # 50 distinct 64 KB User-Agents: remembered whole, 3 MB; nothing is kept
        tally.poll("/feeds/a.atom", FEEDLY.encode() + str(n).encode() * 32_000, True)
    tally.poll("/feeds/a.atom", FEEDLY.encode(), False)
    assert _flushed(tally) == {("a.atom", "Feedly"): Counts(51, 50, 42)}
    assert all(len(ua or b"") <= PARSED_BYTES for _, ua in tally._seen)
    assert readership._client.cache_info().maxsize == 4096  # and its keys are cut to PARSED_BYTES


def test_a_flush_not_written_leaves_its_counts_for_the_next() -> None:
    tally = Tally()
    tally.poll("/feeds/a.atom", FEEDLY.encode(), True)
    with tally.flushing:
        tally.take()  # the database refused: `written` never called
    tally.poll("/feeds/a.atom", FEEDLY.replace("42", "50").encode(), False)
    tally.poll("/feeds/a.atom", FIREFOX.encode(), False)
    assert _flushed(tally) == {
        ("a.atom", "Feedly"): Counts(2, 1, 50),
        ("a.atom", "Browser"): Counts(1, 0, None),
    }


def test_tally_counts_exactly_while_flushed_from_another_thread() -> None:
    tally = Tally()
    flushes: list[dict[tuple[str, str], Counts]] = []
    stop = threading.Event()

    def flusher() -> None:
        while not stop.is_set():
            flushes.append(_flushed(tally))

    thread = threading.Thread(target=flusher)
    thread.start()
    try:
        for n in range(50_000):
            tally.poll("/feeds/a.atom", FEEDLY.encode(), n % 2 == 0)
            tally.poll(f"/feeds/{n % 7}.atom", None, False)  # new keys while a flush copies the table
    finally:
        stop.set()
        thread.join()
    flushes.append(_flushed(tally))
    feedly = [f[("a.atom", "Feedly")] for f in flushes if ("a.atom", "Feedly") in f]
    assert sum(c.polls for c in feedly) == 50_000
    assert sum(c.not_modified for c in feedly) == 25_000
    assert all(c.not_modified <= c.polls for c in feedly)
    assert sum(c.polls for f in flushes for (feed, _), c in f.items() if feed != "a.atom") == 50_000
    assert len(flushes) > 2


def test_two_instances_flush_into_the_same_rows(store: Store) -> None:
    leader, follower = Tally(), Tally()
    for _ in range(3):
        leader.poll("/feeds/thong-bao.atom", FEEDLY.encode(), True)
    follower.poll("/feeds/thong-bao.atom", FEEDLY.replace("42", "44").encode(), False)
    follower.poll("/feeds/thong-bao.atom", INOREADER.encode(), True)
    assert stored.flush(store, leader, NOW, HANOI) == 1
    assert stored.flush(store, follower, NOW + timedelta(seconds=2), HANOI) == 2
    assert stored.flush(store, follower, NOW + timedelta(seconds=4), HANOI) == 0  # nothing: no write
    with store.reading() as conn:
        [feed] = stored.feeds(conn, TODAY, TODAY)
    assert stored_shape(feed) == {
        "feed": "thong-bao.atom",
        "polls": 5,
        "not_modified": 4,
        "reported_subscribers": 44 + 7,
        "clients": [
            {"client": "Feedly", "reported_subscribers": 44, "polls": 4},
            {"client": "Inoreader", "reported_subscribers": 7, "polls": 1},
        ],
    }


def test_instances_flushing_the_same_rows_at_once_lose_nothing(pg_store: Store) -> None:
    """PostgreSQL lets two instances write at the same moment (SQLite takes one writer at a time)."""
    tallies = [Tally() for _ in range(4)]
    start = threading.Barrier(len(tallies))
    failures: list[BaseException] = []

    def instance(tally: Tally) -> None:
        try:
            start.wait()
            for round_number in range(25):
                for feed in ("a.atom", "b.atom", "c.rss"):  # the same rows, in another order each time
                    tally.poll("/feeds/" + feed, FEEDLY.encode(), True)
                    tally.poll("/feeds/" + feed, INOREADER.encode(), False)
                stored.flush(pg_store, tally, NOW + timedelta(seconds=round_number), HANOI)
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            failures.append(error)

    threads = [threading.Thread(target=instance, args=(t,)) for t in tallies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with pg_store.reading() as conn:
        found = stored.feeds(conn, TODAY, TODAY)
    assert {(f.feed, f.polls, f.not_modified, f.reported_subscribers) for f in found} == {
        (feed, 4 * 25 * 2, 4 * 25, 42 + 7) for feed in ("a.atom", "b.atom", "c.rss")
    }


def test_a_flush_that_fails_keeps_the_counts_for_the_next(store: Store) -> None:
    tally = Tally()
    tally.poll("/feeds/a.atom", FEEDLY.encode(), True)
    feed_readership.drop(store.engine)  # the table gone: every write fails, as with the database away
    try:
        with pytest.raises(DBAPIError):
            stored.flush(store, tally, NOW, HANOI)
        tally.poll("/feeds/a.atom", FEEDLY.encode(), False)
    finally:
        feed_readership.create(store.engine)
    assert stored.flush(store, tally, NOW, HANOI) == 1
    with store.reading() as conn:
        [feed] = stored.feeds(conn, TODAY, TODAY)
    assert (feed.polls, feed.not_modified, feed.reported_subscribers) == (2, 1, 42)


def test_the_day_is_the_sites(store: Store) -> None:
    tally = Tally()
    tally.poll("/feeds/a.atom", None, False)
    late = datetime(2026, 11, 28, 17, 30, tzinfo=UTC)  # 00:30 on the 29th in Hanoi
    stored.flush(store, tally, late, HANOI)
    with store.reading() as conn:
        assert [d.full for d in stored.polls_by_day(conn, dates.days_ending(late, 2, HANOI))] == [0, 1]


def stored_shape(feed: stored.FeedReadership) -> dict[str, object]:
    from syndicator.web.admin_feeds import as_json

    return as_json(feed)


# --- the store ------------------------------------------------------------------------------------


def test_flushes_of_two_instances_add_up(store: Store) -> None:
    first = [
        Counted("thong-bao.atom", TODAY, "Feedly", 3, 2, 40, NOW - timedelta(minutes=5)),
        Counted("thong-bao.atom", TODAY, "Other", 1, 0),
    ]
    second = [
        Counted("thong-bao.atom", TODAY, "Feedly", 4, 4, 42, NOW),
        Counted("thong-bao.atom", TODAY, "Inoreader", 2, 1, 7, NOW),
    ]
    with store.writing() as conn:
        stored.add(conn, first)
    with store.writing() as conn:
        stored.add(conn, second)
    with store.writing() as conn:  # an older report flushed late does not replace a newer one
        stored.add(conn, [Counted("thong-bao.atom", TODAY, "Feedly", 1, 0, 30, NOW - timedelta(hours=1))])
    with store.reading() as conn:
        [feed] = stored.feeds(conn, TODAY, TODAY)
    assert (feed.feed, feed.polls, feed.not_modified) == ("thong-bao.atom", 11, 7)
    clients = {c.client: c for c in feed.clients}
    assert (clients["Feedly"].polls, clients["Feedly"].reported_subscribers) == (8, 42)
    assert clients["Other"].reported_subscribers is None
    assert feed.reported_subscribers == 42 + 7
    assert [c.client for c in feed.clients] == ["Feedly", "Inoreader", "Other"]


def test_latest_report_across_days_wins(store: Store) -> None:
    yesterday = TODAY - timedelta(days=1)
    with store.writing() as conn:
        stored.add(conn, [Counted("a.atom", yesterday, "Feedly", 1, 0, 50, NOW - timedelta(days=1))])
        stored.add(conn, [Counted("a.atom", TODAY, "Feedly", 1, 1, 45, NOW)])
    with store.reading() as conn:
        [week] = stored.feeds(conn, TODAY - timedelta(days=6), TODAY)
        [old] = stored.feeds(conn, yesterday, yesterday)
    assert (week.polls, week.reported_subscribers) == (2, 45)
    assert old.reported_subscribers == 50


def test_polls_by_day_one_per_day_in_order(store: Store) -> None:
    days = dates.days_ending(NOW, 3, HANOI)
    with store.writing() as conn:
        stored.add(
            conn,
            [
                Counted("a.atom", days[0].day, "Feedly", 5, 3),
                Counted("b.atom", days[0].day, "Other", 2, 0),
                Counted("a.atom", days[2].day, "Feedly", 4, 4),
                Counted("a.atom", days[2].day - timedelta(days=9), "Feedly", 100, 0),
            ],
        )
    with store.reading() as conn:
        assert stored.polls_by_day(conn, days) == [
            PollDay(days[0].day, full=4, not_modified=3),
            PollDay(days[1].day, full=0, not_modified=0),
            PollDay(days[2].day, full=0, not_modified=4),
        ]
        assert stored.polls_by_day(conn, []) == []


def test_no_address_or_user_agent_is_stored(store: Store) -> None:
    columns = {c["name"] for c in inspect(store.engine).get_columns("feed_readership")}
    assert columns == {
        "feed",
        "day",
        "client",
        "polls",
        "not_modified",
        "reported_subscribers",
        "reported_at",
    }


# --- over HTTP: the poll path, a flush, the console ------------------------------------------------


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    with running_site(database_url, tmp_path) as running:
        make_account(running.store, "cuong", Role.VIEWER, running.clock())
        yield running


def _flush(site: Site) -> int:
    services = site.service.services
    return stored.flush(site.store, services.readership, site.clock(), site.settings.tz)


def _poll(site: Site, path: str, user_agent: str, **headers: str) -> httpx.Response:
    with httpx.Client(base_url=site.url) as client:
        return client.get(path, headers={"user-agent": user_agent, **headers})


def test_polls_through_the_server_are_counted_flushed_and_shown(site: Site) -> None:
    first = _poll(site, "/feeds/all.atom", FEEDLY)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert _poll(site, "/feeds/all.atom", FEEDLY, **{"if-none-match": etag}).status_code == 304
    assert _poll(site, "/feeds/all.atom", INOREADER, **{"if-none-match": etag}).status_code == 304
    assert _poll(site, "/feeds/all.rss", FIREFOX).status_code == 200
    # not counted: what does not exist (a flood of made-up paths adds no key), the OPML list, archives
    for path in ("/feeds/nope.atom", "/feeds/" + "x" * 5000 + ".atom", "/feeds.opml"):
        _poll(site, path, FEEDLY)
    assert _poll(site, "/feeds/all/archive/1.atom", FEEDLY).status_code in (200, 404)
    with httpx.Client(base_url=site.url) as client:
        assert client.post("/feeds/all.atom", headers={"user-agent": FEEDLY}).status_code == 405
    assert len(site.service.services.readership) == 3
    assert _flush(site) == 3
    viewer = signed_in_client(site, "cuong")
    answer = viewer.get("/admin/api/readership")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {
        "feeds": [
            {
                "feed": "all.atom",
                "polls": 3,
                "not_modified": 2,
                "reported_subscribers": 49,
                "clients": [
                    {"client": "Feedly", "reported_subscribers": 42, "polls": 2},
                    {"client": "Inoreader", "reported_subscribers": 7, "polls": 1},
                ],
            },
            {
                "feed": "all.rss",
                "polls": 1,
                "not_modified": 0,
                "reported_subscribers": 0,
                "clients": [{"client": "Browser", "reported_subscribers": None, "polls": 1}],
            },
        ]
    }
    page = viewer.get("/admin/feeds")
    assert page.status_code == 200
    text = page.text
    assert "all.atom" in text and "Feedly" in text and "Trình duyệt" in text
    assert "67%" in text  # 2 of 3 polls of all.atom answered 304
    assert ">49<" in text
    assert FEEDLY not in text and "fetcher.html" not in text  # families only, never a User-Agent


def test_the_window_is_chosen_from_three_and_anything_else_is_a_clear_400(site: Site) -> None:
    _poll(site, "/feeds/all.atom", FEEDLY)
    _flush(site)
    week_ago = site.clock() - timedelta(days=6)
    with site.store.writing() as conn:
        stored.add(conn, [Counted("old.atom", week_ago.astimezone(site.settings.tz).date(), "Feedly", 9, 9)])
    viewer = signed_in_client(site, "cuong")
    assert "old.atom" not in viewer.get("/admin/feeds").text
    week = viewer.get("/admin/feeds?ngay=7")
    assert week.status_code == 200 and "old.atom" in week.text and "all.atom" in week.text
    assert viewer.get("/admin/feeds?ngay=30").status_code == 200
    for bad in ("2", "-1", "1e9", "9" * 5000, "7%00", ""):
        answer = viewer.get("/admin/feeds", params={"ngay": bad})
        assert answer.status_code == 400, bad
        assert "24 giờ, 7 ngày hoặc 30 ngày" in answer.text
    english = viewer.get("/admin/feeds?ngay=7&lang=en")
    assert english.status_code == 200


def test_readership_needs_a_session(site: Site) -> None:
    with httpx.Client(base_url=site.url) as anonymous:
        assert anonymous.get("/admin/api/readership").status_code == 401
        assert anonymous.get("/admin/feeds").status_code == 303


# --- the web app's own flush (serve --no-scheduler) -------------------------------------------------


@contextmanager
def _serving_with_lifespan(app: ASGIApp) -> Iterator[str]:
    """uvicorn with its lifespan on, as `serve` runs it: the app's start and shutdown run."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually(lambda: server.started or not thread.is_alive(), "uvicorn started")
    assert thread.is_alive()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def _polls(store: Store, day: date) -> int:
    with store.reading() as conn:
        return sum(f.polls for f in stored.feeds(conn, day, day))


@pytest.fixture
def service(settings: Settings, store: Store, clock: FakeClock) -> Iterator[Service]:
    made = assemble(settings, store, clock)
    yield made
    made.close()


def _serving(service: Service) -> AbstractContextManager[httpx.Client]:
    from syndicator.web.app import create_app

    @contextmanager
    def client() -> Iterator[httpx.Client]:
        with _serving_with_lifespan(create_app(service.services)) as url, httpx.Client(base_url=url) as c:
            yield c

    return client()


def _today(service: Service) -> date:
    return service.services.clock().astimezone(service.settings.tz).date()


def test_without_a_scheduler_the_app_flushes_every_few_seconds(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("syndicator.web.app.READERSHIP_FLUSH_SECONDS", 0.05)
    with _serving(service) as client:
        assert client.get("/feeds/all.atom", headers={"user-agent": FEEDLY}).status_code == 200
        eventually(lambda: _polls(service.services.store, _today(service)) == 1, "the poll written")


def test_what_is_counted_is_written_at_shutdown(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("syndicator.web.app.READERSHIP_FLUSH_SECONDS", 3600.0)
    with _serving(service) as client:
        for _ in range(3):
            client.get("/feeds/all.atom", headers={"user-agent": FEEDLY})
        assert _polls(service.services.store, _today(service)) == 0
    assert _polls(service.services.store, _today(service)) == 3


def test_with_a_scheduler_its_job_flushes(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("syndicator.web.app.READERSHIP_FLUSH_SECONDS", 0.0)  # were the app to flush
    service.services.readership.flushed_by_scheduler = True  # as jobs.start says
    store = service.services.store
    with _serving(service) as client:
        client.get("/feeds/all.atom", headers={"user-agent": FEEDLY})
        client.get("/feeds/all.atom", headers={"user-agent": INOREADER})
        assert _polls(store, _today(service)) == 0
        Jobs(service).readership()
        assert _polls(store, _today(service)) == 2
        client.get("/feeds/all.atom", headers={"user-agent": FEEDLY})
    assert _polls(store, _today(service)) == 3  # the shutdown's flush, scheduler or not
