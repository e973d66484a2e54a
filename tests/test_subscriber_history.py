"""Subscribers' status history (store/subscribers.py, table subscriber_events): written by every change
of status in its transaction, deleted with the subscriber, backfilled by migration 0015 for old rows,
and counted per day for the console's dashboard (status_by_day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from syndicator.dates import days_ending
from syndicator.mail import choices
from syndicator.model import Day, Frequency, Source, SubscriberStatus
from syndicator.store import Store
from syndicator.store import subscribers as store_subscribers
from syndicator.store.database import alembic_config, create_store_engine, upgrade
from syndicator.store.schema import metadata, subscriber_events, subscribers

T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
P, C, U, B = (
    SubscriberStatus.PENDING,
    SubscriberStatus.CONFIRMED,
    SubscriberStatus.UNSUBSCRIBED,
    SubscriberStatus.BOUNCED,
)


def _history(store: Store, subscriber_id: int) -> list[tuple[SubscriberStatus, str]]:
    with store.reading() as conn:
        return [(e.status, e.cause) for e in store_subscribers.history(conn, subscriber_id)]


def _events(store: Store) -> int:
    with store.reading() as conn:
        return int(conn.execute(select(func.count()).select_from(subscriber_events)).scalar_one())


def test_each_change_of_status_is_one_event_with_its_cause(store: Store) -> None:
    person, _ = choices.add(store, "an@example.vn", T0)  # pending, from the CLI
    choices.add(store, "an@example.vn", T0 + timedelta(hours=1), frequency="weekly")  # choices only
    choices.add(store, "an@example.vn", T0 + timedelta(hours=2), confirmed=True)
    with store.writing() as conn:
        assert not store_subscribers.record_hard_bounce(conn, person.id, 2, T0 + timedelta(hours=3))
        assert store_subscribers.record_hard_bounce(conn, person.id, 2, T0 + timedelta(hours=4))
    choices.add(store, "an@example.vn", T0 + timedelta(hours=5), source=Source.WEB)  # asks again
    choices.unsubscribe(store, person.id, T0 + timedelta(hours=6))
    choices.unsubscribe(store, person.id, T0 + timedelta(hours=7))  # already: nothing new
    assert _history(store, person.id) == [
        (P, "cli"),
        (C, "cli"),
        (B, store_subscribers.BOUNCE),
        (P, "web"),
        (U, store_subscribers.UNSUBSCRIBE),
    ]
    with store.reading() as conn:
        times = [e.at for e in store_subscribers.history(conn, person.id)]
    assert times == [T0 + timedelta(hours=h) for h in (0, 2, 4, 5, 6)]


def test_the_office_listing_and_unlisting_an_address_is_history_too(store: Store) -> None:
    with store.writing() as conn:
        store_subscribers.list_official(
            conn, "ba@example.vn", name=None, categories=None, frequency=Frequency.DAILY, now=T0
        )
        found = store_subscribers.by_email(conn, "ba@example.vn")
        assert found is not None
        store_subscribers.unlist_official(conn, found.id, T0 + timedelta(days=1))
    assert _history(store, found.id) == [(C, "config"), (U, store_subscribers.UNLIST)]


def test_an_own_subscription_comes_back_in_the_history_when_the_office_unlists_it(store: Store) -> None:
    person, _ = choices.add(store, "chi@example.vn", T0)  # their own: pending
    with store.writing() as conn:
        store_subscribers.list_official(
            conn, "chi@example.vn", name=None, categories=None, frequency=Frequency.DAILY, now=T0
        )
        store_subscribers.unlist_official(conn, person.id, T0 + timedelta(days=1))
    assert _history(store, person.id) == [(P, "cli"), (C, "config"), (P, store_subscribers.UNLIST)]


def test_forgetting_a_subscriber_deletes_their_history(store: Store) -> None:
    kept, _ = choices.add(store, "an@example.vn", T0, confirmed=True)
    choices.add(store, "ba@example.vn", T0)
    assert choices.remove(store, "ba@example.vn", T0, actor="cli:tuan")
    assert _events(store) == 1
    assert _history(store, kept.id) == [(C, "cli")]


def test_status_by_day_counts_each_status_at_each_days_end(store: Store) -> None:
    days = days_ending(T0 + timedelta(days=3), 4, HANOI)  # 29 Oct .. 1 Nov in Hanoi: T0 on the 4th
    first, _ = choices.add(store, "an@example.vn", days[1].start + timedelta(hours=1))
    choices.add(store, "an@example.vn", days[1].end, confirmed=True)  # at the end: the next day's
    choices.add(store, "ba@example.vn", days[2].start, confirmed=True)
    choices.unsubscribe(store, first.id, days[3].end - timedelta(microseconds=1))
    choices.add(store, "chi@example.vn", days[3].end + timedelta(hours=1))  # after the last day
    with store.reading() as conn:
        counted = store_subscribers.status_by_day(conn, days)
        backwards = store_subscribers.status_by_day(conn, days[::-1])
        assert store_subscribers.status_by_day(conn, []) == []
    zero = dict.fromkeys(SubscriberStatus, 0)
    assert counted == [
        zero,
        zero | {P: 1},
        zero | {C: 2},
        zero | {C: 1, U: 1},
    ]
    assert backwards == counted[::-1]


def test_status_by_day_on_an_empty_store_is_zeros(store: Store) -> None:
    day = Day(T0.date(), T0, T0 + timedelta(days=1))
    with store.reading() as conn:
        assert store_subscribers.status_by_day(conn, [day]) == [dict.fromkeys(SubscriberStatus, 0)]


# -- migration 0015 -------------------------------------------------------------------------------------


def _row(n: int, status: str, created: datetime, **columns: object) -> dict[str, object]:
    return {
        "id": n,
        "email": f"s{n}@example.vn",
        "email_key": f"s{n}@example.vn",
        "status": status,
        "source": "web",
        "categories": "*",
        "frequency": "daily",
        "hard_bounces": 0,
        "created_at": created,
        "updated_at": columns.pop("updated_at", created),
        "confirmed_at": None,
        "unsubscribed_at": None,
        **columns,
    }


def test_migration_0015_backfills_the_history_of_existing_subscribers_and_goes_back(
    database_url: str,
) -> None:
    day = timedelta(days=1)
    engine = create_store_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0014")
        assert "subscriber_events" not in inspect(engine).get_table_names()
        rows = [
            _row(1, "confirmed", T0, confirmed_at=T0, source="cli"),  # confirmed at once
            _row(2, "confirmed", T0, confirmed_at=T0 + day),  # confirmed a day later
            _row(3, "pending", T0),
            _row(
                4, "unsubscribed", T0, confirmed_at=T0, unsubscribed_at=T0 + 2 * day, updated_at=T0 + 3 * day
            ),
            _row(5, "bounced", T0, confirmed_at=T0 + day, updated_at=T0 + 2 * day),
            _row(6, "unsubscribed", T0, updated_at=T0 + day),  # never confirmed, no unsubscribed_at
        ]
        with engine.begin() as conn:
            conn.execute(subscribers.insert(), rows)
        upgrade(engine)
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
            assert [d for d in differences if "subscriber_events" in repr(d)] == []
            history = {
                n: [(e.at, e.status, e.cause) for e in store_subscribers.history(conn, n)]
                for n in range(1, 7)
            }
            days = [Day((T0 + k * day).date(), T0 + k * day, T0 + (k + 1) * day) for k in range(3)]
            counted = store_subscribers.status_by_day(conn, days)
        assert history == {
            1: [(T0, C, "cli")],
            2: [(T0, P, "web"), (T0 + day, C, "web")],
            3: [(T0, P, "web")],
            4: [(T0, C, "web"), (T0 + 2 * day, U, "unsubscribe")],
            5: [(T0, P, "web"), (T0 + day, C, "web"), (T0 + 2 * day, B, "bounce")],
            6: [(T0, P, "web"), (T0 + day, U, "unsubscribe")],
        }
        zero = dict.fromkeys(SubscriberStatus, 0)
        assert counted == [
            zero | {C: 2, P: 4},  # at T0 + 1 day (exclusive): 1 and 4 confirmed
            zero | {C: 4, P: 1, U: 1},
            zero | {C: 2, P: 1, U: 2, B: 1},
        ]
        command.downgrade(alembic_config(engine), "0014")
        assert "subscriber_events" not in inspect(engine).get_table_names()
        upgrade(engine)
        with engine.connect() as conn:
            assert len(store_subscribers.history(conn, 5)) == 3
    finally:
        engine.dispose()
