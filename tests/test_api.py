"""The CMS API over real HTTP (uvicorn on loopback, httpx): tokens, the JSON Lines body, limits, OpenAPI.

POST /api/articles creates or updates (the JSON Lines schema as the body), GET reads, DELETE
withdraws; what it writes is what the feeds and pages show once the store watch has run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_openapi

from syndicator.config import Settings, load_settings
from syndicator.ingest.jsonl import KNOWN_FIELDS
from syndicator.service import Service, assemble
from syndicator.store import Store
from syndicator.web.app import create_app
from tests.conftest import ROOT
from tests.factories import FakeClock
from tests.live import live_server

TOKENS = ("cms-token-aaaaaaaaaaaaaaaa", "cms-token-bbbbbbbbbbbbbbbb", "cms-token-cccccccccccccccc")
LIMIT = 1000  # bytes: imports.max_file_bytes
BASE = "http://portal.test"


@pytest.fixture
def api_settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        articles_dir=tmp_path / "drop",
        secret_key="test-secret-key-0123456789",
        base_url=BASE,
        api_tokens=",".join(TOKENS),
        imports={"max_file_bytes": LIMIT},
    )


@pytest.fixture
def service(api_settings: Settings, clock: FakeClock) -> Iterator[Service]:
    store = Store.open(api_settings.database_url)
    built = assemble(api_settings, store, clock)
    yield built
    built.close()
    store.close()


@pytest.fixture
def server(service: Service) -> Iterator[str]:
    with live_server(create_app(service.services)) as url:
        yield url


def auth(token: str = TOKENS[1]) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def body(article_id: str, now: datetime, **changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": article_id,
        "title": f"Thông báo {article_id}",
        "category": "Thông báo",
        "published_at": (now - timedelta(hours=1)).isoformat(),
        "body_text": "Nội dung.",
    }
    obj.update(changes)
    return obj


def feed_ids(service: Service, key: str = "all") -> set[str]:
    doc = service.services.cache.get(f"/feeds/{key}.json")
    assert doc is not None
    return {item["id"].removeprefix(f"{BASE}/a/") for item in json.loads(doc.body)["items"]}


# -- tokens ---------------------------------------------------------------------------------------


NO_VALID_TOKEN: list[dict[str, str]] = [
    {},
    {"authorization": "Bearer"},
    {"authorization": "Bearer not-a-configured-token"},
    {"authorization": f"Bearer {TOKENS[0][:-1]}"},  # a prefix
    {"authorization": f"Bearer {TOKENS[0]}x"},  # longer
    {"authorization": f"Bearer {TOKENS[0].upper()}"},
    {"authorization": f"Basic {TOKENS[0]}"},
    {"authorization": TOKENS[0]},
    {"x-api-key": TOKENS[0]},
]


def test_no_valid_token_gets_401(server: str, service: Service, now: datetime) -> None:
    for headers in NO_VALID_TOKEN:
        for method, path, payload in (
            ("POST", "/api/articles", body("khong-duoc", now)),
            ("GET", "/api/articles/khong-duoc", None),
            ("DELETE", "/api/articles/khong-duoc", None),
        ):
            response = httpx.request(method, server + path, json=payload, headers=headers)
            assert response.status_code == 401, (headers, method, response.text)
            assert response.headers["www-authenticate"] == 'Bearer realm="syndicator"'
            assert response.headers["cache-control"] == "no-store"
            assert response.json()["error"]
    assert service.services.store.article("khong-duoc") is None


def test_every_configured_token_is_accepted(server: str, now: datetime) -> None:
    for index, token in enumerate(TOKENS):
        response = httpx.post(f"{server}/api/articles", json=body(f"bai-{index}", now), headers=auth(token))
        assert response.status_code == 201


def test_tokens_are_compared_in_constant_time_against_every_token(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    for token in (TOKENS[0], "wrong-token-0123456789"):
        compared.clear()
        httpx.get(f"{server}/api/articles/x", headers=auth(token))
        # the first token matching does not stop the loop: the time taken says nothing
        assert [b for _, b in compared] == [hashlib.sha256(t.encode()).digest() for t in TOKENS]


def test_api_without_configured_tokens_is_closed(database_url: str, tmp_path: Path, now: datetime) -> None:
    settings = load_settings(database_url=database_url, var_dir=tmp_path / "var", base_url=BASE)
    store = Store.open(settings.database_url)
    service = assemble(settings, store, lambda: now)
    try:
        with live_server(create_app(service.services)) as url:
            response = httpx.post(f"{url}/api/articles", json=body("a", now), headers=auth(TOKENS[0]))
            assert response.status_code == 401
            assert "SYNDICATOR_API_TOKENS" in response.json()["error"]
            assert response.headers["www-authenticate"].startswith("Bearer")
    finally:
        service.close()
        store.close()


# -- create, read, update, withdraw ---------------------------------------------------------------


def test_create_read_update_and_withdraw(server: str, service: Service, clock: FakeClock) -> None:
    now = clock.now
    url = f"{server}/api/articles"
    created = httpx.post(url, json=body("cms-1", now), headers=auth())
    assert created.status_code == 201
    assert created.headers["location"] == "/api/articles/cms-1"
    assert created.json()["outcome"] == "created"
    assert created.json()["article"]["status"] == "published"

    read = httpx.get(f"{url}/cms-1", headers=auth())
    assert read.status_code == 200 and read.json() == created.json()["article"]
    assert read.json()["category"] == "thong-bao" and read.json()["url"] == f"{BASE}/a/cms-1"

    again = httpx.post(url, json=body("cms-1", now), headers=auth())
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    changed = httpx.post(url, json=body("cms-1", now, title="Thông báo (sửa)"), headers=auth())
    assert (changed.status_code, changed.json()["outcome"]) == (200, "updated")
    assert changed.json()["article"]["title"] == "Thông báo (sửa)"

    clock.now += timedelta(seconds=1)
    service.services.builder.refresh(clock.now)  # the store watch's tick
    assert "cms-1" in feed_ids(service, "thong-bao")
    assert "Thông báo (sửa)" in httpx.get(f"{server}/feeds/thong-bao.rss").text
    assert httpx.get(f"{server}/a/cms-1").status_code == 200

    withdrawn = httpx.delete(f"{url}/cms-1", headers=auth())
    assert withdrawn.status_code == 204 and withdrawn.content == b""
    assert httpx.get(f"{url}/cms-1", headers=auth()).json()["status"] == "withdrawn"
    assert httpx.delete(f"{url}/cms-1", headers=auth()).status_code == 204  # again: still withdrawn
    clock.now += timedelta(seconds=1)
    service.services.builder.refresh(clock.now)
    assert "cms-1" not in feed_ids(service)
    assert httpx.get(f"{server}/feeds/thong-bao.json").status_code == 410
    assert httpx.get(f"{server}/a/cms-1").status_code == 410

    republished = httpx.post(url, json=body("cms-1", now), headers=auth())
    assert (republished.status_code, republished.json()["article"]["status"]) == (200, "published")


def test_unknown_article_is_404(server: str) -> None:
    assert httpx.get(f"{server}/api/articles/khong-co", headers=auth()).status_code == 404
    missing = httpx.delete(f"{server}/api/articles/khong-co", headers=auth())
    assert missing.status_code == 404 and missing.json() == {"error": "no such article"}


def test_scheduled_article_is_reported_as_such_and_hidden(
    server: str, service: Service, clock: FakeClock
) -> None:
    due = clock.now + timedelta(minutes=10)
    created = httpx.post(
        f"{server}/api/articles",
        json=body("hen-gio", clock.now, published_at=due.isoformat()),
        headers=auth(),
    )
    assert created.json()["article"]["status"] == "scheduled"
    service.services.builder.refresh(clock.now)
    assert "hen-gio" not in feed_ids(service)
    assert httpx.get(f"{server}/a/hen-gio").status_code == 404
    clock.now = due
    service.services.builder.refresh(clock.now)
    assert "hen-gio" in feed_ids(service)
    assert httpx.get(f"{server}/api/articles/hen-gio", headers=auth()).json()["status"] == "published"


# -- bad bodies -----------------------------------------------------------------------------------


def test_invalid_article_is_422_naming_each_field(server: str, service: Service, now: datetime) -> None:
    response = httpx.post(f"{server}/api/articles", json={"title": 5, "color": "red"}, headers=auth())
    assert response.status_code == 422
    assert response.headers["cache-control"] == "no-store"
    errors = response.json()["errors"]
    assert {e["field"] for e in errors} == {"id", "title", "category", "published_at", "body_html", "color"}
    assert {"field": "color", "message": "unknown field"} in errors
    assert {"field": "title", "message": "must be a string"} in errors

    bad_date = httpx.post(
        f"{server}/api/articles", json=body("ngay-sai", now, published_at="31/02/2021"), headers=auth()
    )
    assert bad_date.status_code == 422
    assert [e["field"] for e in bad_date.json()["errors"]] == ["published_at"]
    assert service.services.store.article("ngay-sai") is None


def test_an_article_the_database_refuses_is_422_not_500(server: str, service: Service, now: datetime) -> None:
    """A value the database will not hold (here a trigger of the test's own) is the article's fault:
    422 with the database's reason, and nothing written. It was a 500."""
    engine = service.services.store.engine
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON articles WHEN NEW.title = 'Từ chối' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.title = 'Từ chối' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
                "RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON articles FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
    response = httpx.post(
        f"{server}/api/articles", json=body("tu-choi", now, title="Từ chối"), headers=auth()
    )
    assert response.status_code == 422, response.text
    assert "refused by the test" in response.json()["error"]
    assert httpx.get(f"{server}/api/articles/tu-choi", headers=auth()).status_code == 404
    accepted = httpx.post(f"{server}/api/articles", json=body("duoc", now), headers=auth())
    assert accepted.status_code == 201


def test_body_that_is_no_json_object_is_422(server: str) -> None:
    for raw in (b"{not json", b"\xff\xfe\x00", b"", b"[1, 2]", b'"a string"', b"null"):
        response = httpx.post(
            f"{server}/api/articles", content=raw, headers={**auth(), "content-type": "application/json"}
        )
        assert response.status_code == 422, raw
        assert "errors" in response.json()


# -- size limit -------------------------------------------------------------------------------------


def sized(now: datetime, size: int) -> bytes:
    """A valid article body of exactly `size` bytes."""
    empty = json.dumps(body("vua-du", now, body_text="")).encode()
    padded = json.dumps(body("vua-du", now, body_text="x" * (size - len(empty)))).encode()
    assert len(padded) == size
    return padded


def test_body_at_the_limit_is_accepted(server: str, now: datetime) -> None:
    response = httpx.post(f"{server}/api/articles", content=sized(now, LIMIT), headers=auth())
    assert response.status_code == 201


def test_content_length_over_the_limit_is_413_before_the_body_is_read(server: str, service: Service) -> None:
    """Only the headers are sent: the answer comes from Content-Length alone, nothing is read or stored."""
    host, port = server.removeprefix("http://").split(":")
    request = (
        f"POST /api/articles HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKENS[0]}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {10**9}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request.encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]


def test_body_over_the_limit_is_413(server: str, service: Service, now: datetime) -> None:
    response = httpx.post(f"{server}/api/articles", content=sized(now, LIMIT + 1), headers=auth())
    assert response.status_code == 413
    assert response.json()["error"] == f"request body larger than {LIMIT} bytes"
    assert service.services.store.article("vua-du") is None


def test_chunked_body_over_the_limit_is_413(server: str, service: Service, now: datetime) -> None:
    """No Content-Length to go by: the server counts what arrives and stops past the limit."""
    data = sized(now, LIMIT + 1)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 300):
            yield data[start : start + 300]

    with httpx.Client() as client:
        request = client.build_request("POST", f"{server}/api/articles", content=chunks(), headers=auth())
        assert request.headers["transfer-encoding"] == "chunked" and "content-length" not in request.headers
        response = client.send(request)
    assert response.status_code == 413
    assert service.services.store.article("vua-du") is None

    with httpx.Client() as client:  # the same in chunks, within the limit: accepted
        within = sized(now, LIMIT)
        response = client.post(
            f"{server}/api/articles", content=iter([within[:500], within[500:]]), headers=auth()
        )
    assert response.status_code == 201


# -- OpenAPI ----------------------------------------------------------------------------------------


def test_openapi_document_is_valid_openapi_3_1_and_matches_the_api(server: str) -> None:
    response = httpx.get(f"{server}/api/openapi.json")  # public: no token needed to read the description
    assert response.status_code == 200
    document = response.json()
    validate_openapi(document)  # raises on any error; picks the 3.1 validator from "openapi"
    assert document["openapi"].startswith("3.1.")
    assert document["servers"] == [{"url": BASE}]
    paths = document["paths"]
    assert {path: sorted(k for k in ops if k != "parameters") for path, ops in paths.items()} == {
        "/api/articles": ["post"],
        "/api/articles/{id}": ["delete", "get"],
    }
    for path, method in (
        ("/api/articles", "post"),
        ("/api/articles/{id}", "get"),
        ("/api/articles/{id}", "delete"),
    ):
        assert "401" in paths[path][method]["responses"]
    assert {"413", "422", "201", "200"} <= set(paths["/api/articles"]["post"]["responses"])
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}

    # the request schema is the JSON Lines schema: the same fields, and the sample articles fit it
    article_in = document["components"]["schemas"]["ArticleIn"]
    assert set(article_in["properties"]) == KNOWN_FIELDS
    validator = OAS31Validator(article_in)
    samples = [
        json.loads(line) for line in (ROOT / "examples" / "articles.jsonl").read_text().splitlines() if line
    ]
    assert samples
    for sample in samples:
        assert not list(validator.iter_errors(sample)), sample["id"]
    assert list(
        validator.iter_errors({"id": "x", "title": "t", "category": "c", "published_at": "2021-01-01"})
    )
