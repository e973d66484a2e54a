"""`syndicator digest send|preview` as real processes against a real SMTP server (aiosmtpd), on SQLite and
PostgreSQL: idempotent sends, two instances at once, and a sender killed with SIGKILL in mid-run.
"""

from __future__ import annotations

import getpass
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import select

from syndicator.mail.digests import window_end
from syndicator.model import Frequency
from syndicator.store import Store
from syndicator.store.schema import digest_runs
from tests.clikit import environment, syndicator
from tests.conftest import EXAMPLES
from tests.factories import publish, subscribe
from tests.mailkit import (
    BASE_URL,
    IN_WINDOW,
    NONG_NGHIEP,
    THONG_BAO,
    TIN_TUC,
    local,
    make_settings,
    outbox_rows,
    statuses,
    subscribers_with_news,
)
from tests.smtp_server import smtp_server

pytestmark = pytest.mark.slow

AT = "2021-01-07T07:00"  # read in the site's zone: the run of 06:30 on 07/01/2021
TIMEOUT = 120


def start(*args: str, env: Mapping[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "syndicator", *args],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )


def prepared(database_url: str, home: Path, subscribers: int) -> list[str]:
    """News in the window of 07/01/2021 and `subscribers` confirmed daily subscribers of everything."""
    settings = make_settings(database_url, home)
    store = Store.open(settings.database_url, settings.categories)
    try:
        publish(store, "tb-1", THONG_BAO, IN_WINDOW)
        publish(store, "tt-1", TIN_TUC, IN_WINDOW.replace(hour=10))
        return subscribers_with_news(store, subscribers)
    finally:
        store.close()


def counts(database_url: str, home: Path) -> dict[str, int]:
    settings = make_settings(database_url, home)
    store = Store.open(settings.database_url, settings.categories)
    try:
        return statuses(store)
    finally:
        store.close()


SEND = ("digest", "send", "--frequency", "daily", "--at", AT)


def test_digest_send_is_idempotent(database_url: str, tmp_path: Path) -> None:
    addresses = prepared(database_url, tmp_path, 30)
    with smtp_server() as smtp:
        env = environment(database_url, tmp_path, smtp.url)
        first = syndicator(*SEND, env=env, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == (
            "daily digest for the window ending 2021-01-07 06:30+07:00: 2 new articles, 30 mails queued now; "
            "sent 30, retry later 0, failed 0; run totals: 30 sent"
        )
        # the moment printed is ISO 8601 with its offset: given back to --at as it is, the same run
        again = syndicator(*SEND[:-1], "2021-01-07 06:30+07:00", env=env, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "0 mails queued now; sent 0, retry later 0, failed 0; run totals: 30 sent" in again.stdout
        received = smtp.recorder.messages()
    assert sorted(r for m in received for r in m.recipients) == sorted(addresses)
    message = received[0].message()
    assert message["Subject"] == "Bản tin Cổng TTĐT huyện Thọ Xuân ngày 07/01/2021: 2 tin mới"
    assert message["List-Unsubscribe"].startswith(f"<{BASE_URL}/unsubscribe/")
    assert counts(database_url, tmp_path) == {"sent": 30}


def test_two_digest_sends_at_once(database_url: str, tmp_path: Path) -> None:
    """Two instances start the same run together: one run, one queued mail per subscriber."""
    addresses = prepared(database_url, tmp_path, 120)
    with smtp_server(data_delay=0.005) as smtp:
        env = environment(database_url, tmp_path, smtp.url, SYNDICATOR_MAIL__CONNECTIONS="2")
        processes = [start(*SEND, env=env, cwd=tmp_path, log=tmp_path / f"send-{i}.log") for i in range(2)]
        codes = [p.wait(TIMEOUT) for p in processes]
        logs = "\n".join((tmp_path / f"send-{i}.log").read_text() for i in range(2))
        assert codes == [0, 0], logs
        per_recipient = smtp.recorder.per_recipient()
    settings = make_settings(database_url, tmp_path)
    store = Store.open(settings.database_url, settings.categories)
    try:
        rows = outbox_rows(store)
        with store.reading() as conn:
            runs = conn.execute(select(digest_runs)).all()
    finally:
        store.close()
    assert len(runs) == 1 and runs[0].mails == 120
    assert len(rows) == 120 and {r.status for r in rows} == {"sent"}
    assert sorted(per_recipient) == sorted(addresses)
    # each row was claimed by one of them, and neither takes back what the other holds (its lease
    # runs, its process is alive): nobody gets two
    assert sum(per_recipient.values()) == 120


def test_a_sender_killed_mid_run(database_url: str, tmp_path: Path) -> None:
    """SIGKILL during delivery, then the same command again: everyone gets their digest; only the mails
    in flight at the kill (at most one per connection) may arrive twice."""
    connections = 4
    addresses = prepared(database_url, tmp_path, 300)
    with smtp_server(data_delay=0.02) as smtp:  # ~2 s for the whole run over 4 connections
        env = environment(database_url, tmp_path, smtp.url, SYNDICATOR_MAIL__CONNECTIONS=str(connections))
        some = smtp.recorder.reached(100)
        log = tmp_path / "send-1.log"
        process = start(*SEND, env=env, cwd=tmp_path, log=log)
        deadline = time.monotonic() + TIMEOUT
        while not some.wait(0.05):
            assert process.poll() is None, f"exited before the kill:\n{log.read_text()}"
            assert time.monotonic() < deadline, "no mail arrived"
        process.send_signal(signal.SIGKILL)
        process.wait(TIMEOUT)
        assert process.returncode == -signal.SIGKILL
        at_kill = len(smtp.recorder.messages())
        assert 100 <= at_kill < 300, "the kill came too late to prove anything"
        left = counts(database_url, tmp_path)
        assert left.get("sending", 0) > 0 and left.get("pending", 0) > 0  # killed with work in hand

        again = syndicator(*SEND, env=env, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "run totals: 300 sent" in again.stdout
        once_more = syndicator(*SEND, env=env, cwd=tmp_path)
        assert "sent 0, retry later 0, failed 0; run totals: 300 sent" in once_more.stdout
        per_recipient = smtp.recorder.per_recipient()
    assert sorted(per_recipient) == sorted(addresses)  # nobody missed out
    duplicates = sum(per_recipient.values()) - len(addresses)
    assert 0 <= duplicates <= connections, per_recipient.most_common(8)
    assert counts(database_url, tmp_path) == {"sent": 300}


def test_digest_send_counts_in_words(database_url: str, tmp_path: Path) -> None:
    """Nothing new: "run totals: no mails" (it ended in "run totals: " and nothing); one of each is
    singular ("1 mails")."""
    settings = make_settings(database_url, tmp_path)
    store = Store.open(settings.database_url, settings.categories)
    try:
        subscribers_with_news(store, 1)
    finally:
        store.close()
    with smtp_server() as smtp:
        env = environment(database_url, tmp_path, smtp.url)
        quiet = syndicator(*SEND, env=env, cwd=tmp_path)
        assert quiet.returncode == 0, quiet.stderr
        assert quiet.stdout.strip() == (
            "daily digest for the window ending 2021-01-07 06:30+07:00: 0 new articles, 0 mails queued now; "
            "sent 0, retry later 0, failed 0; run totals: no mails"
        )
        store = Store.open(settings.database_url, settings.categories)
        try:
            publish(store, "tb-1", THONG_BAO, IN_WINDOW + timedelta(days=1))
        finally:
            store.close()
        one = syndicator(*SEND[:-1], "2021-01-08T07:00", env=env, cwd=tmp_path)
        assert one.returncode == 0, one.stderr
        assert one.stdout.strip() == (
            "daily digest for the window ending 2021-01-08 06:30+07:00: 1 new article, 1 mail queued now; "
            "sent 1, retry later 0, failed 0; run totals: 1 sent"
        )


# --- preview ---------------------------------------------------------------------------------------------


def test_digest_preview(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = make_settings(database_url, tmp_path)
    store = Store.open(settings.database_url, settings.categories)
    try:
        publish(store, "tb-1", THONG_BAO, IN_WINDOW, title="Thông báo lịch tiếp công dân")
        publish(store, "nn-1", NONG_NGHIEP, IN_WINDOW.replace(hour=11), title="Gieo cấy lúa vụ Xuân")
        subscribe(store, "nn@xa.test", categories="nong-nghiep")
    finally:
        store.close()
    env = environment(database_url, tmp_path)
    out = tmp_path / "preview.html"
    result = syndicator(
        "digest", "preview", "--frequency", "daily", "--at", AT, "--out", str(out), env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (  # the operator's words in English, the mail's own in Vietnamese
        f"{out}: 2 articles new in the daily window ending 2021-01-07 06:30+07:00; "
        "subject: Bản tin Cổng TTĐT huyện Thọ Xuân ngày 07/01/2021: 2 tin mới"
    )
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "Thông báo lịch tiếp công dân" in html
    assert "Gieo cấy lúa vụ Xuân" in html and 'style="' in html
    # the page title is the subject with its count (it showed a literal "{total}")
    assert "<title>Bản tin Cổng TTĐT huyện Thọ Xuân ngày 07/01/2021: 2 tin mới</title>" in html

    mine = tmp_path / "mine.html"
    args = (
        "digest",
        "preview",
        "--frequency",
        "daily",
        "--at",
        AT,
        "--out",
        str(mine),
        "--email",
        "NN@xa.test",
    )
    result = syndicator(*args, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 article new in the daily window" in result.stdout and result.stdout.endswith(": 1 tin mới\n")
    assert "Thông báo lịch" not in mine.read_text(encoding="utf-8")

    quiet = syndicator(
        "digest",
        "preview",
        "--frequency",
        "weekly",
        "--at",
        AT,
        "--out",
        str(tmp_path / "w.html"),
        env=env,
        cwd=tmp_path,
    )
    assert (quiet.returncode, quiet.stdout.strip()) == (
        0,
        "nothing new in the weekly window ending 2021-01-04 06:30+07:00: no digest would be sent",
    )
    assert not (tmp_path / "w.html").exists()
    # nothing was queued by previewing
    assert counts(database_url, tmp_path) == {}
    for bad, word, code in (
        (("--frequency", "immediate"), "--frequency: immediate mails are not digests", 2),  # a usage error
        (("--frequency", "daily", "--email", "ai@xa.test"), "no subscriber", 1),  # none in the database
    ):
        result = syndicator(
            "digest", "preview", "--out", str(tmp_path / "x.html"), *bad, env=env, cwd=tmp_path
        )
        assert result.returncode == code and word in result.stderr and "Traceback" not in result.stderr


def _database(database_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table: what a preview must leave as it found it."""
    from syndicator.store.schema import metadata

    store = Store.open(database_url)
    try:
        with store.reading() as conn:
            return {
                name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
                for name, table in metadata.tables.items()
            }
    finally:
        store.close()


def titles(page: str) -> list[str]:
    return [unescape(title) for title in re.findall(r'class="title"[^>]*>(.*?)</a>', page)]


def test_digest_preview_since_a_date(database_url: str, tmp_path: Path) -> None:
    """The samples are no run's news (old articles, imported today): --since shows them as one digest,
    by category, and sends and records nothing."""
    env = environment(database_url, tmp_path)
    imported = syndicator(
        "import", str(EXAMPLES), str(EXAMPLES.parent / "articles.jsonl"), env=env, cwd=tmp_path
    )
    assert imported.returncode == 0, imported.stderr
    settings = make_settings(database_url, tmp_path)
    store = Store.open(settings.database_url, settings.categories)
    try:
        everything = store.articles(datetime.now(UTC), visible_only=False)
        visible = [a for a in store.articles(datetime.now(UTC)) if a.published_at >= local(2021, 1, 1)]
        subscribe(store, "tb@xa.test", categories="thong-bao")
    finally:
        store.close()
    assert len(visible) == 10
    left_out = {"000_7aa2cdb3d5133083", "tx-2030-0101-thong-bao-nghi-tet", "tx-2021-0301-da-go"}
    assert left_out <= {a.id for a in everything} - {a.id for a in visible}  # too old, scheduled, withdrawn
    before = _database(database_url)

    out = tmp_path / "since.html"
    args = ("digest", "preview", "--frequency", "daily", "--since", "2021-01-01", "--out", str(out))
    result = syndicator(*args, env=env, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    # no day's or week's digest: what it holds, from the date given, with its year (a weekly one said
    # "Bản tin tuần … từ 01/01 đến <today>", years called a week)
    assert result.stdout == (
        f"{out}: 10 articles published since 2021-01-01 00:00+07:00; "
        "subject: Bản tin Cổng TTĐT huyện Thọ Xuân: các tin từ 01/01/2021 (10 tin)\n"
    )
    weekly = syndicator(*args[:3], "weekly", *args[4:], env=env, cwd=tmp_path)
    assert weekly.stdout == result.stdout
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "tuần" not in html
    assert re.findall(r"<h1[^>]*>(.*?)</h1>", html) == ["Các tin đăng từ 01/01/2021"]
    assert "<title>Bản tin Cổng TTĐT huyện Thọ Xuân: các tin từ 01/01/2021 (10 tin)</title>" in html
    assert sorted(titles(html)) == sorted(a.title for a in visible)
    # one section per category, announcements (Thông báo) first
    headings = re.findall(r"<h2[^>]*>(.*?)</h2>", html)
    assert headings[0] == "Thông báo" and len(headings) == len({a.category.slug for a in visible})

    mine = tmp_path / "mine.html"
    result = syndicator(*args[:-1], str(mine), "--email", "tb@xa.test", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{mine}: 3 articles published since 2021-01-01 00:00+07:00; subject: ")
    assert re.findall(r"<h2[^>]*>(.*?)</h2>", mine.read_text(encoding="utf-8")) == ["Thông báo"]

    # a whole day, read in the site's zone; a time given with its zone is taken as given
    none = syndicator(*args[:5], "2099-01-02", "--out", str(tmp_path / "none.html"), env=env, cwd=tmp_path)
    assert none.stdout.strip() == "nothing published since 2099-01-02 00:00+07:00: no digest to show"
    zoned = syndicator(*args[:5], "2021-03-14T17:00:00Z", "--out", str(mine), env=env, cwd=tmp_path)
    assert "published since 2021-03-15 00:00+07:00;" in zoned.stdout
    assert not (tmp_path / "none.html").exists()
    # no run, no mail, no change of any kind: only the one look at a subscriber's address, audited
    after = _database(database_url)
    viewed = [(row[2], row[3], row[4]) for row in after.pop("audit_log")]
    assert viewed == [("cli:" + getpass.getuser(), "subscriber.view", "tb@xa.test")]
    before.pop("audit_log")
    assert after == before
    assert not (tmp_path / "var" / "outbox").exists()


def test_digest_preview_of_a_window_still_open(tmp_path: Path) -> None:
    """A preview records nothing, so it may show a window not ended yet: what it holds so far, said so."""
    database_url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = make_settings(database_url, tmp_path)
    now = datetime.now(UTC)
    end = window_end(Frequency.DAILY, now, settings) + timedelta(days=1)
    store = Store.open(settings.database_url, settings.categories)
    try:
        publish(store, "so-far", THONG_BAO, now)
    finally:
        store.close()
    at = end.astimezone(settings.tz).replace(tzinfo=None).isoformat(timespec="minutes")
    out = tmp_path / "open.html"
    env = environment(database_url, tmp_path)
    args = ("digest", "preview", "--frequency", "daily", "--at", at)
    result = syndicator(*args, "--out", str(out), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    ending = end.astimezone(settings.tz).isoformat(sep=" ", timespec="minutes")  # 2026-11-30 06:30+07:00
    assert result.stdout.startswith(
        f"{out}: 1 article new in the daily window ending {ending} so far "
        "(the window is still open: what appears before its end will be in it too); subject: "
    )
    assert "/a/so-far" in out.read_text(encoding="utf-8")
    assert counts(database_url, tmp_path) == {}
    store = Store.open(settings.database_url, settings.categories)
    try:
        with store.reading() as conn:
            assert conn.execute(select(digest_runs)).all() == []
    finally:
        store.close()


BAD_VALUES = [
    (
        ("--at", "2021-01-07T07:00", "--since", "2021-01-01"),
        "error: --at and --since exclude each other: --at picks a run's window, --since a start date",
    ),
    (("--since", "hôm qua"), "error: --since: 'hôm qua' is not an ISO 8601 date (YYYY-MM-DD) or date-time"),
    (("--at", "31/12/2020"), "error: --at: '31/12/2020' is not an ISO 8601 date (YYYY-MM-DD) or date-time"),
    (("--at", "garbage"), "error: --at: 'garbage' is not an ISO 8601 date (YYYY-MM-DD) or date-time"),
    (
        ("--at", "2026-02-30"),
        "error: --at: '2026-02-30' is not a valid date or time: day is out of range for month",
    ),
    (
        ("--since", "2021-01-01T25:00"),
        "error: --since: '2021-01-01T25:00' is not a valid date or time: hour must be in 0..23",
    ),
    (("--frequency", "monthly"), "error: --frequency: 'monthly' is not daily or weekly"),
]


@pytest.mark.parametrize(("args", "line"), BAD_VALUES)
def test_digest_preview_refuses_bad_values(tmp_path: Path, args: tuple[str, ...], line: str) -> None:
    """Every bad option value is a usage error: exit 2 (bad dates and frequencies were exit 1 while the
    others were 2), one line naming the option, before the database."""
    env = environment(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)
    out = tmp_path / "x.html"
    result = syndicator(
        "digest", "preview", "--frequency", "daily", "--out", str(out), *args, env=env, cwd=tmp_path
    )
    assert (result.returncode, result.stdout, result.stderr.splitlines()) == (2, "", [line])
    assert not out.exists() and not (tmp_path / "store.db").exists()  # refused before the database


@pytest.mark.parametrize(("args", "line"), [v for v in BAD_VALUES if "--since" not in v[0]])
def test_digest_send_refuses_bad_values(tmp_path: Path, args: tuple[str, ...], line: str) -> None:
    env = environment(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)
    result = syndicator("digest", "send", "--frequency", "daily", *args, env=env, cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr.splitlines()) == (2, "", [line])
    assert not (tmp_path / "store.db").exists()


@pytest.mark.parametrize(
    ("out", "reason"),
    [
        ("missing/x.html", "No such file or directory"),
        (".", "it is a folder (name a file)"),
        ("/sys/syndicator-preview.html", "Permission denied"),  # refused to root too, unlike a chmod
        ("/dev/full", "No space left on device"),  # opened, then the write fails
    ],
)
def test_digest_preview_to_a_file_that_cannot_be_written(tmp_path: Path, out: str, reason: str) -> None:
    """One line naming the path and why, exit 1, nothing written (it was a traceback)."""
    database_url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = make_settings(database_url, tmp_path)
    store = Store.open(settings.database_url, settings.categories)
    try:
        publish(store, "tb-1", THONG_BAO, IN_WINDOW)
    finally:
        store.close()
    before = sorted(tmp_path.rglob("*"))
    env = environment(database_url, tmp_path)
    args = ("digest", "preview", "--frequency", "daily", "--at", AT, "--out", out)
    result = syndicator(*args, env=env, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr.splitlines() == [f"error: {out}: cannot write: {reason}"]
    assert sorted(tmp_path.rglob("*")) == before
