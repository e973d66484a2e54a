"""The office changing a choice never unconfirms a resident: `subscribers add` without --confirmed and
`subscribers import --pending` change an address's choices, but an address already confirmed stays
confirmed, with its source, and is asked nothing. A new or pending address is pending and asked, as
before; an unsubscribed or bounced one is pending again (asked) without --confirmed, confirmed with it.
The store's rules, then the commands as real processes; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from syndicator.addresses import key as address_key
from syndicator.mail import choices, csvio, optin
from syndicator.mail.composer import MailComposer
from syndicator.mail.optin import Asked, ask_to_confirm
from syndicator.model import Frequency, Source, Subscriber, SubscriberStatus
from syndicator.store import Store
from syndicator.store import subscribers as store_subscribers
from tests.clikit import syndicator_at
from tests.mailkit import SECRET, make_settings, outbox_rows

CONFIRMED, PENDING = SubscriberStatus.CONFIRMED, SubscriberStatus.PENDING


@pytest.fixture
def kit(database_url: str, tmp_path: Path) -> Iterator[tuple[Store, MailComposer]]:
    settings = make_settings(database_url, tmp_path)
    store = Store.open(settings.database_url, settings.categories)
    try:
        yield store, MailComposer(settings)
    finally:
        store.close()


def everyone(store: Store) -> dict[str, Subscriber]:
    with store.reading() as conn:
        return {address_key(p.email): p for p in store_subscribers.listing(conn)}


def test_add_without_confirmed_changes_a_confirmed_address_choices_only(
    kit: tuple[Store, MailComposer], now: datetime
) -> None:
    store, composer = kit
    first, _ = choices.add(store, "an@xa.test", now, confirmed=True, ip="203.0.113.5")
    later = now + timedelta(days=1)
    person, created = choices.add(
        store, "an@xa.test", later, categories="xa", frequency="weekly", language="en", name="An"
    )
    assert not created
    assert (person.status, person.source) == (CONFIRMED, Source.CLI)
    assert (person.categories, person.frequency, person.language, person.name) == (
        frozenset({"xa"}),
        Frequency.WEEKLY,
        "en",
        "An",
    )
    assert (person.confirmed_at, person.confirmed_ip) == (first.confirmed_at, "203.0.113.5")
    assert ask_to_confirm(store, composer, [person], later) == Asked([], [], [])
    assert outbox_rows(store) == []


def test_a_resident_confirmed_on_the_web_keeps_status_and_source(
    kit: tuple[Store, MailComposer], now: datetime
) -> None:
    store, composer = kit
    optin.request_subscription(store, composer, "web@xa.test", None, "daily", now, language="vi")
    (mail,) = outbox_rows(store)
    optin.confirm(store, SECRET, mail.token, now + timedelta(minutes=5), "198.51.100.7")
    person, _ = choices.add(store, "web@xa.test", now + timedelta(hours=1), frequency="weekly")
    assert (person.status, person.source, person.frequency) == (CONFIRMED, Source.WEB, Frequency.WEEKLY)
    assert person.confirmed_ip == "198.51.100.7"
    assert len(outbox_rows(store)) == 1  # the web's own confirmation mail, no other


def test_new_pending_unsubscribed_and_bounced_addresses_as_before(
    kit: tuple[Store, MailComposer], now: datetime
) -> None:
    store, composer = kit
    assert choices.add(store, "new@xa.test", now)[0].status is PENDING
    assert choices.add(store, "new@xa.test", now, frequency="weekly")[0].status is PENDING
    gone, _ = choices.add(store, "gone@xa.test", now, confirmed=True)
    choices.unsubscribe(store, gone.id, now)
    bounced, _ = choices.add(store, "bounced@xa.test", now, confirmed=True)
    with store.writing() as conn:
        store_subscribers.set_status(conn, bounced.id, SubscriberStatus.BOUNCED, now)
    later = now + timedelta(hours=1)
    # without --confirmed: asked again, as an address of their own that the office brings back
    back, _ = choices.add(store, "gone@xa.test", later)
    assert (back.status, back.unsubscribed_at) == (PENDING, now)
    assert choices.add(store, "bounced@xa.test", later)[0].status is PENDING
    assert ask_to_confirm(store, composer, [back], later).queued == ["gone@xa.test"]
    # with --confirmed: the office vouches for them, as before
    again = now + timedelta(hours=2)
    for email in ("gone@xa.test", "bounced@xa.test"):
        person, _ = choices.add(store, email, again, confirmed=True)
        assert (person.status, person.unsubscribed_at, person.hard_bounces) == (CONFIRMED, None, 0)


def test_import_pending_over_confirmed_rows(kit: tuple[Store, MailComposer], now: datetime) -> None:
    store, composer = kit
    choices.add(store, "an@xa.test", now, confirmed=True)  # the office's, confirmed
    optin.request_subscription(store, composer, "web@xa.test", None, "daily", now, language="vi")
    optin.confirm(store, SECRET, outbox_rows(store)[0].token, now, None)
    choices.add(store, "cho@xa.test", now)  # pending, of the CLI
    data = (
        "email,name,categories,frequency,language\n"
        "an@xa.test,An,xa,weekly,en\n"
        "web@xa.test,,all,immediate,\n"
        "cho@xa.test,,all,weekly,\n"
        "moi@xa.test,,all,daily,\n"
    )
    later = now + timedelta(hours=1)
    saved: list[Subscriber] = []
    assert csvio.import_csv(store, data, later, confirmed=False, on_saved=saved.append) == (1, 3, [])
    people = everyone(store)
    assert sorted((p.email, p.status, p.source) for p in people.values()) == [
        ("an@xa.test", CONFIRMED, Source.CLI),
        ("cho@xa.test", PENDING, Source.IMPORT),
        ("moi@xa.test", PENDING, Source.IMPORT),
        ("web@xa.test", CONFIRMED, Source.WEB),
    ]
    an = people["an@xa.test"]
    assert (an.name, an.categories, an.frequency, an.language) == (
        "An",
        frozenset({"xa"}),
        Frequency.WEEKLY,
        "en",
    )
    assert people["web@xa.test"].frequency is Frequency.IMMEDIATE
    before = len(outbox_rows(store))
    asked = ask_to_confirm(store, composer, saved, later)  # as `import --pending` asks what it saved
    assert sorted(asked.queued) == ["cho@xa.test", "moi@xa.test"]
    assert len(outbox_rows(store)) == before + 2

    # the same file again: nothing changes, nobody is mailed
    again = later + timedelta(hours=1)
    saved.clear()
    assert csvio.import_csv(store, data, again, confirmed=False, on_saved=saved.append) == (0, 4, [])
    assert everyone(store) == people
    asked = ask_to_confirm(store, composer, saved, again)
    assert (asked.queued, sorted(e for e, _, _ in asked.recent)) == ([], ["cho@xa.test", "moi@xa.test"])
    assert len(outbox_rows(store)) == before + 2


def test_a_listed_residents_own_confirmed_choice_stays_confirmed(
    kit: tuple[Store, MailComposer], now: datetime
) -> None:
    store, _ = kit
    resident, _ = choices.add(store, "bchqs@xa.test", now, confirmed=True, frequency="weekly")
    with store.writing() as conn:
        store_subscribers.list_official(
            conn, "bchqs@xa.test", name=None, categories=None, frequency=Frequency.DAILY, now=now
        )
    later = now + timedelta(hours=1)
    choices.add(store, "bchqs@xa.test", later, frequency="immediate")  # kept apart, as the resident's
    with store.writing() as conn:
        store_subscribers.unlist_official(conn, resident.id, later)
    person = everyone(store)["bchqs@xa.test"]
    assert (person.status, person.source, person.frequency) == (CONFIRMED, Source.CLI, Frequency.IMMEDIATE)


# --- the commands ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_commands_keep_a_confirmed_address_confirmed(database_url: str, tmp_path: Path) -> None:
    def run(*args: str) -> str:
        result = syndicator_at("subscribers", *args, database_url=database_url, home=tmp_path)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        return " ".join(result.stdout.split())

    assert run("add", "e@xa.test", "--confirmed") == "added e@xa.test (confirmed, daily, vi)"
    assert run("add", "e@xa.test", "--frequency", "weekly") == "updated e@xa.test (confirmed, weekly, vi)"
    rows = tmp_path / "rows.csv"
    rows.write_text("email,frequency\ne@xa.test,immediate\nf@xa.test,daily\n", encoding="utf-8")
    out = run("import", "--pending", str(rows))
    assert out.startswith("1 added, 1 updated, 0 failed confirmation mail queued for f@xa.test")
    again = run("import", "--pending", str(rows))
    assert again == "0 added, 2 updated, 0 failed 1 already asked (links still valid)"
    settings = make_settings(database_url, tmp_path)
    store = Store.open(settings.database_url, settings.categories)
    try:
        people = everyone(store)
        e, f = people["e@xa.test"], people["f@xa.test"]
        assert (e.status, e.source, e.frequency) == (CONFIRMED, Source.CLI, Frequency.IMMEDIATE)
        assert (f.status, f.source) == (PENDING, Source.IMPORT)
        assert [row.subscriber_id for row in outbox_rows(store)] == [f.id]  # e was never asked
    finally:
        store.close()
