"""Subscribers: one row per address (case-insensitive), choices, CSV import/export, the officials file,
and the `subscribers` commands as real processes (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from datetime import UTC, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from syndicator.addresses import key as address_key
from syndicator.config import Settings
from syndicator.jobs import Jobs
from syndicator.mail import choices, csvio, officials, optin
from syndicator.mail.choices import InvalidSubscription
from syndicator.mail.officials import OfficialsWatcher, read_officials
from syndicator.model import Frequency, Source, Subscriber, SubscriberStatus
from syndicator.service import assemble
from syndicator.store import Store
from syndicator.store import subscribers as store_subscribers
from syndicator.store.schema import subscribers
from tests.clikit import environment, syndicator
from tests.factories import publish, subscribe
from tests.mailkit import IN_WINDOW, RUN_AT, THONG_BAO, outbox_rows, queue_daily
from tests.processes import Processes, shows_logs
from tests.processes import environment as process_environment

NOW = RUN_AT.astimezone(UTC)
LEADS = "this instance now runs the scheduled jobs"


def everyone(store: Store) -> dict[str, Subscriber]:
    """Every subscriber, by the case-folded key that makes an address one row."""
    with store.reading() as conn:
        return {address_key(p.email): p for p in store_subscribers.listing(conn)}


# --- the store's rules ----------------------------------------------------------------------------------


def test_one_row_per_address_whatever_its_case(mail_store: Store) -> None:
    person, created = choices.add(mail_store, " An.Nguyen@ThoXuan.VN ", NOW)
    assert created
    assert (person.email, person.name, person.status, person.source) == (
        "An.Nguyen@thoxuan.vn",
        None,
        SubscriberStatus.PENDING,
        Source.CLI,
    )
    assert (person.categories, person.frequency) == (None, Frequency.DAILY)
    assert person.created_at == NOW and person.confirmed_at is None
    later = NOW + timedelta(hours=1)
    again, created = choices.add(
        mail_store,
        "an.nguyen@thoxuan.vn",
        later,
        name="Nguyễn Văn An",
        categories="Thông báo, tin-tuc-su-kien",
        frequency="Weekly",
        confirmed=True,
    )
    assert not created and again.id == person.id
    assert (again.name, again.categories, again.frequency) == (
        "Nguyễn Văn An",
        frozenset({"thong-bao", "tin-tuc-su-kien"}),
        Frequency.WEEKLY,
    )
    assert (again.status, again.created_at, again.confirmed_at) == (SubscriberStatus.CONFIRMED, NOW, later)
    assert list(everyone(mail_store)) == ["an.nguyen@thoxuan.vn"]
    with mail_store.reading() as conn:
        row = conn.execute(select(subscribers)).one()
    assert row.updated_at == later


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("email", {"email": "không-phải-email"}),
        ("email", {"email": "a@b"}),
        ("frequency", {"frequency": "hourly"}),
        ("categories", {"categories": "---"}),
    ],
)
def test_bad_choices_name_the_field(mail_store: Store, field: str, kwargs: dict[str, str]) -> None:
    values = {"email": "a@xa.test", **kwargs}
    email = values.pop("email")
    with pytest.raises(InvalidSubscription, match=f"^{field}"):
        choices.add(mail_store, email, NOW, **values)  # type: ignore[arg-type]
    assert everyone(mail_store) == {}


def test_a_category_none_knows_is_refused_once_some_are_known(mail_store: Store) -> None:
    """As the officials file refuses one: `add` and the CSV import take only categories there are
    (stored, or named in the settings); a fresh database knows none and takes any."""
    assert choices.known_categories(mail_store) == frozenset()
    fresh, _ = choices.add(mail_store, "an@xa.test", NOW, categories="nope", known=frozenset())
    assert fresh.categories == frozenset({"nope"})

    publish(mail_store, "tb-1", THONG_BAO, IN_WINDOW)
    known = choices.known_categories(mail_store, {"nong-nghiep": "Nông nghiệp"})
    assert known == frozenset({"thong-bao", "nong-nghiep"})
    with pytest.raises(choices.UnknownCategory) as refused:
        choices.add(mail_store, "binh@xa.test", NOW, categories="Thông báo, nope, Nope!", known=known)
    assert str(refused.value) == (
        "categories: 'nope', 'Nope!': no such category (there are: nong-nghiep, thong-bao)"
    )
    person, _ = choices.add(mail_store, "binh@xa.test", NOW, categories="Thông báo,nong-nghiep", known=known)
    assert person.categories == frozenset({"thong-bao", "nong-nghiep"})
    assert choices.add(mail_store, "chi@xa.test", NOW, categories="all", known=known)[0].categories is None

    data = "dung@xa.test,,nope\nem@xa.test,,thong-bao\n"
    created, updated, problems = csvio.import_csv(mail_store, data, NOW, known=known)
    assert (created, updated) == (1, 0)
    assert problems == [
        csvio.RowProblem(1, "categories: 'nope': no such category (there are: nong-nghiep, thong-bao)")
    ]
    assert "dung@xa.test" not in everyone(mail_store)


def test_statuses_and_what_they_stop(mail_store: Store, mail_settings: Settings) -> None:
    publish(mail_store, "tb-1", THONG_BAO, IN_WINDOW)
    leaving = subscribe(mail_store, "leaving@xa.test")
    bouncing = subscribe(mail_store, "bouncing@xa.test")
    subscribe(mail_store, "staying@xa.test")
    queue_daily(mail_store, mail_settings)
    with mail_store.writing() as conn:
        store_subscribers.set_status(conn, bouncing.id, SubscriberStatus.BOUNCED, NOW)
    assert choices.unsubscribe(mail_store, leaving.id, NOW)
    assert choices.unsubscribe(mail_store, leaving.id, NOW)  # twice is harmless
    assert not choices.unsubscribe(mail_store, 9999, NOW)
    rows = {r.subscriber_id: r.status for r in outbox_rows(mail_store)}
    assert sorted(rows.values()) == ["cancelled", "cancelled", "pending"]
    people = everyone(mail_store)
    assert people["leaving@xa.test"].status == "unsubscribed"
    assert people["leaving@xa.test"].unsubscribed_at == NOW
    assert people["bouncing@xa.test"].status == "bounced"
    # forgetting an address removes its mails too
    assert choices.remove(mail_store, "STAYING@xa.test")
    assert not choices.remove(mail_store, "staying@xa.test")
    assert len(outbox_rows(mail_store)) == 2


# --- CSV ------------------------------------------------------------------------------------------------


CSV = (
    "\ufeffemail,name,categories,frequency\n"
    "an@xa.test,Nguyễn Văn An,all,daily\n"
    'binh@xa.test,,"Thông báo,Nông nghiệp",weekly\n'
    "không-phải-email,X,,\n"
    "chi@xa.test,Chi,,hourly\n"
    "\n"
    "AN@xa.test,An (sửa),thong-bao,\n"
    "dung@xa.test\n"
)


def test_csv_import_reports_bad_rows_and_keeps_the_rest(mail_store: Store) -> None:
    created, updated, problems = csvio.import_csv(mail_store, CSV, NOW)
    assert (created, updated) == (3, 1)
    assert [(p.line, p.reason.split(":")[0]) for p in problems] == [(4, "email"), (5, "frequency")]
    people = everyone(mail_store)
    assert sorted(people) == ["an@xa.test", "binh@xa.test", "dung@xa.test"]
    an = people["an@xa.test"]
    assert (an.name, an.categories, an.status, an.source) == (
        "An (sửa)",
        frozenset({"thong-bao"}),
        "confirmed",
        "import",
    )
    assert people["binh@xa.test"].categories == frozenset({"nong-nghiep", "thong-bao"})
    assert people["binh@xa.test"].frequency == "weekly"
    assert people["dung@xa.test"].categories is None

    exported = "".join(csvio.export_csv(mail_store)).splitlines()
    assert exported[0] == "email,name,categories,frequency,language,status,source"
    assert exported[1] == "AN@xa.test,An (sửa),thong-bao,daily,vi,confirmed,import"  # the latest spelling
    assert exported[2] == 'binh@xa.test,,"nong-nghiep,thong-bao",weekly,vi,confirmed,import'


def test_csv_export_never_hands_a_spreadsheet_a_formula(mail_store: Store) -> None:
    values = {
        "=cmd|'/Ccalc'!A0@example.org": "@SUM(1+1)",
        "+84@xa.test": "=1+1",
        "-x@xa.test": "-1",
        "'=quoted@xa.test": "'-already quoted",
        "an@xa.test": "Nguyễn Văn An - 'Thọ Xuân'",
    }
    for email, name in values.items():
        choices.add(mail_store, email, NOW, name=name, confirmed=True)
    exported = "".join(csvio.export_csv(mail_store))
    rows = list(csv.reader(io.StringIO(exported)))[1:]
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert {row[0]: row[1] for row in rows} == {
        "'=cmd|'/Ccalc'!A0@example.org": "'@SUM(1+1)",
        "'+84@xa.test": "'=1+1",
        "'-x@xa.test": "'-1",
        "''=quoted@xa.test": "''-already quoted",
        "an@xa.test": "Nguyễn Văn An - 'Thọ Xuân'",
    }
    # names lose control characters when stored; a tab or CR first is guarded all the same
    assert [csvio.guarded(v) for v in ("\t=1", "\r=1", "a-b")] == ["'\t=1", "'\r=1", "a-b"]
    # what export wrote, import reads back as it was
    for email in values:
        assert choices.remove(mail_store, email)
    assert csvio.import_csv(mail_store, exported, NOW) == (5, 0, [])
    assert {p.email: p.name for p in everyone(mail_store).values()} == values
    again = list(csv.reader(io.StringIO("".join(csvio.export_csv(mail_store)))))[1:]
    assert [row[:5] for row in again] == [row[:5] for row in rows]  # the source is now "import"


def test_csv_import_pending(mail_store: Store) -> None:
    csvio.import_csv(mail_store, "an@xa.test\n", NOW, confirmed=False)
    assert everyone(mail_store)["an@xa.test"].status == "pending"


def test_csv_import_hands_over_each_subscriber_it_saved(mail_store: Store) -> None:
    """`on_saved` gets the subscriber of each good row, as saved (`subscribers import --pending` asks
    them to confirm); a problem row gives none."""
    subscribe(mail_store, "an@xa.test", confirmed=False)
    saved: list[Subscriber] = []
    data = "an@xa.test,An,,weekly\nbad address,,\nbinh@xa.test,,,daily,en\n"
    result = csvio.import_csv(mail_store, data, NOW, confirmed=False, on_saved=saved.append)
    assert result[:2] == (1, 1) and [p.line for p in result[2]] == [2]
    assert [(p.email, p.name, p.frequency.value, p.language) for p in saved] == [
        ("an@xa.test", "An", "weekly", "vi"),
        ("binh@xa.test", None, "daily", "en"),
    ]
    assert {p.status for p in saved} == {SubscriberStatus.PENDING}
    assert [p.id for p in saved] == [everyone(mail_store)[p.email].id for p in saved]


# --- the officials file ----------------------------------------------------------------------------------


OFFICIALS = """
[[official]]
name = "Văn phòng HĐND và UBND huyện"
email = "VanPhong@ThoXuan.ThanhHoa.gov.vn"
categories = "all"

[[official]]
name = "Ban Chỉ huy Quân sự huyện"
email = "bchqs@thoxuan.thanhhoa.gov.vn"
categories = ["Quốc phòng - An ninh", "thong-bao"]
frequency = "weekly"
"""


def test_the_shipped_officials_file_parses(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[1] / "config" / "officials.toml"
    assert read_officials(shipped) == []  # examples only, commented out
    example = re.sub(r"(?m)^# (\[\[official\]\]|\w+ = )", r"\1", shipped.read_text(encoding="utf-8"))
    (tmp_path / "o.toml").write_text(example, encoding="utf-8")
    assert [(o.email, o.language) for o in read_officials(tmp_path / "o.toml")] == [
        ("vanphong@thoxuan.thanhhoa.gov.vn", None),
        ("bchqs@thoxuan.thanhhoa.gov.vn", None),
        ("bqlkcn@thoxuan.thanhhoa.gov.vn", "en"),  # the language key, shown once
    ]


def test_officials_are_synced_at_start_and_on_change(
    mail_store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "officials.toml"
    path.write_text(OFFICIALS, encoding="utf-8")
    subscribe(mail_store, "bchqs@thoxuan.thanhhoa.gov.vn", confirmed=False)  # had signed up, not confirmed
    watcher = OfficialsWatcher(mail_store, path)
    assert watcher.validate()
    assert everyone(mail_store)["bchqs@thoxuan.thanhhoa.gov.vn"].status == "pending"
    watcher.check(NOW)
    people = everyone(mail_store)
    vp = people["vanphong@thoxuan.thanhhoa.gov.vn"]
    qs = people["bchqs@thoxuan.thanhhoa.gov.vn"]
    assert (vp.status, vp.source, vp.categories, vp.frequency) == ("confirmed", "config", None, "daily")
    assert vp.email == "VanPhong@thoxuan.thanhhoa.gov.vn"
    assert (qs.status, qs.source, qs.frequency) == ("confirmed", "config", "weekly")
    assert qs.categories == frozenset({"quoc-phong-an-ninh", "thong-bao"})
    assert outbox_rows(mail_store) == []  # no confirmation mail for officials

    # an unchanged file is not read again; an edited one is applied; leaving the file ends what the
    # office's entry brought: an address of its own gets its own (unconfirmed) request back
    watcher.check(NOW + timedelta(seconds=5))
    path.write_text(
        OFFICIALS.split("[[official]]", 2)[0]
        + "[[official]]"
        + OFFICIALS.split("[[official]]")[1].replace('"all"', '["Thông báo"]'),
        encoding="utf-8",
    )
    later = NOW + timedelta(minutes=1)
    watcher.check(later)
    people = everyone(mail_store)
    assert people["vanphong@thoxuan.thanhhoa.gov.vn"].categories == frozenset({"thong-bao"})
    back = people["bchqs@thoxuan.thanhhoa.gov.vn"]
    assert (back.status, back.source, back.frequency, back.categories) == ("pending", "cli", "daily", None)

    # a broken file at runtime: reported once, not applied; fixed, applied again
    caplog.set_level(logging.ERROR, logger="syndicator.mail.officials")
    path.write_text(OFFICIALS + "\n[[official]]\nemail = 'not an address'\n", encoding="utf-8")
    for second in range(3):
        watcher.check(later + timedelta(seconds=second))
    reports = [r for r in caplog.records if "officials file not applied" in r.getMessage()]
    assert len(reports) == 1 and "official #3" in reports[0].getMessage()
    assert everyone(mail_store)["bchqs@thoxuan.thanhhoa.gov.vn"].status == "pending"
    path.write_text(OFFICIALS, encoding="utf-8")
    watcher.check(later + timedelta(minutes=1))
    assert everyone(mail_store)["bchqs@thoxuan.thanhhoa.gov.vn"].status == "confirmed"
    # the file removed (or a wrong path): not an empty list, the officials stay, one line
    path.unlink()
    for second in range(3):
        watcher.check(later + timedelta(minutes=2, seconds=second))
    messages = [r.getMessage() for r in caplog.records if "officials file not applied" in r.getMessage()]
    assert len(messages) == 2 and f"{path}: no such file (2 listed; " in messages[1]
    assert everyone(mail_store)["bchqs@thoxuan.thanhhoa.gov.vn"].status == "confirmed"
    # a file that lists no official, saying so: every official's subscription ends
    path.write_text("# không còn cán bộ nào nhận bản tin\n", encoding="utf-8")
    gone = later + timedelta(minutes=3)
    watcher.check(gone)
    people = everyone(mail_store)
    vp = people["vanphong@thoxuan.thanhhoa.gov.vn"]
    assert (vp.status, vp.unsubscribed_at) == ("unsubscribed", gone)
    assert people["bchqs@thoxuan.thanhhoa.gov.vn"].status == "pending"


def test_a_resident_listed_then_unlisted_keeps_their_own_subscription(
    mail_store: Store, mail_settings: Settings, tmp_path: Path
) -> None:
    """Weekly by their own choice; listed by the office (daily, Thông báo): the office's digest while
    listed, and what they chose, as they chose it, once unlisted."""
    resident = subscribe(mail_store, "bchqs@thoxuan.thanhhoa.gov.vn", frequency="weekly", name="Anh Quân")
    subscribe(mail_store, "vanphong@thoxuan.thanhhoa.gov.vn", categories="nong-nghiep", frequency="weekly")
    path = tmp_path / "officials.toml"
    path.write_text(OFFICIALS.replace('"weekly"', '"daily"'), encoding="utf-8")
    watcher = OfficialsWatcher(mail_store, path)
    watcher.check(NOW)
    publish(mail_store, "tb-1", THONG_BAO, IN_WINDOW)
    queue_daily(mail_store, mail_settings)
    assert {r.subscriber_id for r in outbox_rows(mail_store)} == {resident.id, resident.id + 1}

    # while listed, what the person chooses themselves is kept for later, not put over the office's
    optin.update_preferences(mail_store, resident, "Thông báo, Nông nghiệp", "weekly", NOW)
    listed = everyone(mail_store)["bchqs@thoxuan.thanhhoa.gov.vn"]
    assert (listed.source, listed.frequency) == ("config", "daily")
    choices.add(mail_store, "vanphong@thoxuan.thanhhoa.gov.vn", NOW, frequency="immediate", confirmed=True)
    assert everyone(mail_store)["vanphong@thoxuan.thanhhoa.gov.vn"].frequency == "daily"

    path.write_text("# nobody for now\n", encoding="utf-8")  # the office lists nobody now
    later = NOW + timedelta(days=1)
    watcher.check(later)
    with mail_store.reading() as conn:
        back = store_subscribers.by_id(conn, resident.id)
        other = store_subscribers.by_email(conn, "vanphong@thoxuan.thanhhoa.gov.vn")
    assert back is not None and other is not None
    assert (back.status, back.source, back.frequency, back.name) == (
        SubscriberStatus.CONFIRMED,
        Source.CLI,
        Frequency.WEEKLY,
        "Anh Quân",
    )
    assert back.categories == frozenset({"thong-bao", "nong-nghiep"})  # changed while listed
    assert (back.confirmed_at, back.unsubscribed_at) == (resident.confirmed_at, None)
    assert (other.status, other.frequency, other.categories) == (
        SubscriberStatus.CONFIRMED,
        Frequency.IMMEDIATE,
        None,  # `subscribers add` without --categories: all of them
    )
    assert {r.status for r in outbox_rows(mail_store)} == {"pending"}  # their digest of the day still goes

    # listed again then unsubscribing from the office's mail: their own subscription ends too
    path.write_text(OFFICIALS, encoding="utf-8")
    watcher.check(later + timedelta(minutes=1))
    assert choices.unsubscribe(mail_store, resident.id, later + timedelta(minutes=2))
    path.write_text("", encoding="utf-8")
    watcher.check(later + timedelta(minutes=3))
    assert everyone(mail_store)["bchqs@thoxuan.thanhhoa.gov.vn"].status == "unsubscribed"
    # an address forgotten altogether takes the office's entry with it
    path.write_text(OFFICIALS, encoding="utf-8")
    watcher.check(later + timedelta(minutes=4))
    assert choices.remove(mail_store, "vanphong@thoxuan.thanhhoa.gov.vn")


def test_an_official_who_unsubscribes_stays_unsubscribed_while_listed(
    mail_store: Store, tmp_path: Path
) -> None:
    """The link in every mail must hold: applying the file again (a restart, a new term, an edit of
    another entry) never brings back mail a listed person refused, nor re-confirms a bounced address.
    The office takes the entry out and puts it back to send to them again."""
    path = tmp_path / "officials.toml"
    path.write_text(OFFICIALS, encoding="utf-8")
    watcher = OfficialsWatcher(mail_store, path)
    watcher.check(NOW)
    with mail_store.reading() as conn:
        leaving = store_subscribers.by_email(conn, "bchqs@thoxuan.thanhhoa.gov.vn")
        bouncing = store_subscribers.by_email(conn, "vanphong@thoxuan.thanhhoa.gov.vn")
    assert leaving is not None and bouncing is not None
    assert choices.unsubscribe(mail_store, leaving.id, NOW + timedelta(minutes=1))
    with mail_store.writing() as conn:
        store_subscribers.set_status(conn, bouncing.id, SubscriberStatus.BOUNCED, NOW)

    watcher.reapply(NOW + timedelta(minutes=2))  # a restart or a new leadership term
    path.write_text(OFFICIALS.replace('frequency = "weekly"', 'frequency = "daily"'), encoding="utf-8")
    watcher.check(NOW + timedelta(minutes=3))  # the office edits the entry
    people = everyone(mail_store)
    assert people["bchqs@thoxuan.thanhhoa.gov.vn"].status == "unsubscribed"
    assert people["bchqs@thoxuan.thanhhoa.gov.vn"].frequency == "daily"
    assert people["vanphong@thoxuan.thanhhoa.gov.vn"].status == "bounced"

    path.write_text("# none\n", encoding="utf-8")  # out of the list, then back in: the office's decision
    watcher.check(NOW + timedelta(minutes=4))
    path.write_text(OFFICIALS, encoding="utf-8")
    watcher.check(NOW + timedelta(minutes=5))
    assert {p.status for p in everyone(mail_store).values()} == {"confirmed"}


def test_a_new_term_applies_the_file_again_and_a_broken_one_keeps_the_officials(
    mail_store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "officials.toml"
    path.write_text(OFFICIALS, encoding="utf-8")
    watcher = OfficialsWatcher(mail_store, path)
    watcher.check(NOW)
    # meanwhile another instance (or an older version serving the web) ended them
    officials.sync_officials(mail_store, [], NOW + timedelta(minutes=1))
    watcher.check(NOW + timedelta(minutes=2))  # the file did not change: nothing to do
    assert {p.status for p in everyone(mail_store).values()} == {"unsubscribed"}
    watcher.reapply(NOW + timedelta(minutes=3))  # this instance leads again
    assert {p.status for p in everyone(mail_store).values()} == {"confirmed"}

    # a typo that would empty the list, then a broken file: the officials stay, one line each
    caplog.set_level(logging.ERROR, logger="syndicator.mail.officials")
    path.write_text(OFFICIALS.replace("[[official]]", "[[officials]]"), encoding="utf-8")
    assert not watcher.validate()
    watcher.check(NOW + timedelta(minutes=4))
    watcher.reapply(NOW + timedelta(minutes=5))
    path.write_text('[[official]]\nemail = "a@xa.test\n', encoding="utf-8")
    watcher.reapply(NOW + timedelta(minutes=6))
    watcher.check(NOW + timedelta(minutes=7))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "unknown key(s) or table(s) officials" in lines[0] and "officials.toml" in lines[1]
    assert {p.status for p in everyone(mail_store).values()} == {"confirmed"}


def _officials_path(tmp_path: Path, kind: str) -> Path:
    """What may be at the configured path instead of a file to read (kind names it)."""
    import os

    path = tmp_path / "officials.toml"
    if kind == "zero bytes":
        path.write_bytes(b"")  # a write cut short
    elif kind == "blank":
        path.write_text("\n  \n\t\n", encoding="utf-8")
    elif kind == "folder":
        path.mkdir()
    elif kind == "FIFO":
        os.mkfifo(path)  # never opened: it would block the job for good
    elif kind == "device":
        path.symlink_to("/dev/zero")  # a link is followed (the operator may make one), /dev/zero is not read
    elif kind == "dangling link":
        path.symlink_to(tmp_path / "gone.toml")
    elif kind == "too large":
        path.write_text(OFFICIALS + "#" * officials.OFFICIALS_MAX_BYTES, encoding="utf-8")
    elif kind == "not UTF-8":
        path.write_bytes(OFFICIALS.encode("utf-16"))
    return path


STRANGE_FILES = {
    "missing": "no such file (2 listed; to list no officials, keep the file with a comment line",
    "dangling link": "no such file (2 listed;",
    "zero bytes": "the file is empty (0 bytes); to list no officials, keep the file with a comment line",
    "blank": "the file is empty (6 bytes)",
    "folder": "not a regular file (a folder)",
    "FIFO": "not a regular file (a FIFO)",
    "device": "not a regular file (a character device)",
    "too large": "file too large",
    "not UTF-8": "not UTF-8 text (byte 0)",
}


@pytest.mark.parametrize("kind", list(STRANGE_FILES))
def test_a_missing_empty_or_strange_officials_file_keeps_the_officials(
    mail_store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    """`rm officials.toml`, a wrong path, a write cut to zero bytes used to end every official; a folder
    or FIFO there was skipped without a word. Now each is one line naming the file and the reason, at
    each check and each new term alike, and the officials stay as stored."""
    officials.sync_officials(mail_store, read_officials_text(tmp_path / "applied.toml", OFFICIALS), NOW)
    path = _officials_path(tmp_path, kind)
    watcher = OfficialsWatcher(mail_store, path)
    caplog.set_level(logging.INFO, logger="syndicator.mail.officials")
    for minute in range(3):
        watcher.check(NOW + timedelta(minutes=minute))
    watcher.reapply(NOW + timedelta(minutes=3))  # a new leadership term
    watcher.check(NOW + timedelta(minutes=4))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"officials file not applied, the officials stay as stored: {path}: ")
    assert STRANGE_FILES[kind] in lines[0] and "\n" not in lines[0]
    assert officials_status(mail_store) == SUBSCRIBED


def test_a_missing_officials_file_is_reported_again_after_it_came_back(
    mail_store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "officials.toml"
    path.write_text(OFFICIALS, encoding="utf-8")
    watcher = OfficialsWatcher(mail_store, path)
    caplog.set_level(logging.ERROR, logger="syndicator.mail.officials")
    for minute in range(3):  # there, removed, back, removed again
        watcher.check(NOW + timedelta(minutes=minute))
        path.unlink()
        watcher.check(NOW + timedelta(minutes=minute, seconds=30))
        path.write_text(OFFICIALS, encoding="utf-8")
    assert len([r for r in caplog.records if "no such file" in r.getMessage()]) == 3
    assert officials_status(mail_store) == SUBSCRIBED


def test_without_officials_no_file_is_needed(
    mail_store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A first start, or an office with no officials: no file at the default path is no fault (one info
    line from the instance running the jobs, none from the check at start)."""
    watcher = OfficialsWatcher(mail_store, tmp_path / "config" / "officials.toml")
    caplog.set_level(logging.INFO, logger="syndicator.mail.officials")
    assert watcher.validate()
    assert caplog.records == []
    for minute in range(3):
        watcher.check(NOW + timedelta(minutes=minute))
    (line,) = [r for r in caplog.records]
    assert line.levelno == logging.INFO and "officials: none listed" in line.getMessage()
    assert "no such file" in line.getMessage()


def test_a_link_to_the_officials_file_is_followed(mail_store: Store, tmp_path: Path) -> None:
    """The configured path may be a link the operator made (e.g. to a shared copy)."""
    (tmp_path / "shared.toml").write_text(OFFICIALS, encoding="utf-8")
    (tmp_path / "officials.toml").symlink_to(tmp_path / "shared.toml")
    OfficialsWatcher(mail_store, tmp_path / "officials.toml").check(NOW)
    assert officials_status(mail_store) == SUBSCRIBED


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("[[official]\nemail = 'a@xa.test'\n", "officials.toml"),
        ("[[official]]\nname = 'Không có email'\n", "official #1: email"),
        ("[[official]]\nemail = 'a@xa.test'\nfrequency = 'hourly'\n", "official #1: frequency"),
        ("[[official]]\nemail = 'a@xa.test'\nphone = '0912'\n", "unknown field(s) phone"),
        ("[[official]]\nemail = 'a@xa.test'\n[[official]]\nemail = 'A@xa.test'\n", "listed twice"),
        ("official = 'x'\n", "use [[official]] tables"),
        ("[[officials]]\nemail = 'a@xa.test'\n", "unknown key(s) or table(s) officials"),
        ("title = 'Cán bộ'\n[[official]]\nemail = 'a@xa.test'\n", "unknown key(s) or table(s) title"),
        ("[[official]]\nemail = 'a@xa.test'\ncategories = ['Thông báo', 'Thong bao x']\n", "'Thong bao x'"),
        ("[[official]]\nemail = 'a@xa.test'\ncategories = 'Nông nghiệp'\n", "'Nông nghiệp': no such"),
        ("[[official]]\nemail = 'a@xa.test'\ncategories = 3\n", "official #1: categories: 3"),
        ("[[official]]\nemail = 'a@xa.test'\ncategories = [3]\n", "official #1: categories"),
        ("[[official]]\nemail = 'a@xa.test'\nfrequency = 7\n", "official #1: frequency: 7"),
        ("[[official]]\nemail = 'a@xa.test'\nname = ['A']\n", "official #1: name"),
    ],
)
def test_a_broken_officials_file_is_named(tmp_path: Path, content: str, named: str) -> None:
    path = tmp_path / "officials.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidSubscription, match=re.escape(named)):
        read_officials(path, known={"thong-bao", "quoc-phong-an-ninh"})


def test_categories_are_checked_against_the_known_ones(mail_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "officials.toml"
    path.write_text(OFFICIALS, encoding="utf-8")
    # a first start, no category known yet: nothing to check against
    assert [o.email for o in read_officials(path)] == [
        "VanPhong@thoxuan.thanhhoa.gov.vn",
        "bchqs@thoxuan.thanhhoa.gov.vn",
    ]
    publish(mail_store, "tb-1", THONG_BAO, IN_WINDOW)
    watcher = OfficialsWatcher(mail_store, path)
    assert not watcher.validate()  # Quốc phòng - An ninh: no article brought it yet, no display name
    assert OfficialsWatcher(mail_store, path, {"quoc-phong-an-ninh": "Quốc phòng - An ninh"}).validate()


def test_the_leader_applies_the_file_at_each_term(mail_settings: Settings, tmp_path: Path) -> None:
    mail_settings.digest.officials_file.write_text(OFFICIALS, encoding="utf-8")
    store = Store.open(mail_settings.database_url, mail_settings.categories)
    service = assemble(mail_settings, store, lambda: NOW)
    try:
        leading = Jobs(service)
        leading.store_watch()  # its first term: the file is applied before any job runs
        assert {p.status for p in everyone(store).values()} == {"confirmed"}
        service.leadership.release()
        officials.sync_officials(store, [], NOW)  # another instance ended them meanwhile
        leading.store_watch()  # leads again: a new term
        assert {p.status for p in everyone(store).values()} == {"confirmed"}
    finally:
        service.close()
        store.close()


def test_migration_0008_keeps_the_listed_officials(database_url: str) -> None:
    """Officials the office listed before the officials table stay listed (with no own subscription to
    give back: it was overwritten); ended ones and residents are not officials."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from syndicator.store.database import alembic_config, create_store_engine, upgrade
    from syndicator.store.schema import metadata, officials

    engine = create_store_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0007")
        with engine.begin() as conn:
            for number, (source, status) in enumerate(
                [
                    ("config", "confirmed"),
                    ("config", "bounced"),
                    ("config", "unsubscribed"),
                    ("web", "confirmed"),
                ]
            ):
                conn.execute(
                    subscribers.insert().values(
                        id=number + 1,
                        email=f"p{number}@xa.test",
                        email_key=f"p{number}@xa.test",
                        status=status,
                        source=source,
                        categories="*",
                        frequency="daily",
                        hard_bounces=0,
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
        upgrade(engine)
        with engine.connect() as conn:
            listed = conn.execute(select(officials.c.subscriber_id, officials.c.own_status)).all()
            assert sorted(tuple(row) for row in listed) == [(1, None), (2, None)]
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
        assert [d for d in differences if "officials" in repr(d)] == []
        command.downgrade(alembic_config(engine), "0007")
        upgrade(engine)
    finally:
        engine.dispose()


# --- real processes: who applies the file, and a broken file at start -----------------------------------


def with_officials(tmp_path: Path, content: str | None) -> tuple[dict[str, str], Store]:
    """An environment on a SQLite store where the two officials of OFFICIALS are subscribed, the file
    given to the process holding `content` (None: no file)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store.open(url)
    officials.sync_officials(store, read_officials_text(tmp_path / "applied.toml", OFFICIALS), NOW)
    path = tmp_path / "officials.toml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    env = process_environment(
        database_url=url, home=tmp_path, extra={"SYNDICATOR_DIGEST__OFFICIALS_FILE": str(path)}
    )
    return env, store


def read_officials_text(path: Path, content: str) -> list[officials.Official]:
    path.write_text(content, encoding="utf-8")
    return read_officials(path)


def officials_status(store: Store) -> dict[str, str]:
    return {k: p.status for k, p in everyone(store).items()}


SUBSCRIBED = {"vanphong@thoxuan.thanhhoa.gov.vn": "confirmed", "bchqs@thoxuan.thanhhoa.gov.vn": "confirmed"}


@pytest.mark.slow
@shows_logs
@pytest.mark.parametrize(
    "content", [None, "[[official]]\nemail = 'a@xa.test'\n"], ids=["no file", "another list"]
)
def test_an_instance_serving_the_web_only_never_applies_the_file(
    processes: Processes, tmp_path: Path, content: str | None
) -> None:
    env, store = with_officials(tmp_path, content)
    try:
        web = processes.serve(env, args=["--no-scheduler"])
        assert httpx.get(f"{web.url}/healthz").status_code == 200
        assert officials_status(store) == SUBSCRIBED
        assert web.count("officials") == 0
        # the instance running the jobs does apply that file, as soon as it leads; no file there is
        # no list at all: the officials stay, and it says so once
        worker = processes.worker(env)
        if content is None:
            processes.eventually(lambda: worker.count("no such file (2 listed"), "the worker to report it")
            assert worker.count("officials file not applied") == 1
            assert officials_status(store) == SUBSCRIBED
            return
        ended = {**{k: "unsubscribed" for k in SUBSCRIBED}, "a@xa.test": "confirmed"}
        processes.eventually(lambda: officials_status(store) == ended, "the worker to apply the file")
    finally:
        store.close()


@pytest.mark.slow
@shows_logs
@pytest.mark.parametrize("command", ["serve", "serve --no-scheduler", "worker"])
@pytest.mark.parametrize(
    "content",
    ['[[official]]\nemail = "a@xa.test\n', "", None],
    ids=["unclosed string", "zero bytes", "no file"],
)
def test_a_broken_officials_file_at_start_is_logged_and_the_service_runs(
    processes: Processes, tmp_path: Path, command: str, content: str | None
) -> None:
    """One line, and the officials kept; a missing file only from an instance that runs the jobs (one
    serving the web only needs no copy of the file)."""
    env, store = with_officials(tmp_path, content)
    expected = 0 if content is None and "--no-scheduler" in command else 1
    try:
        if command == "worker":
            started = processes.worker(env)
        else:
            started = processes.serve(env, args=command.split()[1:])
            assert httpx.get(f"{started.url}/feeds/all.json").status_code in (200, 404)
        if "--no-scheduler" not in command:
            processes.eventually(lambda: started.count(LEADS), "the leader's term to begin")
            processes.eventually(lambda: started.count("worker running") or started.url, "the start")
        processes.eventually(lambda: started.count("officials file not applied") >= expected, "the report")
        assert started.alive()
        assert started.count("officials file not applied") == expected
        assert ("officials.toml" in started.log()) == bool(expected) and "Traceback" not in started.log()
        assert officials_status(store) == SUBSCRIBED
    finally:
        store.close()


# --- the commands ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_subscribers_commands(tmp_path: Path) -> None:
    """(SQLite only: the store's rules run on both databases above; this is about the commands.)"""
    env = environment(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        result = syndicator("subscribers", *args, env=env, cwd=tmp_path)
        assert "Traceback" not in result.stderr
        return result.returncode, result.stdout.strip(), result.stderr.strip()

    queued = "(sent by the running service's deliver job, or by the next `digest send`)"
    assert run("add", "An@XA.test", "--name", "Nguyễn Văn An", "--categories", "Thông báo,nong-nghiep") == (
        0,
        f"added An@xa.test (pending, daily, vi)\nconfirmation mail queued for An@xa.test {queued}",
        "",
    )
    assert run("add", "an@xa.test", "--confirmed", "--frequency", "immediate")[1] == (
        "updated an@xa.test (confirmed, immediate, vi)"  # the same person; the latest spelling is kept
    )
    code, _, error = run("add", "khong-hop-le")
    assert code == 2 and error.startswith("error: email")  # a usage error, as any bad option value
    store = Store.open(env["SYNDICATOR_DATABASE_URL"])
    try:
        official = officials.Official("bchqs@xa.test", None, None, Frequency.DAILY)
        officials.sync_officials(store, [official], NOW)
    finally:
        store.close()
    assert run("add", "bchqs@xa.test", "--confirmed", "--frequency", "weekly")[1] == (
        "updated bchqs@xa.test: the office lists this address, so this is kept as the resident's own "
        "choice (weekly) for when it is unlisted"
    )
    assert run("remove", "bchqs@xa.test")[0] == 0
    (tmp_path / "people.csv").write_text(CSV, encoding="utf-8")
    code, out, error = run("import", str(tmp_path / "people.csv"))
    assert (code, out) == (1, "2 added, 2 updated, 2 failed")
    assert [line.split(": ", 1)[0] for line in error.splitlines()] == [
        f"failed {tmp_path / 'people.csv'}:4",
        f"failed {tmp_path / 'people.csv'}:5",
    ]
    (tmp_path / "later.csv").write_text("email\nem@xa.test,Em,,weekly\n", encoding="utf-8")
    assert run("import", "--pending", str(tmp_path / "later.csv"))[:2] == (
        0,
        f"1 added, 0 updated, 0 failed\nconfirmation mail queued for em@xa.test {queued}",
    )

    code, out, _ = run("list", "--json")
    listed = {p["email"]: p for p in json.loads(out)}
    assert code == 0 and sorted(listed) == ["AN@xa.test", "binh@xa.test", "dung@xa.test", "em@xa.test"]
    assert listed["AN@xa.test"] == {
        "email": "AN@xa.test",  # the spelling of the latest update
        "name": "An (sửa)",
        "status": "confirmed",
        "source": "import",
        "categories": ["thong-bao"],
        "frequency": "daily",
        "language": "vi",
    }
    assert listed["dung@xa.test"]["categories"] == "all"
    assert listed["em@xa.test"]["status"] == "pending"

    code, out, _ = run("export")
    assert code == 0 and out.splitlines()[0] == "email,name,categories,frequency,language,status,source"
    assert len(out.splitlines()) == 5
    code, out, _ = run("list")
    assert code == 0 and "binh@xa.test" in out

    assert run("remove", "BINH@xa.test")[:2] == (0, "removed BINH@xa.test")
    code, _, error = run("remove", "binh@xa.test")
    assert code == 1 and "no subscriber binh@xa.test" in error
    assert len(json.loads(run("list", "--json")[1])) == 3
