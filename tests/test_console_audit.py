"""The audit log's filters (by action, actor and days of the site's calendar), on the console's page over
real HTTP (uvicorn on loopback) and in `syndicator admin audit` as a real process, on SQLite and
PostgreSQL: one store function serves both; a bad filter is a 400 page or a usage error, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syndicator import access
from syndicator.accounts import AuditEntry, Role
from syndicator.store import Store
from syndicator.web import admin
from tests.clikit import syndicator_at
from tests.conftest import NOW
from tests.consolekit import make_account, signed_in_client
from tests.subscribekit import Site, running_site

# NOW is 10:00 on 10 March 2021 in Thọ Xuân (UTC+7): that day began at 17:00 UTC on the 9th
DAY_STARTS = datetime(2021, 3, 9, 17, 0, tzinfo=UTC)
ENTRIES = (  # (at, actor, action, target)
    (DAY_STARTS - timedelta(seconds=1), "cli:root", "account.add", "truoc"),
    (DAY_STARTS, "cli:root", "account.add", "dau-ngay"),
    (NOW - timedelta(hours=1), "an", "subscriber.list", "xem"),
    (NOW - timedelta(minutes=30), "binh", "account.remove", "xoa"),
)
TARGETS = {target for *_, target in ENTRIES}


def _record(store: Store) -> None:
    for at, actor, action, target in ENTRIES:
        access.record(store, AuditEntry(at, actor, action, target))


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    with running_site(database_url, tmp_path) as running:
        for name, role in (("an", Role.ADMIN), ("bich", Role.EDITOR), ("cuong", Role.VIEWER)):
            make_account(running.store, name, role, running.clock())
        _record(running.store)
        yield running


def _shown(text: str) -> set[str]:
    return {target for target in TARGETS if f">{target}</td>" in text}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, TARGETS),
        ({"thao_tac": "account.add"}, {"truoc", "dau-ngay"}),
        ({"nguoi": "cli:root"}, {"truoc", "dau-ngay"}),
        ({"nguoi": "  binh "}, {"xoa"}),  # spaces around are not part of a name
        ({"nguoi": "BINH"}, set()),  # exactly
        ({"tu": "2021-03-10"}, {"dau-ngay", "xem", "xoa"}),  # the day in the site's zone
        ({"den": "2021-03-09"}, {"truoc"}),  # up to the end of that day, there
        ({"tu": "2021-03-09", "den": "2021-03-09"}, {"truoc"}),
        ({"thao_tac": "account.add", "tu": "2021-03-10"}, {"dau-ngay"}),
        ({"thao_tac": "", "nguoi": "", "tu": "", "den": ""}, TARGETS),  # an empty form is no filter
    ],
)
def test_the_audit_page_filters_by_action_actor_and_days(
    site: Site, query: dict[str, str], expected: set[str]
) -> None:
    client = signed_in_client(site, "an")
    page = client.get("/admin/audit", params=query)
    assert page.status_code == 200, page.text
    assert _shown(page.text) == expected


def test_the_form_keeps_the_filters_and_lists_every_action_by_name(site: Site) -> None:
    client = signed_in_client(site, "an")
    page = client.get(
        "/admin/audit", params={"thao_tac": "account.add", "nguoi": "cli:root", "tu": "2021-03-01"}
    )
    assert '<option value="account.add" selected>Thêm tài khoản</option>' in page.text
    assert all(f'<option value="{action}"' in page.text for action in admin.ACTION_NAMES)
    assert 'name="nguoi" value="cli:root"' in page.text and 'name="tu" value="2021-03-01"' in page.text
    assert "Bỏ lọc" in page.text and "Bỏ lọc" not in client.get("/admin/audit").text
    english = client.get("/admin/audit", params={"thao_tac": "account.add", "lang": "en"})
    assert '<option value="account.add" selected>Account added</option>' in english.text
    assert "Actions" in english.text and "Filter" in english.text and "Clear the filters" in english.text


def test_the_pages_keep_the_filters(site: Site) -> None:
    for number in range(admin.AUDIT_PAGE + 2):
        access.record(site.store, AuditEntry(NOW, "cli:root", "account.remove", f"u{number}"))
    client = signed_in_client(site, "an")
    query = {"thao_tac": "account.remove", "nguoi": "cli:root"}
    first = client.get("/admin/audit", params=query)
    assert (
        'href="/admin/audit?thao_tac=account.remove&amp;nguoi=cli%3Aroot&amp;trang=2" rel="next"'
        in first.text
    )
    second = client.get("/admin/audit", params={**query, "trang": "2"})
    assert 'href="/admin/audit?thao_tac=account.remove&amp;nguoi=cli%3Aroot" rel="prev"' in second.text
    assert ">u0</td>" in second.text and 'rel="next"' not in second.text
    assert ">xoa</td>" not in first.text + second.text  # binh's removal: another actor


@pytest.mark.parametrize(
    "query",
    [
        {"thao_tac": "khong-co"},
        {"thao_tac": "x" * 5000},
        {"nguoi": "a" * 101},
        {"nguoi": "an\x00"},
        {"nguoi": "an\tb"},
        {"tu": "2021-13-01"},
        {"tu": "2021-02-30"},
        {"tu": "10/03/2021"},
        {"tu": "2021-3-1"},
        {"tu": "２０２１-03-10"},  # full-width digits
        {"tu": "0001-01-01"},
        {"den": "9999-12-31"},
        {"tu": "2021-03-10T00:00"},
        {"tu": "2021-03-10", "den": "2021-03-09"},  # ends before it starts
        {"tu": "9" * 10_000},
    ],
)
def test_a_bad_filter_is_a_400_page_naming_it(site: Site, query: dict[str, str]) -> None:
    client = signed_in_client(site, "an")
    answer = client.get("/admin/audit", params=query)
    assert answer.status_code == 400, answer.text
    assert "Bộ lọc không hợp lệ" in answer.text and "năm-tháng-ngày" in answer.text
    assert answer.headers["cache-control"] == "no-store"


def test_the_filters_are_an_admins_only(site: Site) -> None:
    for name in ("bich", "cuong"):
        client = signed_in_client(site, name)
        assert client.get("/admin/audit", params={"thao_tac": "login"}).status_code == 403
        assert client.get("/admin/audit", params={"thao_tac": "khong-co"}).status_code == 403


# -- the command ----------------------------------------------------------------------------------------


def _audit(database_url: str, home: Path, *options: str) -> set[str]:
    result = syndicator_at("admin", "audit", "--json", *options, database_url=database_url, home=home)
    assert result.returncode == 0, result.stderr
    return {e["target"] for e in json.loads(result.stdout)}


def test_the_command_filters_as_the_page_does(database_url: str, tmp_path: Path) -> None:
    store = Store.open(database_url)
    try:
        _record(store)
    finally:
        store.close()
    assert _audit(database_url, tmp_path) == TARGETS
    assert _audit(database_url, tmp_path, "--action", "account.add", "--since", "2021-03-10") == {"dau-ngay"}
    later = ("--actor", "binh", "--since", "2021-03-10T09:00", "--until", "2021-03-10T10:00+07:00")
    assert _audit(database_url, tmp_path, *later) == {"xoa"}


@pytest.mark.parametrize(
    "options",
    [
        ("--action", "khong-co"),
        ("--actor", ""),
        ("--actor", "a" * 101),
        ("--since", "2021-13-01"),
        ("--until", "hôm qua"),
        ("--since", "2021-03-10", "--until", "2021-03-09"),
    ],
)
def test_a_bad_filter_is_a_usage_error(tmp_path: Path, options: tuple[str, ...]) -> None:
    # checked before the database is opened: none is needed
    result = syndicator_at(
        "admin", "audit", *options, database_url=f"sqlite:///{tmp_path / 'store.db'}", home=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "error:" in result.stderr
