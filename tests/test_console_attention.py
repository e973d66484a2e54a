"""The dashboard's attention list over real HTTP (uvicorn on loopback, SQLite and PostgreSQL): a file of
the drop folder that did not import is named relative to the folder, with the importer's English reason
for an admin only and never the server's path; a broken officials file is flagged; bounces link to the
mails that failed; the mail chart says what "bounced" and "failed" count."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syndicator.accounts import Role
from syndicator.model import DropFile
from syndicator.store import dropfiles
from tests.consolekit import make_account, signed_in_client
from tests.subscribekit import Site, running_site


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    with running_site(database_url, tmp_path) as running:
        for name, role in (("an", Role.ADMIN), ("bich", Role.EDITOR), ("cuong", Role.VIEWER)):
            make_account(running.store, name, role, running.clock())
        yield running


def _attention(text: str) -> str:
    return text.split('id="attention"')[1].split("</section>")[0]


def _officials_file(site: Site, text: str) -> None:
    path = site.settings.digest.officials_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_a_failed_file_is_named_in_the_drop_folder_and_its_reason_is_an_admins(site: Site) -> None:
    folder = str(site.settings.articles_dir)
    reason = f"{folder}/xa/hong.jsonl:1: not valid JSON: Expecting value"
    with site.store.writing() as conn:
        dropfiles.replace(conn, [DropFile("xa/hong.jsonl", 1, 1, (), reason)], [], site.clock())
    for name in ("cuong", "bich"):
        listed = _attention(signed_in_client(site, name).get("/admin/").text)
        assert (
            "1 tệp trong thư mục nhận bài không nhập được:" in listed
            and "<code>xa/hong.jsonl</code>" in listed
        )
        assert "not valid JSON" not in listed and folder not in listed
    listed = _attention(signed_in_client(site, "an").get("/admin/").text)
    assert "<code>xa/hong.jsonl:1: not valid JSON: Expecting value</code>" in listed
    assert "<details>" in listed and folder not in listed


def test_a_broken_officials_file_is_flagged_with_its_reason_for_an_admin(site: Site) -> None:
    viewer = signed_in_client(site, "cuong")
    assert "Không có gì cần chú ý" in viewer.get("/admin/").text  # no file, none listed: nothing to keep
    _officials_file(site, '[[official]]\nemail = "sai@thoxuan.gov.vn"\nemail2 = 1\n')
    listed = _attention(viewer.get("/admin/").text)
    assert '<a href="/admin/officials">Tệp danh sách cán bộ có lỗi' in listed
    assert "email2" not in listed and "sai@thoxuan.gov.vn" not in listed
    assert viewer.get("/admin/api/dashboard").json()["attention"]["officials_file_broken"] is True
    admin = _attention(signed_in_client(site, "an").get("/admin/").text)
    assert "email2" in admin
    english = _attention(viewer.get("/admin/?lang=en").text)
    assert "Tệp" not in english


def test_a_missing_officials_file_is_flagged_while_officials_are_listed(site: Site) -> None:
    _officials_file(site, '[[official]]\nemail = "chu.tich@thoxuan.gov.vn"\n')
    site.service.officials.check(site.clock())
    viewer = signed_in_client(site, "cuong")
    assert viewer.get("/admin/api/dashboard").json()["attention"]["officials_file_broken"] is False
    site.settings.digest.officials_file.unlink()
    assert viewer.get("/admin/api/dashboard").json()["attention"]["officials_file_broken"] is True
    assert "/admin/officials" in _attention(viewer.get("/admin/").text)


def test_the_mail_chart_says_what_bounced_and_failed_count(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    figure = client.get("/admin/").text.split('id="chart-mails"')[1].split("</figure>")[0]
    assert "“Bị trả lại”" in figure and "“Gửi không được”" in figure
    english = client.get("/admin/?lang=en").text.split('id="chart-mails"')[1].split("</figure>")[0]
    assert "“Bounced”" in english and "a hard bounce" in english
