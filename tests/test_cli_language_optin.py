"""The office's double opt-in: `subscribers add` without --confirmed and `subscribers import --pending`
queue the web's own confirmation mail (optin.Confirmations), in each address's language, one body per
language, delivered by `digest send` to a real SMTP server (aiosmtpd); the link confirms the stored
choices and keeps the office's source. Real processes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
import typer.main

from syndicator import clock
from syndicator.cli import app
from syndicator.mail.choices import add
from syndicator.mail.composer import MailComposer
from syndicator.mail.optin import Asked, ask_to_confirm, confirm
from syndicator.model import OutboxKind, Source, SubscriberStatus
from syndicator.store import Store
from tests.clikit import syndicator_at
from tests.mailkit import SECRET, links, make_settings, outbox_rows, parts
from tests.smtp_server import smtp_server

pytestmark = pytest.mark.slow

QUEUED = "(sent by the running service's deliver job, or by the next `digest send`)"


def _store(database_url: str, home: Path) -> Store:
    settings = make_settings(database_url, home)
    return Store.open(settings.database_url, settings.categories)


def test_add_and_import_pending_send_the_confirmation_in_each_language(
    database_url: str, tmp_path: Path
) -> None:
    added = syndicator_at(
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
    imported = syndicator_at(
        "subscribers", "import", "--pending", str(rows), database_url=database_url, home=tmp_path
    )
    assert imported.returncode == 0, imported.stderr
    assert "3 added, 0 updated, 0 failed" in imported.stdout
    assert f"3 confirmation mails queued {QUEUED}" in " ".join(imported.stdout.split())

    # the same file again changes nothing: their mails ask for the same choices, links still valid
    again = syndicator_at(
        "subscribers", "import", "--pending", str(rows), database_url=database_url, home=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert "0 added, 3 updated, 0 failed" in again.stdout and "queued" not in again.stdout
    # a changed choice asks again, in the same body
    rows.write_text("chi@xa.test,,all,weekly,vi\n", encoding="utf-8")
    changed = syndicator_at(
        "subscribers", "import", "--pending", str(rows), database_url=database_url, home=tmp_path
    )
    assert changed.returncode == 0, changed.stderr
    assert "confirmation mail queued for chi@xa.test" in changed.stdout
    # imported as confirmed: nobody is asked
    rows.write_text("em@xa.test\n", encoding="utf-8")
    plain = syndicator_at("subscribers", "import", str(rows), database_url=database_url, home=tmp_path)
    assert plain.returncode == 0 and "confirmation" not in plain.stdout
    store = _store(database_url, tmp_path)
    try:
        queued = outbox_rows(store)
        assert [r.kind for r in queued] == [OutboxKind.CONFIRM.value] * 5
        assert len({r.body_id for r in queued}) == 2  # rendered once per language, not per address
    finally:
        store.close()

    with smtp_server() as smtp:
        sent = syndicator_at(
            "digest",
            "send",
            "--frequency",
            "daily",
            database_url=database_url,
            home=tmp_path,
            smtp_url=smtp.url,
        )
        assert sent.returncode == 0, sent.stderr
        delivered = smtp.recorder.messages()
        received = {m.recipients[0]: m.message() for m in delivered}
    assert sorted(m.recipients[0] for m in delivered) == sorted(
        ["an@xa.test", "binh@xa.test", "chi@xa.test", "chi@xa.test", "dung@xa.test"]
    )
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


def test_the_office_is_not_held_to_the_webs_limit_per_address(
    database_url: str, tmp_path: Path, now: datetime
) -> None:
    settings = make_settings(database_url, tmp_path)
    assert settings.subscribe.per_address_per_hour == 3
    store = Store.open(settings.database_url, settings.categories)
    try:
        confirmed, _ = add(store, "binh@xa.test", now, confirmed=True)
        composer = MailComposer(settings)
        # four changes of mind within the hour: each asked (the same choices would not be: test_cli_reask)
        for second, chosen in enumerate(("xa", "huyen", "xa,huyen", None)):
            at = now + timedelta(seconds=second)
            pending, _ = add(store, "an@xa.test", at, categories=chosen, language="en")
            asked = ask_to_confirm(store, composer, [pending, confirmed], at)
            assert asked == Asked(["an@xa.test"], [], [])  # the confirmed address is not asked
        # the very same mail again (same choices, same second): queued once, and said as asked already
        again = ask_to_confirm(store, composer, [pending], at)
        assert again.queued == [] and again.already == [] and [r[0] for r in again.recent] == ["an@xa.test"]
        rows = outbox_rows(store)
        assert len(rows) == 4 and len({r.body_id for r in rows}) == 1
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
