"""The commands that change subscribers, or show their addresses (personal data under Decree
13/2023/NĐ-CP), leave an audit entry under `cli:<os user>`, which `admin audit --json` shows; a command
that fails leaves none. Real processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import getpass
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from syndicator.cliout import actor
from tests.clikit import syndicator_at

ADDRESS = "nguyen.van.a@xa.test"


def run(database_url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = syndicator_at(*args, database_url=database_url, home=home)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def audited(database_url: str, home: Path) -> list[dict[str, Any]]:
    """The audit log's subscriber entries, oldest first."""
    result = run(database_url, home, "admin", "audit", "--json", "--limit", "1000")
    assert result.returncode == 0, result.stderr
    entries: list[dict[str, Any]] = json.loads(result.stdout)
    return [e for e in reversed(entries) if e["action"].startswith("subscriber.")]


def test_the_actor_is_the_os_user() -> None:
    assert actor() == f"cli:{getpass.getuser()}"


def test_every_change_and_view_of_addresses_is_audited(tmp_path: Path, database_url: str) -> None:
    me = actor()
    assert run(database_url, tmp_path, "subscribers", "add", ADDRESS, "--confirmed").returncode == 0
    changed = run(database_url, tmp_path, "subscribers", "add", ADDRESS, "--frequency", "weekly")
    assert changed.returncode == 0, changed.stderr
    assert run(database_url, tmp_path, "subscribers", "list").returncode == 0
    assert run(database_url, tmp_path, "subscribers", "list", "--json").returncode == 0
    exported = run(database_url, tmp_path, "subscribers", "export")
    assert exported.returncode == 0 and ADDRESS in exported.stdout
    out = tmp_path / "preview.html"
    preview = ("digest", "preview", "--frequency", "daily", "--out", str(out), "--email", ADDRESS)
    assert run(database_url, tmp_path, *preview).returncode == 0
    csv_file = tmp_path / "danh-sach.csv"
    csv_file.write_text("email,name\nkhong-hop-le,Sai\nb@xa.test,Bình\n", encoding="utf-8")
    assert run(database_url, tmp_path, "subscribers", "import", str(csv_file)).returncode == 1
    assert run(database_url, tmp_path, "subscribers", "remove", ADDRESS).returncode == 0

    entries = audited(database_url, tmp_path)
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        (me, "subscriber.add", ADDRESS),
        (me, "subscriber.update", ADDRESS),
        (me, "subscriber.list", None),
        (me, "subscriber.list", None),
        (me, "subscriber.export", None),
        (me, "subscriber.view", ADDRESS),
        (me, "subscriber.import", None),
        (me, "subscriber.remove", ADDRESS),
    ]
    details = [e["detail"] for e in entries]
    assert "status: confirmed" in details[0] and "frequency: daily" in details[0]
    assert details[1] == "frequency: daily -> weekly"  # a confirmed address stays confirmed
    assert details[2] == "1 subscriber" and details[3] == "1 subscriber (json)"
    assert details[4] == "1 row"
    assert details[6] == "1 added, 0 updated, 1 failed, file danh-sach.csv"
    assert all(e["address"] is None for e in entries)  # no client address from the CLI


@pytest.mark.parametrize(
    "args",
    [
        ("subscribers", "add", "khong-phai-dia-chi"),
        ("subscribers", "remove", "ai@xa.test"),
        ("digest", "preview", "--frequency", "daily", "--out", "x.html", "--email", "ai@xa.test"),
    ],
)
def test_a_failed_command_leaves_no_entry(tmp_path: Path, database_url: str, args: tuple[str, ...]) -> None:
    result = run(database_url, tmp_path, *args)
    assert result.returncode != 0
    assert audited(database_url, tmp_path) == []
