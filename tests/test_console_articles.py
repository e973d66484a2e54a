"""The console's articles over real HTTP (uvicorn on loopback, SQLite and PostgreSQL): search by title or
id (LIKE's wildcards taken as themselves), filters by category and state, pages; withdraw and restore by
an editor, audited, refused to a viewer with nothing changed; and, with a real `serve` process, a
withdrawn article leaving its category's feed and a restored one coming back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from syndicator import access
from syndicator.accounts import Role
from syndicator.model import Status, Visibility
from syndicator.store import Store
from tests.consolekit import form_token, log_in, make_account, signed_in_client
from tests.factories import article_json, publish
from tests.processes import BASE_URL, TOKEN, Processes, environment, shows_logs
from tests.subscribekit import Site, running_site

NOTICES = "Thông báo"
EVENTS = "Sự kiện"
_ROW_ID = re.compile(r"<code>([A-Za-z0-9._-]+)</code>")


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    with running_site(database_url, tmp_path) as running:
        for name, role in (("an", Role.ADMIN), ("bich", Role.EDITOR), ("cuong", Role.VIEWER)):
            make_account(running.store, name, role, running.clock())
        now = running.clock()
        publish(running.store, "giam-50pct", EVENTS, now - timedelta(hours=3), title="Giảm 50% phí")
        publish(running.store, "giam-500", EVENTS, now - timedelta(hours=2), title="Giảm 500 nghìn")
        publish(running.store, "a_b-1", EVENTS, now - timedelta(hours=1), title="Lễ hội làng")
        publish(running.store, "hen-gio", NOTICES, now + timedelta(days=1), title="Lịch cắt điện")
        publish(running.store, "da-go", NOTICES, now - timedelta(days=1), title="Tin đã gỡ")
        running.store.withdraw("da-go", now)
        yield running


def _ids(page: httpx.Response) -> list[str]:
    assert page.status_code == 200, page.text
    return _ROW_ID.findall(page.text)


def _audit(site: Site) -> list[tuple[str, str, str | None]]:
    entries, _ = access.audit(site.store, limit=1000)
    return [(e.actor, e.action, e.target) for e in reversed(entries) if e.action.startswith("article.")]


def test_search_takes_percent_and_underscore_as_themselves(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    assert _ids(client.get("/admin/articles", params={"q": "50%"})) == ["giam-50pct"]
    assert _ids(client.get("/admin/articles", params={"q": "giảm"})) == ["giam-500", "giam-50pct"]
    assert _ids(client.get("/admin/articles", params={"q": "a_b"})) == ["a_b-1"]  # by id; _ not a wildcard
    percent = _ids(client.get("/admin/articles", params={"q": "%"}))
    assert "giam-50pct" in percent and "giam-500" not in percent  # % alone is no wildcard either
    assert _ids(client.get("/admin/articles", params={"q": "\\"})) == []


def test_filters_by_category_and_state_by_the_one_visibility_rule(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    assert _ids(client.get("/admin/articles", params={"chuyenmuc": "su-kien"})) == [
        "a_b-1",
        "giam-500",
        "giam-50pct",
    ]
    assert _ids(client.get("/admin/articles", params={"trangthai": "scheduled"})) == ["hen-gio"]
    assert _ids(client.get("/admin/articles", params={"trangthai": "withdrawn"})) == ["da-go"]
    published = _ids(
        client.get("/admin/articles", params={"trangthai": "published", "chuyenmuc": "thong-bao"})
    )
    assert "hen-gio" not in published and "da-go" not in published
    visible = {a.id for a in site.store.articles(site.clock(), category="thong-bao", limit=1000)}
    assert set(published) == visible or len(published) == 25  # a page at most


def test_pages_of_25(site: Site) -> None:
    for number in range(30):
        publish(site.store, f"trang-{number:02}", EVENTS, site.clock() - timedelta(days=2, minutes=number))
    client = signed_in_client(site, "cuong")
    first = _ids(client.get("/admin/articles", params={"chuyenmuc": "su-kien"}))
    second = client.get("/admin/articles", params={"chuyenmuc": "su-kien", "trang": "2"})
    assert len(first) == 25 and len(_ids(second)) == 33 - 25
    assert not set(first) & set(_ids(second))
    assert 'href="/admin/articles?chuyenmuc=su-kien&amp;trang=1"' in second.text


@pytest.mark.parametrize(
    "text", ["\x00", "giảm\x00", "'; DROP TABLE articles; --", "\u202egiảm", "ｇｉａｍ", " " * 200]
)
def test_odd_search_text_is_searched_as_text(site: Site, text: str) -> None:
    client = signed_in_client(site, "cuong")
    answer = client.get("/admin/articles", params={"q": text})
    assert answer.status_code == 200
    assert site.store.article("giam-500") is not None


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x" * 201},
        {"chuyenmuc": "Sự kiện"},
        {"chuyenmuc": "x" * 81},
        {"trangthai": "deleted"},
        {"trangthai": "PUBLISHED"},
    ],
)
def test_a_bad_search_is_a_400_naming_what_is_allowed(site: Site, params: dict[str, str]) -> None:
    client = signed_in_client(site, "cuong")
    answer = client.get("/admin/articles", params=params)
    assert answer.status_code == 400
    assert "Tìm kiếm không hợp lệ" in answer.text


@pytest.mark.parametrize("number", ["0", "-1", "x", "99999999999"])
def test_a_bad_page_number_is_a_404(site: Site, number: str) -> None:
    client = signed_in_client(site, "cuong")
    assert client.get("/admin/articles", params={"trang": number}).status_code == 404


def test_an_editor_withdraws_and_restores_each_audited(site: Site) -> None:
    client = signed_in_client(site, "bich")
    token = form_token(client, "/admin/articles")
    answer = client.post("/admin/articles/withdraw", data={"csrf_token": token, "id": "giam-500"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/articles?q=giam-500"
    found = site.store.article("giam-500")
    assert found is not None and found.status is Status.WITHDRAWN
    again = client.post("/admin/articles/withdraw", data={"csrf_token": token, "id": "giam-500"})
    assert again.status_code == 409
    page = client.get(answer.headers["location"])
    assert "Đăng lại" in page.text
    restored = client.post("/admin/articles/restore", data={"csrf_token": token, "id": "giam-500"})
    assert restored.status_code == 303
    found = site.store.article("giam-500")
    assert found is not None and found.visibility(site.clock()) is Visibility.PUBLISHED
    assert found.available_at == site.clock()  # news again, of the next digest
    assert _audit(site) == [("bich", "article.withdraw", "giam-500"), ("bich", "article.restore", "giam-500")]


@pytest.mark.parametrize(
    ("path", "article_id", "status"),
    [
        ("/admin/articles/withdraw", "khong-co", 404),
        ("/admin/articles/restore", "giam-500", 409),  # not withdrawn
        ("/admin/articles/withdraw", "../x", 400),
        ("/admin/articles/withdraw", "", 400),
        ("/admin/articles/restore", "x" * 129, 400),
    ],
)
def test_a_change_that_cannot_be_made_changes_nothing(
    site: Site, path: str, article_id: str, status: int
) -> None:
    client = signed_in_client(site, "an")
    token = form_token(client, "/admin/articles")
    assert client.post(path, data={"csrf_token": token, "id": article_id}).status_code == status
    assert _audit(site) == []


def test_a_viewer_is_refused_a_change_and_nothing_changes(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    page = client.get("/admin/articles")
    assert "Gỡ bài" not in page.text  # no buttons for a viewer
    token = form_token(client, "/admin/articles")
    for path, article_id in (("/admin/articles/withdraw", "giam-500"), ("/admin/articles/restore", "da-go")):
        answer = client.post(path, data={"csrf_token": token, "id": article_id})
        assert answer.status_code == 403
    found, gone = site.store.article("giam-500"), site.store.article("da-go")
    assert found is not None and found.status is Status.PUBLISHED
    assert gone is not None and gone.status is Status.WITHDRAWN
    assert _audit(site) == []


def test_without_the_csrf_field_an_editor_changes_nothing(site: Site) -> None:
    client = signed_in_client(site, "bich")
    assert client.post("/admin/articles/withdraw", data={"id": "giam-500"}).status_code == 403
    found = site.store.article("giam-500")
    assert found is not None and found.status is Status.PUBLISHED
    assert _audit(site) == []


# -- with a real server: the feeds follow --------------------------------------------------------------


def _in_feed(url: str, slug: str, article_id: str) -> bool | None:
    """Whether the article is in its category's JSON feed (None while the feed is not served)."""
    answer = httpx.get(f"{url}/feeds/{slug}.json", timeout=5)
    if answer.status_code != 200:
        return None
    return f"{BASE_URL}/a/{article_id}" in {item["id"] for item in answer.json()["items"]}


@shows_logs
def test_a_withdrawn_article_leaves_its_feed_and_a_restored_one_comes_back(
    processes: Processes, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'syndicator.db'}"
    (tmp_path / "var").mkdir()
    store = Store.open(url)
    try:
        make_account(store, "bich", Role.EDITOR, datetime.now(UTC))
    finally:
        store.close()
    server = processes.serve(environment(database_url=url, home=tmp_path))
    assert server.url is not None
    for article_id in ("o-lai", "se-go"):
        created = httpx.post(
            f"{server.url}/api/articles",
            json=article_json(article_id, datetime.now(UTC) - timedelta(hours=1), category=EVENTS),
            headers={"authorization": f"Bearer {TOKEN}"},
        )
        assert created.status_code in (200, 201), created.text
    processes.eventually(lambda: _in_feed(server.url or "", "su-kien", "se-go"), "the article in its feed")

    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=20) as client:
        assert log_in(client, "bich").status_code == 303
        token = form_token(client, "/admin/articles")
        withdrawn = client.post("/admin/articles/withdraw", data={"csrf_token": token, "id": "se-go"})
        assert withdrawn.status_code == 303
        processes.eventually(
            lambda: _in_feed(server.url or "", "su-kien", "se-go") is False,
            "the withdrawn article to leave its feed",
            timeout=2.5,
        )
        assert _in_feed(server.url or "", "su-kien", "o-lai") is True
        restored = client.post("/admin/articles/restore", data={"csrf_token": token, "id": "se-go"})
        assert restored.status_code == 303
        processes.eventually(
            lambda: _in_feed(server.url or "", "su-kien", "se-go"),
            "the restored article back in its feed",
            timeout=2.5,
        )
