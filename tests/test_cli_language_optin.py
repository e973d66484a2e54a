"""The office's double opt-in: `subscribers add` without --confirmed and `subscribers import --pending`
queue the web's own confirmation mail (optin.Confirmations), in each address's language, one body per
language, delivered by `digest send` to a real SMTP server (aiosmtpd); the link confirms the stored
choices and keeps the office's source. Real processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
import typer.main

from syndicator import clock
from syndicator.cli import app
from syndicator.mail.optin import confirm
from syndicator.model import OutboxKind, Source, SubscriberStatus
from syndicator.store import Store
from syndicator.store.subscribers import by_email
from tests.mailkit import BASE_URL, SECRET, links, make_settings, outbox_rows, parts
from tests.smtp_server import smtp_server

pytestmark = pytest.mark.slow

QUEUED = "(sent by the running service's deliver job, or by the next `digest send`)"


def syndicator(
    *args: str, database_url: str, home: Path, smtp_url: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATOR_")}
    env.update(
        PYTHONIOENCODING="utf-8",
        SYNDICATOR_DATABASE_URL=database_url,
        SYNDICATOR_BASE_URL=BASE_URL,
        SYNDICATOR_VAR_DIR=str(home / "var"),
        SYNDICATOR_ARTICLES_DIR=str(home / "drop"),
        SYNDICATOR_SECRET_KEY=SECRET,
    )
    if smtp_url:
        env["SYNDICATOR_SMTP_URL"] = smtp_url
    return subprocess.run(
        [sys.executable, "-m", "syndicator", *args],
        cwd=home,
        env=env,
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def _store(database_url: str, home: Path) -> Store:
    settings = make_settings(database_url, home)
    return Store.open(settings.database_url, settings.categories)


def test_add_and_import_pending_send_the_confirmation_in_each_language(
    database_url: str, tmp_path: Path
) -> None:
    added = syndicator(
        "subscribers", "add", "an@xa.test", "--language", "en", database_url=database_url, home=tmp_path
    )
    assert added.returncode == 0, added.stderr
    assert "added an@xa.test (pending, daily, en)" in added.stdout
    assert f"confirmation mail queued for an@xa.test {QUEUED}" in " ".join(added.stdout.split())

    rows = tmp_path / "rows.csv"
    rows.write_text(
        "email,name,categories,frequency,language\n"
        "binh@xa.test,Bình,all,weekly,vi\n"
        "chi@xa.test,,all,daily,vi\n"
        "dung@xa.test,,all,daily,en\n",
        encoding="utf-8",
    )
    imported = syndicator(
        "subscribers", "import", "--pending", str(rows), database_url=database_url, home=tmp_path
    )
    assert imported.returncode == 0, imported.stderr
    assert "3 added, 0 updated, 0 failed" in imported.stdout
    assert f"3 confirmation mails queued {QUEUED}" in " ".join(imported.stdout.split())

    # the same file again: nothing changed, so no second mail; a confirmed import asks nobody
    again = syndicator(
        "subscribers", "import", "--pending", str(rows), database_url=database_url, home=tmp_path
    )
    assert again.returncode == 0 and "confirmation" not in again.stdout
    store = _store(database_url, tmp_path)
    try:
        queued = outbox_rows(store)
        assert [r.kind for r in queued] == [OutboxKind.CONFIRM.value] * 4
        assert len({r.body_id for r in queued}) == 2  # rendered once per language, not per address
    finally:
        store.close()

    with smtp_server() as smtp:
        sent = syndicator(
            "digest",
            "send",
            "--frequency",
            "daily",
            database_url=database_url,
            home=tmp_path,
            smtp_url=smtp.url,
        )
        assert sent.returncode == 0, sent.stderr
        received = {m.recipients[0]: m.message() for m in smtp.recorder.messages()}
    assert sorted(received) == ["an@xa.test", "binh@xa.test", "chi@xa.test", "dung@xa.test"]
    assert received["an@xa.test"]["Subject"].startswith("Confirm")
    assert received["dung@xa.test"]["Subject"] == received["an@xa.test"]["Subject"]
    assert received["binh@xa.test"]["Subject"].startswith("Xác nhận")

    (token,) = links(parts(received["binh@xa.test"]).text)["confirm"]
    store = _store(database_url, tmp_path)
    try:
        person = confirm(store, SECRET, unquote(token), clock.utcnow(), None)
        assert person.status is SubscriberStatus.CONFIRMED
        assert person.source is Source.IMPORT  # the office's address stays the office's once confirmed
        assert person.frequency.value == "weekly" and person.language == "vi"
    finally:
        store.close()


def test_the_office_is_not_held_to_the_webs_limit_per_address(database_url: str, tmp_path: Path) -> None:
    for _ in range(4):  # subscribe.per_address_per_hour is 3 on the web
        added = syndicator("subscribers", "add", "an@xa.test", database_url=database_url, home=tmp_path)
        assert added.returncode == 0, added.stderr
        assert "confirmation mail queued for an@xa.test" in added.stdout
    confirmed = syndicator(
        "subscribers", "add", "binh@xa.test", "--confirmed", database_url=database_url, home=tmp_path
    )
    assert confirmed.returncode == 0 and "confirmation" not in confirmed.stdout
    store = _store(database_url, tmp_path)
    try:
        assert len(outbox_rows(store)) == 4
        with store.reading() as conn:
            person = by_email(conn, "binh@xa.test")
        assert person is not None and person.status is SubscriberStatus.CONFIRMED
    finally:
        store.close()


def test_the_help_says_what_happens_and_the_limit() -> None:
    root = typer.main.get_command(app)
    subscribers = root.commands["subscribers"]  # type: ignore[attr-defined]
    for command, option in (("add", "confirmed"), ("import", "pending")):
        (param,) = [p for p in subscribers.commands[command].params if p.name == option]
        shown = " ".join(param.help.split())
        assert ("confirmation mail" in shown and "in its language" in shown) or "in their language" in shown
        assert "`digest send`" in shown
        assert "does not apply to the office" in shown
