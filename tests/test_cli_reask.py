"""The office's confirmation mails are not sent twice for the same thing: `optin.ask_to_confirm` does
not ask an address again while a confirmation mail already asks it for the same choices (categories,
frequency, language, source) with its link still valid (subscribe.confirm_days); other choices, an
expired link or a failed mail ask again. One look at earlier mails per 1,000 addresses. On SQLite and
PostgreSQL, with the clock injected."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from syndicator.mail.choices import add
from syndicator.mail.composer import MailComposer
from syndicator.mail.optin import Asked, ask_to_confirm
from syndicator.model import Frequency, Source, Subscriber, SubscriberStatus
from syndicator.store import Store
from syndicator.store.schema import outbox
from syndicator.store.subscribers import save
from tests.mailkit import make_settings, outbox_rows

WEEK = timedelta(days=7)  # subscribe.confirm_days by default


@pytest.fixture
def kit(database_url: str, tmp_path: Path) -> Iterator[tuple[Store, MailComposer]]:
    settings = make_settings(database_url, tmp_path)
    assert settings.subscribe.confirm_days == 7
    store = Store.open(settings.database_url, settings.categories)
    try:
        yield store, MailComposer(settings)
    finally:
        store.close()


def test_the_same_choices_are_not_asked_again_while_the_link_is_valid(
    kit: tuple[Store, MailComposer], now: datetime
) -> None:
    store, composer = kit
    person, _ = add(store, "an@xa.test", now, categories="xa", language="en")
    assert ask_to_confirm(store, composer, [person], now) == Asked(["an@xa.test"], [], [])
    for later in (timedelta(seconds=1), timedelta(days=3), WEEK):  # the link works to its last second
        asked = ask_to_confirm(store, composer, [person], now + later)
        assert asked == Asked([], [], [], [("an@xa.test", now, now + WEEK)])
    assert len(outbox_rows(store)) == 1
    # expired: asked again, and that new mail counts from now on
    expired = now + WEEK + timedelta(seconds=1)
    assert ask_to_confirm(store, composer, [person], expired).queued == ["an@xa.test"]
    asked = ask_to_confirm(store, composer, [person], expired + timedelta(hours=1))
    assert asked.recent == [("an@xa.test", expired, expired + WEEK)]
    assert len(outbox_rows(store)) == 2


def test_other_choices_ask_again(kit: tuple[Store, MailComposer], now: datetime) -> None:
    store, composer = kit
    person, _ = add(store, "an@xa.test", now, categories="xa")
    assert ask_to_confirm(store, composer, [person], now).queued == ["an@xa.test"]
    changes: list[dict[str, Any]] = [
        {"categories": frozenset({"xa", "huyen"})},
        {"categories": None},  # all of them
        {"frequency": Frequency.WEEKLY},
        {"language": "en"},
        {"source": Source.IMPORT},
    ]
    at = now
    for change in changes:
        at += timedelta(minutes=1)
        person = dataclasses.replace(person, **change)
        assert ask_to_confirm(store, composer, [person], at).queued == ["an@xa.test"], change
        # asked for these choices now: the same again is not asked
        assert ask_to_confirm(store, composer, [person], at + timedelta(minutes=1)).recent == [
            ("an@xa.test", at, at + WEEK)
        ]
    # back to the first choices: the latest mail asks for others, so they are asked again
    first, _ = add(store, "an@xa.test", at, categories="xa", frequency="daily", language="vi")
    assert ask_to_confirm(store, composer, [first], at + timedelta(minutes=2)).queued == ["an@xa.test"]
    assert len(outbox_rows(store)) == 1 + len(changes) + 1


def test_a_failed_mail_or_another_key_asks_again(
    database_url: str, tmp_path: Path, kit: tuple[Store, MailComposer], now: datetime
) -> None:
    store, composer = kit
    person, _ = add(store, "an@xa.test", now)
    ask_to_confirm(store, composer, [person], now)
    with store.writing() as conn:
        conn.execute(update(outbox).values(status="failed"))  # the server refused it for good
    assert ask_to_confirm(store, composer, [person], now + timedelta(hours=1)).queued == ["an@xa.test"]
    # the secret key changed: the earlier link no longer works, so they are asked again
    rekeyed = MailComposer(make_settings(database_url, tmp_path, secret_key="another-secret-key-" * 3))
    asked = ask_to_confirm(store, rekeyed, [person], now + timedelta(hours=2))
    assert asked.queued == ["an@xa.test"]
    assert len(outbox_rows(store)) == 3


def _count_outbox_reads(store: Store) -> list[str]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "outbox" in statement:
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", before)
    return seen


def test_a_large_import_asked_again_reads_its_earlier_mails_once_per_batch(
    kit: tuple[Store, MailComposer], now: datetime
) -> None:
    store, composer = kit
    count = 2500
    people: list[Subscriber] = []
    with store.writing() as conn:  # as an import saves them (csvio), in one transaction to be quick
        for n in range(count):
            person, _ = save(
                conn,
                f"p{n}@xa.test",
                name=None,
                categories=None,
                frequency=Frequency.DAILY,
                status=SubscriberStatus.PENDING,
                source=Source.IMPORT,
                now=now,
                language="en" if n % 2 else "vi",
            )
            people.append(person)
    reads = _count_outbox_reads(store)
    first = ask_to_confirm(store, composer, people, now)
    assert len(first.queued) == count and not (first.recent or first.already or first.refused)
    assert len(reads) == 3  # 2,500 addresses: three batches of at most 1,000, one look each
    reads.clear()
    again = ask_to_confirm(store, composer, people, now + timedelta(days=1))
    assert again.queued == [] and len(again.recent) == count
    assert {(queued, until) for _, queued, until in again.recent} == {(now, now + WEEK)}
    assert len(reads) == 3
    assert len(outbox_rows(store)) == count


def test_an_address_given_twice_is_asked_once_as_given_last(
    kit: tuple[Store, MailComposer], now: datetime
) -> None:
    store, composer = kit
    person, _ = add(store, "an@xa.test", now)
    weekly = dataclasses.replace(person, frequency=Frequency.WEEKLY)
    assert ask_to_confirm(store, composer, [person, weekly], now).queued == ["an@xa.test"]
    assert ask_to_confirm(store, composer, [weekly], now + timedelta(minutes=1)).recent
