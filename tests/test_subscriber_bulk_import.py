"""The CSV import in bulk (issue 15): chunks of rows saved in a few statements each keep every rule of
`choices.add` row by row (an address given twice, confirmed ones staying confirmed, the officials'
entries kept apart, the status history), a re-import writes nothing, and the file is streamed after a
check of the whole of it."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from syndicator.addresses import key as address_key
from syndicator.files import Refused, Source, streamed_text
from syndicator.mail import choices, csvio
from syndicator.model import Frequency, Subscriber, SubscriberStatus
from syndicator.model import Source as SubscriptionSource
from syndicator.store import Store
from syndicator.store import subscribers as store_subscribers
from syndicator.store.schema import subscriber_events, subscribers
from tests.clikit import cli, one_error_line
from tests.hostile import make_fifo
from tests.mailkit import RUN_AT

NOW = RUN_AT.astimezone(UTC)
CONFIRMED, PENDING = SubscriberStatus.CONFIRMED, SubscriberStatus.PENDING


def everyone(store: Store) -> dict[str, Subscriber]:
    with store.reading() as conn:
        return {address_key(p.email): p for p in store_subscribers.listing(conn)}


def statuses(store: Store, email: str) -> list[tuple[str, str]]:
    with store.reading() as conn:
        found = store_subscribers.by_email(conn, email)
        assert found is not None
        return [(e.status.value, e.cause) for e in store_subscribers.history(conn, found.id)]


def test_chunks_keep_the_rules_of_one_row_at_a_time(
    mail_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csvio, "CHUNK", 3)  # an address given twice falls in one chunk and across two
    choices.add(mail_store, "confirmed@xa.test", NOW, confirmed=True)
    gone, _ = choices.add(mail_store, "gone@xa.test", NOW, confirmed=True)
    choices.unsubscribe(mail_store, gone.id, NOW)
    with mail_store.writing() as conn:
        store_subscribers.list_official(
            conn, "official@xa.test", name="UBND", categories=None, frequency=Frequency.DAILY, now=NOW
        )
    data = (
        "email,name,categories,frequency,language\n"
        "new@xa.test,New,thong-bao,weekly,en\n"
        "NEW@xa.test,New again,,daily,\n"  # the same chunk
        "confirmed@xa.test,Kept,all,immediate,\n"
        "bad address,,,,\n"
        "gone@xa.test,,,,\n"
        "official@xa.test,Mine,nong-nghiep,weekly,en\n"
        "later@xa.test,,,,\n"
        "new@xa.test,Third,,weekly,vi\n"  # the next chunk
        "x@xa.test,,,hourly,\n"
    )
    later = NOW + timedelta(hours=1)
    saved: list[Subscriber] = []
    created, updated, problems = csvio.import_csv(
        mail_store, data, later, confirmed=False, on_saved=saved.append
    )
    assert (created, updated) == (2, 5)
    assert [(p.line, p.reason.split(":")[0]) for p in problems] == [(5, "email"), (10, "frequency")]
    people = everyone(mail_store)
    assert [(p.email, p.name, p.status) for p in saved] == [
        ("new@xa.test", "New", PENDING),
        ("NEW@xa.test", "New again", PENDING),
        ("confirmed@xa.test", "Kept", CONFIRMED),
        ("gone@xa.test", None, PENDING),
        ("official@xa.test", "UBND", CONFIRMED),  # the office's entry, as `save` hands it back
        ("later@xa.test", None, PENDING),
        ("new@xa.test", "Third", PENDING),
    ]
    assert [p.id for p in saved] == [people[address_key(p.email)].id for p in saved]
    new = people["new@xa.test"]
    assert (new.email, new.name, new.frequency, new.language, new.categories) == (
        "new@xa.test",
        "Third",
        Frequency.WEEKLY,
        "vi",
        None,
    )
    kept = people["confirmed@xa.test"]
    assert (kept.status, kept.source, kept.frequency) == (
        CONFIRMED,
        SubscriptionSource.CLI,
        Frequency.IMMEDIATE,
    )
    assert (people["gone@xa.test"].status, people["gone@xa.test"].source) == (
        PENDING,
        SubscriptionSource.IMPORT,
    )
    official = people["official@xa.test"]
    assert (official.name, official.source, official.language) == ("UBND", SubscriptionSource.CONFIG, "en")
    with mail_store.reading() as conn:
        own = store_subscribers.own_choice(conn, official.id)
    assert own is not None and (own.categories, own.frequency) == (
        frozenset({"nong-nghiep"}),
        Frequency.WEEKLY,
    )
    # the status history: one row per change, as one row at a time writes it
    assert statuses(mail_store, "new@xa.test") == [("pending", "import")]
    assert statuses(mail_store, "confirmed@xa.test") == [("confirmed", "cli")]
    assert statuses(mail_store, "gone@xa.test") == [
        ("confirmed", "cli"),
        ("unsubscribed", "unsubscribe"),
        ("pending", "import"),
    ]
    assert statuses(mail_store, "official@xa.test") == [("confirmed", "config")]


def test_the_same_file_again_writes_nothing(mail_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvio, "CHUNK", 4)
    data = "".join(f"p{n}@xa.test,Người {n},thong-bao,weekly,{'en' if n % 2 else ''}\n" for n in range(10))
    assert csvio.import_csv(mail_store, data, NOW) == (10, 0, [])

    def rows() -> tuple[list[tuple[object, ...]], int]:
        with mail_store.reading() as conn:
            people = [tuple(row) for row in conn.execute(select(subscribers).order_by(subscribers.c.id))]
            return people, len(conn.execute(select(subscriber_events.c.id)).all())

    before = rows()
    assert before[1] == 10
    assert all(person.confirmed_at == NOW for person in everyone(mail_store).values())
    again = NOW + timedelta(days=1)
    assert csvio.import_csv(mail_store, data.splitlines(keepends=True), again) == (0, 10, [])
    assert rows() == before  # not even updated_at


def test_the_file_is_checked_whole_then_streamed(tmp_path: Path) -> None:
    path = tmp_path / "ds.csv"
    path.write_bytes(b"email\n" + "an@xa.test,Ân\n".encode() * 100_000 + b"\xffb@xa.test\n")
    with pytest.raises(Refused) as refused, streamed_text(Source(path), 10_000_000):
        pass
    assert refused.value.reason == f"not UTF-8 text (byte {path.stat().st_size - 11})"
    with pytest.raises(Refused) as refused, streamed_text(Source(path), 1000):
        pass
    assert refused.value.reason.startswith("file too large")
    path.write_bytes('email\r\nan@xa.test,"Ân\nhai dòng"\n'.encode() + "é".encode()[:1])
    with pytest.raises(Refused) as refused, streamed_text(Source(path), 1000):
        pass
    assert refused.value.reason == f"not UTF-8 text (byte {path.stat().st_size - 1})"
    path.write_bytes('email\r\nan@xa.test,"Ân\nhai dòng"\n'.encode())
    with streamed_text(Source(path), 1000) as lines:
        assert list(lines) == ["email\r\n", 'an@xa.test,"Ân\n', 'hai dòng"\n']
    fifo = Source(make_fifo(tmp_path / "fifo.csv"))
    with pytest.raises(Refused, match=r"not a regular file \(a FIFO\)"), streamed_text(fifo, 1000):
        pass


def test_a_file_not_utf8_imports_nothing(database_url: str, tmp_path: Path) -> None:
    rows = tmp_path / "ds.csv"
    rows.write_bytes(b"email\nan@xa.test\nb\xe0@xa.test\n")
    result = cli("subscribers", "import", str(rows), cwd=tmp_path, database_url=database_url)
    assert result.returncode == 1
    assert one_error_line(result) == f"error: {rows}: not UTF-8 text (byte 18)"
    listed = cli("subscribers", "list", "--json", cwd=tmp_path, database_url=database_url)
    assert listed.stdout.strip() == "[]"


def test_a_subscriber_csv_has_its_own_cap_above_an_article_export_s(
    database_url: str, tmp_path: Path
) -> None:
    """Streamed, a subscriber list may be far larger than an article export (imports.max_csv_bytes, 500
    MB by default, against max_file_bytes' 5 MB); over its own cap it is refused whole, naming it."""
    rows = tmp_path / "ds.csv"
    rows.write_text("email\n" + "".join(f"nguoi{n}@xa.test\n" for n in range(200)), encoding="utf-8")
    small_exports = {"SYNDICATOR_IMPORTS__MAX_FILE_BYTES": "1000"}  # the file is about 3.4 KB
    imported = cli(
        "subscribers", "import", str(rows), cwd=tmp_path, database_url=database_url, env=small_exports
    )
    assert imported.returncode == 0, imported.stderr
    capped = {"SYNDICATOR_IMPORTS__MAX_CSV_BYTES": "2000"}
    refused = cli("subscribers", "import", str(rows), cwd=tmp_path, database_url=database_url, env=capped)
    assert refused.returncode == 1
    assert one_error_line(refused).startswith(f"error: {rows}: file too large")
