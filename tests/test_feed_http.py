"""Feed serving over real HTTP: uvicorn on loopback, httpx as the client, feedparser as the reader."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import feedparser
import httpx
import pytest
from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from syndicator import feeds
from syndicator.config import Settings, load_settings
from syndicator.ingest.importer import import_paths
from syndicator.model import Status
from syndicator.service import Service, assemble
from syndicator.store import Store
from syndicator.web.app import create_app
from tests.conftest import EXAMPLES
from tests.factories import FakeClock, article_input
from tests.live import live_server

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def feed_settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret-key-0123456789",
        base_url="http://portal.test",
        feeds={"max_entries": 3, "archive_page_size": 5, "cache_max_age": 300},
    )


@pytest.fixture
def loaded(feed_settings: Settings, now: datetime) -> Iterator[Store]:
    store = Store.open(feed_settings.database_url, feed_settings.categories)
    report = import_paths(store, [EXAMPLES], now - timedelta(days=1), feed_settings.tz)
    assert report.failed == 0
    yield store
    store.close()


@pytest.fixture
def service(loaded: Store, feed_settings: Settings, clock: FakeClock) -> Iterator[Service]:
    built = assemble(feed_settings, loaded, clock)
    yield built
    if built.pinger:
        built.pinger.stop()


@pytest.fixture
def server(service: Service) -> Iterator[str]:
    with live_server(create_app(service.services)) as url:
        yield url


def test_feed_headers(server: str) -> None:
    for kind, media in (
        ("rss", "application/rss+xml; charset=utf-8"),
        ("atom", "application/atom+xml; charset=utf-8"),
        ("json", "application/feed+json; charset=utf-8"),
    ):
        response = httpx.get(f"{server}/feeds/thong-bao.{kind}", headers={"accept-encoding": "identity"})
        assert response.status_code == 200
        assert response.headers["content-type"] == media
        assert response.headers["cache-control"] == "public, max-age=300"
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.headers["etag"].startswith('"') and response.headers["etag"].endswith('"')
        # newest entry of Thông báo: 003, 20/01/2021 09:00 +07:00
        assert response.headers["last-modified"] == "Wed, 20 Jan 2021 02:00:00 GMT"
        assert "content-encoding" not in response.headers
        assert int(response.headers["content-length"]) == len(response.content)


def test_conditional_get_by_etag_and_by_date(server: str) -> None:
    url = f"{server}/feeds/thong-bao.rss"
    first = httpx.get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]

    again = httpx.get(url, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["cache-control"] == "public, max-age=300"
    assert again.headers["etag"] in (etag, etag[:-1] + '-gz"')

    assert httpx.get(url, headers={"if-none-match": '"other"'}).status_code == 200
    assert httpx.get(url, headers={"if-none-match": f'"x", W/{etag}'}).status_code == 304
    assert httpx.get(url, headers={"if-modified-since": modified}).status_code == 304
    assert httpx.get(url, headers={"if-modified-since": "Tue, 19 Jan 2021 00:00:00 GMT"}).status_code == 200
    assert httpx.get(url, headers={"if-modified-since": "garbage"}).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110)
    both = {"if-none-match": '"other"', "if-modified-since": modified}
    assert httpx.get(url, headers=both).status_code == 200


def test_gzip_and_head(server: str) -> None:
    url = f"{server}/feeds/all.atom"
    with httpx.Client() as client, client.stream("GET", url, headers={"accept-encoding": "gzip"}) as raw:
        assert raw.headers["content-encoding"] == "gzip"
        body = b"".join(raw.iter_raw())
    plain = httpx.get(url, headers={"accept-encoding": "identity"})
    assert gzip.decompress(body) == plain.content
    gz_etag = raw.headers["etag"]
    assert gz_etag != plain.headers["etag"]
    # either validator revalidates, whichever encoding the client asks for now
    assert httpx.get(url, headers={"if-none-match": gz_etag}).status_code == 304
    assert (
        httpx.get(url, headers={"accept-encoding": "gzip;q=0", "if-none-match": '"x"'}).headers.get(
            "content-encoding"
        )
        is None
    )

    head = httpx.head(url, headers={"accept-encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == plain.headers["etag"]
    assert int(head.headers["content-length"]) == len(plain.content)
    assert httpx.post(url).status_code == 405


def test_unknown_is_404_and_emptied_category_is_410(
    server: str, service: Service, loaded: Store, clock: FakeClock
) -> None:
    assert httpx.get(f"{server}/feeds/khong-co.rss").status_code == 404
    assert httpx.get(f"{server}/feeds/y-te.xml").status_code == 404
    assert loaded.withdraw("010_ad4f3e4f28c44fd2", clock.now)  # the only Y tế article
    service.services.builder.refresh(clock.now)
    for kind in ("rss", "atom", "json"):
        assert httpx.get(f"{server}/feeds/y-te.{kind}").status_code == 410
    assert httpx.get(f"{server}/c/y-te").status_code == 410
    assert httpx.get(f"{server}/a/010_ad4f3e4f28c44fd2").status_code == 410


def test_poll_touches_neither_database_nor_feedgen(
    server: str, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{server}/feeds/thong-bao.atom"
    etag = httpx.get(url).headers["etag"]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a poll must not render or query")

    monkeypatch.setattr(feeds, "render", refuse)
    monkeypatch.setattr(service.services.store, "reading", refuse)
    monkeypatch.setattr(service.services.store, "writing", refuse)
    assert httpx.get(url, headers={"if-none-match": etag}).status_code == 304
    assert httpx.get(url, headers={"accept-encoding": "gzip"}).status_code == 200
    assert httpx.get(url).headers["etag"] == etag


def test_restart_keeps_etags_without_rendering(
    service: Service,
    loaded: Store,
    feed_settings: Settings,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = {p: service.services.cache.get(p) for p in service.services.cache.paths()}

    def refuse(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("nothing changed: nothing may be rendered")

    monkeypatch.setattr(feeds, "render", refuse)
    again = assemble(feed_settings, loaded, clock)
    after = {p: again.services.cache.get(p) for p in again.services.cache.paths()}
    assert {p: d.etag for p, d in after.items() if d} == {p: d.etag for p, d in before.items() if d}


def test_rebuild_renders_only_what_changed_and_bytes_are_stable(
    service: Service, loaded: Store, clock: FakeClock
) -> None:
    builder = service.services.builder
    idle = builder.refresh(clock.now)
    assert idle.rendered == []
    first = service.services.cache.get("/feeds/kinh-te.rss")
    assert first is not None

    clock.now += timedelta(minutes=5)
    loaded.write([article_input("moi-1", "Thông báo", clock.now - timedelta(minutes=1))], clock.now)
    report = builder.refresh(clock.now)
    assert set(report.rendered) == {
        *(f"/feeds/{key}.{kind}" for key in ("thong-bao", "all") for kind in ("rss", "atom", "json")),
    }
    assert service.services.cache.get("/feeds/kinh-te.rss") is first

    # rendering the same content again gives the same bytes (no build time in the feed)
    body = service.services.cache.get("/feeds/thong-bao.atom")
    assert body is not None
    builder.rebuild({"thong-bao"}, clock.now)
    assert service.services.cache.get("/feeds/thong-bao.atom") == body


def test_scheduled_article_appears_when_due_and_never_before(
    server: str, service: Service, loaded: Store, clock: FakeClock
) -> None:
    due = clock.now + timedelta(hours=2)
    loaded.write([article_input("hen-gio", "Thông báo", due)], clock.now)
    service.services.builder.refresh(clock.now)
    for path in ("/feeds/thong-bao.rss", "/feeds/all.atom", "/feeds/all.json", "/c/thong-bao", "/"):
        assert "hen-gio" not in httpx.get(server + path).text
    assert httpx.get(f"{server}/a/hen-gio").status_code == 404

    clock.now = due + timedelta(seconds=1)
    report = service.services.builder.refresh(clock.now)  # no write happened: the clock alone
    assert "/feeds/thong-bao.rss" in report.rendered
    parsed = feedparser.parse(httpx.get(f"{server}/feeds/thong-bao.rss").content)
    assert parsed.entries[0].link == "http://portal.test/a/hen-gio"
    assert httpx.get(f"{server}/a/hen-gio").status_code == 200


def test_archives_reach_every_visible_article(
    server: str, service: Service, loaded: Store, clock: FakeClock
) -> None:
    base = clock.now - timedelta(days=30)
    loaded.write(
        [article_input(f"cu-{i:02d}", "Thông báo", base + timedelta(hours=i)) for i in range(14)], clock.now
    )
    loaded.withdraw("cu-05", clock.now)
    service.services.builder.refresh(clock.now)
    expected = {a.id for a in loaded.articles(clock.now, category="thong-bao")}
    assert len(expected) == 16  # 3 samples + 13 visible

    seen: list[str] = []
    url: str | None = f"{server}/feeds/thong-bao.atom"
    pages = 0
    while url:
        response = httpx.get(url.replace("http://portal.test", server))
        assert response.status_code == 200, url
        doc = etree.fromstring(response.content)
        seen += [e.findtext(f"{ATOM}id").rsplit("/", 1)[-1] for e in doc.iter(f"{ATOM}entry")]
        prev = [link.get("href") for link in doc.iter(f"{ATOM}link") if link.get("rel") == "prev-archive"]
        url = prev[0] if prev else None
        pages += 1
        if pages > 1:
            history = doc.find("{http://purl.org/syndication/history/1.0}archive")
            assert history is not None
            assert any(link.get("rel") == "current" for link in doc.iter(f"{ATOM}link"))
    assert pages > 2
    assert sorted(seen) == sorted(expected)  # each visible article once: in the feed or on one page
    assert httpx.get(f"{server}/feeds/thong-bao/archive/99.atom").status_code == 404


def test_opml_and_health(server: str) -> None:
    opml = httpx.get(f"{server}/feeds.opml")
    assert opml.status_code == 200
    assert opml.headers["content-type"].startswith("text/x-opml")
    outlines = etree.fromstring(opml.content).findall(".//outline")
    urls = {o.get("xmlUrl") for o in outlines}
    assert "http://portal.test/feeds/all.rss" in urls
    assert "http://portal.test/feeds/thong-bao.rss" in urls
    assert (
        httpx.get(f"{server}/feeds.opml", headers={"if-none-match": opml.headers["etag"]}).status_code == 304
    )
    health = httpx.get(f"{server}/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"


def test_websub_hub_links_and_publish_pings(
    loaded: Store, feed_settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    received: list[str] = []
    arrived = threading.Event()
    failures = {"left": 1}

    async def hub(request: Request) -> Response:
        form = await request.form()
        if failures["left"]:
            failures["left"] -= 1
            return PlainTextResponse("busy", status_code=503)
        assert form["hub.mode"] == "publish"
        received.append(str(form["hub.url"]))
        if any(u.endswith("/feeds/thong-bao.atom") for u in received):
            arrived.set()
        return PlainTextResponse("", status_code=204)

    with live_server(Starlette(routes=[Route("/", hub, methods=["POST"])])) as hub_url:
        settings = load_settings(**{**feed_settings.model_dump(), "websub_hub": hub_url + "/"})
        service = assemble(settings, loaded, clock)
        assert service.pinger is not None
        service.pinger.first_delay = 0.05
        try:
            with live_server(create_app(service.services)) as server:
                response = httpx.get(f"{server}/feeds/thong-bao.atom")
                assert f'<{hub_url}>; rel="hub"' in response.headers["link"]
                assert '<http://portal.test/feeds/thong-bao.atom>; rel="self"' in response.headers["link"]
                parsed = feedparser.parse(response.content)
                assert {"hub", "self"} <= {link.rel for link in parsed.feed.links}

                clock.now += timedelta(minutes=1)
                loaded.write([article_input("ping-1", "Thông báo", clock.now)], clock.now)
                service.services.builder.refresh(clock.now)
                assert arrived.wait(10), f"no ping arrived; got {received}"
        finally:
            service.pinger.stop()
    assert "http://portal.test/feeds/thong-bao.rss" in received


def test_a_category_turning_410_is_pinged_to_the_hub(
    loaded: Store, feed_settings: Settings, clock: FakeClock
) -> None:
    received: list[str] = []
    gone = {f"http://portal.test/feeds/y-te.{kind}" for kind in ("rss", "atom", "json")}
    arrived = threading.Event()

    async def hub(request: Request) -> Response:
        form = await request.form()
        received.append(str(form["hub.url"]))
        if gone <= set(received):
            arrived.set()
        return PlainTextResponse("", status_code=204)

    with live_server(Starlette(routes=[Route("/", hub, methods=["POST"])])) as hub_url:
        settings = load_settings(**{**feed_settings.model_dump(), "websub_hub": hub_url + "/"})
        service = assemble(settings, loaded, clock)
        assert service.pinger is not None
        try:
            # the first build pinged every feed, y-te's included: only what comes after counts
            deadline = time.monotonic() + 10
            while service.pinger.pending() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert service.pinger.pending() == 0
            received.clear()
            arrived.clear()
            clock.now += timedelta(minutes=1)
            assert loaded.withdraw("010_ad4f3e4f28c44fd2", clock.now)  # the only Y tế article
            report = service.services.builder.refresh(clock.now)
            assert {f"/feeds/y-te.{kind}" for kind in ("rss", "atom", "json")} == set(report.gone)
            assert arrived.wait(10), f"the 410 feeds were not pinged; got {received}"
        finally:
            service.pinger.stop()
    assert not any(url.endswith(".opml") for url in received)


def test_pages(server: str, loaded: Store, service: Service, clock: FakeClock) -> None:
    home = httpx.get(server + "/")
    assert home.status_code == 200
    assert 'type="application/rss+xml"' in home.text and "/feeds/all.rss" in home.text
    assert home.headers["content-security-policy"].startswith("default-src 'none'")
    assert home.headers["x-content-type-options"] == "nosniff"
    category = httpx.get(server + "/c/thong-bao")
    assert "/feeds/thong-bao.atom" in category.text
    page = httpx.get(server + "/a/000_7aa2cdb3d5133083")
    assert page.status_code == 200 and "Lê Hải" in page.text
    assert httpx.get(server + "/a/khong-co").status_code == 404
    assert httpx.get(server + "/c/khong-co").status_code == 404
    assert httpx.get(server + "/c/thong-bao?trang=abc").status_code == 404

    nasty = replace(
        article_input("xss", "Thông báo", clock.now - timedelta(minutes=1)), title="<script>x</script> & ]]>"
    )
    loaded.write([nasty], clock.now)
    text = httpx.get(server + "/a/xss").text
    assert "<script>x</script>" not in text and "&lt;script&gt;x&lt;/script&gt; &amp; ]]&gt;" in text


def test_withdrawn_appears_nowhere(server: str, loaded: Store, service: Service, clock: FakeClock) -> None:
    gone = article_input("zz-da-rut", "Kinh tế", clock.now - timedelta(hours=1), status=Status.WITHDRAWN)
    loaded.write([gone], clock.now)
    service.services.builder.refresh(clock.now)
    for path in ("/feeds/kinh-te.rss", "/feeds/all.rss", "/feeds/all.json", "/c/kinh-te", "/"):
        assert "zz-da-rut" not in httpx.get(server + path).text
    assert httpx.get(server + "/a/zz-da-rut").status_code == 410


def test_last_modified_is_http_date(service: Service) -> None:
    doc = service.services.cache.get("/feeds/all.rss")
    assert doc is not None and doc.last_modified is not None
    assert doc.last_modified_http == format_datetime(doc.last_modified, usegmt=True)


def test_metrics(server: str) -> None:
    httpx.get(f"{server}/feeds/all.rss")
    etag = httpx.get(f"{server}/feeds/all.rss").headers["etag"]
    httpx.get(f"{server}/feeds/all.rss", headers={"if-none-match": etag})
    httpx.get(f"{server}/feeds/khong-co.rss")
    text = httpx.get(f"{server}/metrics").text
    assert 'syndicator_feed_responses_total{status="200"} 2' in text
    assert 'syndicator_feed_responses_total{status="304"} 1' in text
    assert 'syndicator_feed_responses_total{status="404"} 1' in text
    assert 'syndicator_articles{state="published"} 12' in text
    assert "# TYPE syndicator_outbox_mails gauge" in text
