"""What `subscribers add` and `import --pending` say of an address a confirmation mail already asks
for the same choices, its link still valid: one line per address for add (when it was asked, until
when its link works, as the CLI shows moments), one count for import. Real processes, on SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import typer.main

from syndicator.cli import app
from tests.clikit import syndicator_at

pytestmark = pytest.mark.slow

ASKED = re.compile(r"an@xa\.test: asked already on (\S+ \S+); the link stays valid until (\S+ \S+)")


def test_add_and_import_again_say_who_was_asked_already(database_url: str, tmp_path: Path) -> None:
    first = syndicator_at("subscribers", "add", "an@xa.test", database_url=database_url, home=tmp_path)
    assert first.returncode == 0 and "confirmation mail queued for an@xa.test" in first.stdout
    again = syndicator_at("subscribers", "add", "an@xa.test", database_url=database_url, home=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "queued" not in again.stdout
    found = ASKED.search(" ".join(again.stdout.split()))
    assert found is not None, again.stdout
    asked, until = (datetime.fromisoformat(moment) for moment in found.groups())
    assert until - asked == timedelta(days=7) and asked.utcoffset() == timedelta(hours=7)

    # imported, an@xa.test is the import's now (its source changed): both are asked
    rows = tmp_path / "rows.csv"
    rows.write_text("an@xa.test\nbinh@xa.test\n", encoding="utf-8")
    imported = syndicator_at(
        "subscribers", "import", "--pending", str(rows), database_url=database_url, home=tmp_path
    )
    assert imported.returncode == 0, imported.stderr
    assert "2 confirmation mails queued" in " ".join(imported.stdout.split())
    # the same file plus one address: one count of those asked already, no line per address
    rows.write_text("an@xa.test\nbinh@xa.test\nchi@xa.test\n", encoding="utf-8")
    imported = syndicator_at(
        "subscribers", "import", "--pending", str(rows), database_url=database_url, home=tmp_path
    )
    assert imported.returncode == 0, imported.stderr
    said = " ".join(imported.stdout.split())
    assert "2 already asked (links still valid)" in said and "asked already on" not in said
    assert "1 confirmation mail queued" in said


def test_the_help_says_the_same_choices_are_not_asked_again() -> None:
    subscribers = typer.main.get_command(app).commands["subscribers"]  # type: ignore[attr-defined]
    for command, option in (("add", "confirmed"), ("import", "pending")):
        (param,) = [p for p in subscribers.commands[command].params if p.name == option]
        shown = " ".join(param.help.split())
        assert "does not ask an address again while a mail already asks it for the same choices" in shown
        assert "subscribe.confirm_days" in shown
