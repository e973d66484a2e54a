"""The drop folder, scanned by hand with an injected wall clock (for settling) and store time (`now`).

A new or changed export is imported; a removed one withdraws its articles (gone from every feed, its
page 410); a file that fails is reported once per change of it; a file is read only once its mtime is
`settle` seconds old, and temporary names are never read. Only regular files are read: links, FIFOs
and devices are reported once and skipped (real ones, made on disk here).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from syndicator.config import Settings
from syndicator.ingest.dropfolder import DropFolder
from syndicator.ingest.importer import Omitted
from syndicator.model import Status
from syndicator.publish.builder import FeedBuilder
from syndicator.publish.cache import FeedCache
from syndicator.store import Store, dropfiles
from syndicator.web.app import create_app
from syndicator.web.state import Services
from tests.conftest import EXAMPLES
from tests.hostile import (
    ESCAPE_NAME,
    finishes,
    make_fifo,
    make_nested,
    memory_cap,
    no_controls,
    release_fifo,
)
from tests.live import live_server

T0 = 1_700_000_000.0  # the wall clock (mtimes) of these tests
SETTLE = 0.5
BASE = "http://127.0.0.1:8000/a/"


class WallClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


@pytest.fixture
def folder(settings: Settings) -> Path:
    settings.articles_dir.mkdir(parents=True)
    return settings.articles_dir


@pytest.fixture
def drop_folder(store: Store, settings: Settings, folder: Path, wall: WallClock) -> DropFolder:
    return DropFolder(store, folder, settings.tz, max_bytes=50_000, settle=SETTLE, wall_clock=wall)


def line(article_id: str, now: datetime, **changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": article_id,
        "title": f"Bài {article_id}",
        "category": "Thông báo",
        "published_at": (now - timedelta(hours=1)).isoformat(),
        "body_text": f"Nội dung {article_id}.",
    }
    obj.update(changes)
    return obj


def write(path: Path, *objects: dict[str, Any], mtime: float = T0, raw: str | None = None) -> Path:
    """Write a file whose last write happened at `mtime` (the wall clock of these tests)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = raw if raw is not None else "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)
    path.write_text(text, encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return path


def status(store: Store, article_id: str) -> Status | None:
    found = store.article(article_id)
    return found.status if found else None


def test_new_file_is_read_once_settled(
    drop_folder: DropFolder, folder: Path, store: Store, wall: WallClock, now: datetime
) -> None:
    write(folder / "tin.jsonl", line("moi", now), mtime=T0)
    wall.now = T0 + SETTLE - 0.01  # written a moment ago: maybe still being written
    report = drop_folder.scan(now)
    assert (report.imported, report.waiting) == ([], 1)
    assert store.article("moi") is None

    wall.now = T0 + SETTLE
    report = drop_folder.scan(now)
    assert (report.imported, report.waiting) == (["tin.jsonl"], 0)
    assert status(store, "moi") is Status.PUBLISHED

    wall.now += 60
    assert drop_folder.scan(now).imported == []  # unchanged: not read again


def test_a_file_still_being_written_is_not_read_half_way(
    drop_folder: DropFolder, folder: Path, store: Store, wall: WallClock, now: datetime
) -> None:
    path = folder / "dai.jsonl"
    write(path, raw=json.dumps(line("mot", now)) + "\n" + '{"id": "hai", "title": "B', mtime=T0)
    wall.now = T0 + 0.2
    assert drop_folder.scan(now).waiting == 1
    write(path, line("mot", now), line("hai", now), mtime=T0 + 0.4)  # the copy goes on
    wall.now = T0 + 0.8
    assert drop_folder.scan(now).waiting == 1  # the last write was 0.4 s ago
    wall.now = T0 + 0.9
    report = drop_folder.scan(now)
    assert report.imported == ["dai.jsonl"] and report.failed == []
    assert status(store, "mot") is status(store, "hai") is Status.PUBLISHED


def test_temporary_and_hidden_names_are_never_read(
    drop_folder: DropFolder, folder: Path, store: Store, wall: WallClock, now: datetime
) -> None:
    names = [
        "a.jsonl.tmp",
        "b.jsonl.part",
        "c.txt.partial",
        ".d.jsonl",
        "~e.jsonl",
        "f.jsonl~",
        ".staging/g.jsonl",
        "h.csv",
    ]
    for index, name in enumerate(names):
        write(folder / name, line(f"tam-{index}", now))
    wall.now = T0 + 3600  # settled long ago
    report = drop_folder.scan(now)
    assert (report.imported, report.waiting, report.failed) == ([], 0, [])
    assert store.articles(now, visible_only=False) == []

    os.rename(folder / "a.jsonl.tmp", folder / "a.jsonl")  # the writer's last step
    assert drop_folder.scan(now).imported == ["a.jsonl"]
    assert [a.id for a in store.articles(now)] == ["tam-0"]


def test_changed_file_is_imported_again(
    drop_folder: DropFolder, folder: Path, store: Store, wall: WallClock, now: datetime
) -> None:
    path = write(folder / "tin.jsonl", line("sua", now, title="Tiêu đề cũ"))
    wall.now = T0 + 1
    drop_folder.scan(now)
    write(path, line("sua", now, title="Tiêu đề mới"), mtime=T0 + 2)
    wall.now = T0 + 3
    assert drop_folder.scan(now + timedelta(minutes=1)).imported == ["tin.jsonl"]
    found = store.article("sua")
    assert found is not None and found.title == "Tiêu đề mới"


def test_an_edit_that_leaves_an_article_out_withdraws_it(
    drop_folder: DropFolder, folder: Path, store: Store, wall: WallClock, now: datetime
) -> None:
    path = write(folder / "tin.jsonl", line("a", now), line("b", now), line("c", now))
    other = write(folder / "khac.jsonl", line("x", now))
    wall.now = T0 + 1
    drop_folder.scan(now)
    assert {status(store, i) for i in "abcx"} == {Status.PUBLISHED}

    # "c" taken out, "x" moved into this file from the other one, which is emptied
    write(path, line("a", now), line("b", now), line("x", now), mtime=T0 + 2)
    write(other, raw="", mtime=T0 + 2)
    wall.now = T0 + 3
    report = drop_folder.scan(now + timedelta(minutes=1))
    assert report.withdrawn == ["c"]
    assert [status(store, i) for i in "abcx"] == [
        Status.PUBLISHED,
        Status.PUBLISHED,
        Status.WITHDRAWN,
        Status.PUBLISHED,
    ]

    # a record that now fails to read is not taken out: "b" stays until the file reads cleanly
    write(path, line("a", now), line("x", now), raw=None, mtime=T0 + 4)
    path.write_text(path.read_text() + "{not json\n", encoding="utf-8")
    os.utime(path, (T0 + 4, T0 + 4))
    wall.now = T0 + 5
    report = drop_folder.scan(now + timedelta(minutes=2))
    assert report.withdrawn == [] and len(report.failed) == 1
    assert status(store, "b") is Status.PUBLISHED
    write(path, line("a", now), line("x", now), mtime=T0 + 6)
    wall.now = T0 + 7
    assert drop_folder.scan(now + timedelta(minutes=3)).withdrawn == ["b"]
    assert status(store, "b") is Status.WITHDRAWN


def test_removed_file_withdraws_its_articles_from_every_feed_and_page(
    drop_folder: DropFolder,
    folder: Path,
    store: Store,
    settings: Settings,
    wall: WallClock,
    now: datetime,
) -> None:
    write(
        folder / "xa/ra.jsonl", line("go-bo", now, category="Y tế"), line("o-lai-nho", now, category="Y tế")
    )
    write(folder / "con-lai.jsonl", line("o-lai", now))
    wall.now = T0 + 1
    drop_folder.scan(now)
    cache = FeedCache()
    builder = FeedBuilder(store, settings, cache)
    builder.refresh(now)
    assert {"go-bo", "o-lai-nho", "o-lai"} <= ids(cache, "all")

    write(folder / "con-lai.jsonl", line("o-lai", now), line("o-lai-nho", now, category="Y tế"), mtime=T0 + 2)
    (folder / "xa/ra.jsonl").unlink()
    wall.now = T0 + 3
    later = now + timedelta(minutes=5)
    report = drop_folder.scan(later)
    # an id that another file still brings stays published (a file moved, or an article moved to it)
    assert report.withdrawn == ["go-bo"]
    assert status(store, "go-bo") is Status.WITHDRAWN and status(store, "o-lai-nho") is Status.PUBLISHED

    builder.refresh(later)
    for key in ("all", "y-te"):
        assert "go-bo" not in ids(cache, key)
    app = create_app(Services(settings, store, cache, builder, lambda: later))
    with live_server(app) as url:
        assert httpx.get(f"{url}/a/go-bo").status_code == 410
        assert httpx.get(f"{url}/a/o-lai-nho").status_code == 200
        for kind in ("rss", "atom", "json"):
            assert "go-bo" not in httpx.get(f"{url}/feeds/all.{kind}").text

    (folder / "con-lai.jsonl").unlink()
    wall.now += 1
    assert sorted(drop_folder.scan(later).withdrawn) == ["o-lai", "o-lai-nho"]
    builder.refresh(later)
    assert cache.is_gone("/feeds/y-te.rss") and cache.is_gone("/feeds/thong-bao.json")


def test_a_failing_file_is_reported_once_per_change(
    drop_folder: DropFolder,
    folder: Path,
    store: Store,
    wall: WallClock,
    now: datetime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write(folder / "loi.jsonl", raw=json.dumps(line("tot", now)) + '\n{"id": "xau", "title": ""}\n')
    wall.now = T0 + 1

    def reported() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]

    (failure,) = drop_folder.scan(now).failed
    assert failure.where == f"{folder / 'loi.jsonl'}:2"  # the file and the line
    assert len(reported()) == 1 and reported()[0].startswith(f"drop folder: {folder / 'loi.jsonl'}:2: ")
    assert status(store, "tot") is Status.PUBLISHED  # the good line of the file is in

    for _ in range(3):
        wall.now += 1
        assert drop_folder.scan(now).failed == []
    assert len(reported()) == 1  # not at every scan

    write(path, raw="không phải JSON\n", mtime=T0 + 10)  # changed, and still wrong
    wall.now = T0 + 11
    assert len(drop_folder.scan(now).failed) == 1
    assert len(reported()) == 2
    wall.now += 1
    drop_folder.scan(now)
    assert len(reported()) == 2

    write(path, line("tot", now), line("xau", now), mtime=T0 + 20)  # fixed
    wall.now = T0 + 21
    assert drop_folder.scan(now).failed == []
    assert status(store, "xau") is Status.PUBLISHED
    assert len(reported()) == 2


def test_too_large_file_is_reported_once(
    drop_folder: DropFolder, folder: Path, wall: WallClock, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    write(folder / "to.txt", raw="x" * 60_000)
    wall.now = T0 + 1
    (failure,) = drop_folder.scan(now).failed
    assert "too large" in failure.reason
    wall.now += 1
    assert drop_folder.scan(now).failed == []
    assert len([r for r in caplog.records if "too large" in r.getMessage()]) == 1


def test_portal_exports_in_subfolders(
    drop_folder: DropFolder, folder: Path, store: Store, wall: WallClock, now: datetime
) -> None:
    source = sorted(EXAMPLES.glob("*.txt"))[0]
    (folder / "2021").mkdir()
    shutil.copy(source, folder / "2021" / source.name)
    os.utime(folder / "2021" / source.name, (T0, T0))
    wall.now = T0 + 1
    assert drop_folder.scan(now).imported == [f"2021/{source.name}"]
    assert status(store, source.stem) is Status.PUBLISHED
    (folder / "2021" / source.name).unlink()
    assert drop_folder.scan(now).withdrawn == [source.stem]


def test_what_was_read_survives_a_restart(
    store: Store, settings: Settings, folder: Path, wall: WallClock, now: datetime
) -> None:
    """The state is in the database: a restarted (or newly elected) instance carries on from it."""
    write(folder / "tin.jsonl", line("ben-vung", now))
    wall.now = T0 + 1
    assert DropFolder(store, folder, settings.tz, wall_clock=wall).scan(now).imported == ["tin.jsonl"]

    restarted = DropFolder(store, folder, settings.tz, wall_clock=wall)
    assert restarted.scan(now).imported == []
    (folder / "tin.jsonl").unlink()
    assert DropFolder(store, folder, settings.tz, wall_clock=wall).scan(now).withdrawn == ["ben-vung"]


def ids(cache: FeedCache, key: str) -> set[str]:
    doc = cache.get(f"/feeds/{key}.json")
    if doc is None:
        return set()
    return {item["id"].removeprefix(BASE) for item in json.loads(doc.body)["items"]}


# --- only regular files in the folder are read ----------------------------------------------------


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_links_are_reported_once_and_never_followed(
    drop_folder: DropFolder,
    folder: Path,
    store: Store,
    wall: WallClock,
    now: datetime,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A link to a file elsewhere on the server would publish it at /a/{id} and in the feeds."""
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere / "secret.jsonl", line("bi-mat", now))
    shutil.copy(sorted(EXAMPLES.glob("*.txt"))[0], elsewhere / "mat.txt")
    write(elsewhere / "inside" / "sau.jsonl", line("sau-link", now))
    (folder / "link.jsonl").symlink_to(elsewhere / "secret.jsonl")
    (folder / "mat.txt").symlink_to(elsewhere / "mat.txt")
    (folder / "khac").symlink_to(elsewhere / "inside", target_is_directory=True)  # a link to a folder
    (folder / "cu.jsonl").symlink_to(tmp_path / "nowhere.jsonl")  # dangling
    write(folder / "tot.jsonl", line("tot", now))
    for link in ("link.jsonl", "mat.txt", "khac", "cu.jsonl"):
        os.utime(folder / link, (T0, T0), follow_symlinks=False)
    wall.now = T0 + 1

    report = drop_folder.scan(now)
    assert sorted(f.where for f in report.failed) == [
        str(folder / name) for name in ("cu.jsonl", "khac", "link.jsonl", "mat.txt")
    ]
    assert {f.reason for f in report.failed} == {"symbolic link, not followed"}
    assert [a.id for a in store.articles(now, visible_only=False)] == ["tot"]
    assert sorted(errors_logged(caplog)) == sorted(
        f"drop folder: {folder / name}: symbolic link, not followed"
        for name in ("cu.jsonl", "khac", "link.jsonl", "mat.txt")
    )

    for _ in range(3):  # reported once, not at every scan
        wall.now += 1
        assert drop_folder.scan(now).failed == []
    assert len(errors_logged(caplog)) == 4

    (folder / "link.jsonl").unlink()  # once gone and back, it is news again
    wall.now += 1
    drop_folder.scan(now)
    (folder / "link.jsonl").symlink_to(elsewhere / "secret.jsonl")
    os.utime(folder / "link.jsonl", (wall.now, wall.now), follow_symlinks=False)
    wall.now += 1
    assert [f.where for f in drop_folder.scan(now).failed] == [str(folder / "link.jsonl")]
    assert store.article("bi-mat") is None and store.article("sau-link") is None


def test_a_fifo_never_blocks_the_scan(
    drop_folder: DropFolder,
    folder: Path,
    store: Store,
    wall: WallClock,
    now: datetime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A FIFO named *.jsonl blocked the job for good: later files were never imported, no log line."""
    fifo = make_fifo(folder / "a-ong.jsonl")  # read first, in name order
    os.utime(fifo, (T0, T0))
    write(folder / "b-sau.jsonl", line("sau-fifo", now))
    wall.now = T0 + 1

    report = finishes(lambda: drop_folder.scan(now), unblock=lambda: release_fifo(fifo))
    assert [(f.where, f.reason) for f in report.failed] == [(str(fifo), "not a regular file (a FIFO)")]
    assert status(store, "sau-fifo") is Status.PUBLISHED
    wall.now += 1
    assert finishes(lambda: drop_folder.scan(now), unblock=lambda: release_fifo(fifo)).failed == []
    assert errors_logged(caplog) == [f"drop folder: {fifo}: not a regular file (a FIFO)"]


def test_a_link_to_dev_zero_is_not_read(
    drop_folder: DropFolder, folder: Path, store: Store, wall: WallClock, now: datetime
) -> None:
    """Read, it grew the process to 2 GB in 3 s (MemoryError, then the database and /healthz failed)."""
    for name in ("zero.jsonl", "zero.txt"):
        (folder / name).symlink_to("/dev/zero")
        os.utime(folder / name, (T0, T0), follow_symlinks=False)
    write(folder / "tot.jsonl", line("tot", now))
    wall.now = max(T0, os.stat("/dev/zero").st_mtime) + 1  # what the link points at has settled too
    with memory_cap():
        report = finishes(lambda: drop_folder.scan(now))
    assert sorted(f.where for f in report.failed) == [str(folder / "zero.jsonl"), str(folder / "zero.txt")]
    assert status(store, "tot") is Status.PUBLISHED


def test_a_name_with_escape_codes_is_logged_escaped(
    drop_folder: DropFolder, folder: Path, wall: WallClock, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    write(folder / ESCAPE_NAME, raw="{not json\n")
    wall.now = T0 + 1
    (failure,) = drop_folder.scan(now).failed
    assert failure.where == f"{folder / ESCAPE_NAME}:1"  # the name itself, for the record
    (logged,) = errors_logged(caplog)
    assert no_controls(logged)
    assert "\\x1b[31mđỏ\\x1b[0m\\x1b]0;pwned\\x07 \\u202etxt.jsonl:1: not valid JSON" in logged


def test_a_line_too_long_is_skipped_without_holding_it(
    drop_folder: DropFolder, folder: Path, store: Store, wall: WallClock, now: datetime
) -> None:
    path = folder / "dai.jsonl"
    with path.open("wb") as handle:  # a 200 MB first line (sparse: no disk used), then a good one
        handle.write(b'{"id": "x", "body_text": "')
        handle.truncate(200_000_000)
        handle.seek(0, os.SEEK_END)
        handle.write(b'"}\n' + json.dumps(line("sau-dong-dai", now)).encode() + b"\n")
    os.utime(path, (T0, T0))
    wall.now = T0 + 1
    with memory_cap(100_000_000):
        (failure,) = drop_folder.scan(now).failed
    assert (failure.where, failure.reason) == (f"{path}:1", "line too long (200000002 bytes, limit 50000)")
    assert status(store, "sau-dong-dai") is Status.PUBLISHED


def test_names_the_state_table_cannot_hold_are_reported_once_and_the_rest_imports(
    drop_folder: DropFolder,
    folder: Path,
    store: Store,
    wall: WallClock,
    now: datetime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A name that is not UTF-8 (or a path too long for drop_files) failed every scan, on both
    databases, so nothing else in the folder was imported any more."""
    raw = os.path.join(os.fsencode(folder), b"cms-\xff.jsonl")
    try:
        with open(raw, "wb") as handle:
            handle.write((json.dumps(line("ten-la", now)) + "\n").encode())
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    os.utime(raw, (T0, T0))
    deep = folder.joinpath(*["t" * 200] * 5, "sau.jsonl")
    write(deep, line("sau-qua", now))
    write(folder / "tot.jsonl", line("tot", now))
    wall.now = T0 + 1

    report = drop_folder.scan(now)
    assert {(f.where, f.reason) for f in report.failed} == {
        (str(deep), "path longer than 1000 characters: move it up"),
        (f"{folder}/cms-\ufffd.jsonl", "file name is not valid UTF-8: rename it"),
    }
    assert [a.id for a in store.articles(now)] == ["tot"]
    wall.now += 1
    assert drop_folder.scan(now).failed == []
    assert len(errors_logged(caplog)) == 2


# --- bounded reports, files that never settled, folders that cannot be listed ------------------------


def test_a_file_of_bad_lines_logs_twenty_and_a_count_and_stores_a_short_error(
    drop_folder: DropFolder, folder: Path, wall: WallClock, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    """200k bad lines wrote 200k ERROR lines and a 20.9 MB drop_files.error (2.4 M: 2.6 GB of memory)."""
    path = write(folder / "sai.jsonl", raw="x\n" * 200_000)
    wall.now = T0 + 1
    with memory_cap(60_000_000):
        report = drop_folder.scan(now)
    assert report.failures == 200_000 and len(report.failed) == 20
    assert report.omitted == [Omitted(str(path), 199_980)]
    logged = errors_logged(caplog)
    assert len(logged) == 21
    assert logged[-1] == f"drop folder: …and 199,980 more failures in {path}"
    with drop_folder.store.reading() as conn:  # what the database kept
        error = dropfiles.load(conn)["sai.jsonl"].error
    assert error is not None and len(error) < 1000
    assert error.startswith(f"{path}:1: not valid JSON") and error.endswith("; …and 199,995 more")


def test_a_file_with_a_future_mtime_is_read_once_unchanged_for_the_settle_time(
    drop_folder: DropFolder,
    folder: Path,
    store: Store,
    wall: WallClock,
    now: datetime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An mtime in the future (rsync -t, clock skew, an exporter's publication time) never got old:
    the file waited for ever, without a word."""
    future = T0 + 365 * 86400
    write(folder / "tuong-lai.jsonl", line("tuong-lai", now), mtime=future)
    wall.now = T0 + 1
    assert drop_folder.scan(now).waiting == 1
    wall.now += SETTLE / 2
    assert drop_folder.scan(now).waiting == 1  # not yet unchanged for `settle`
    wall.now += SETTLE / 2
    report = drop_folder.scan(now)
    assert (report.imported, report.waiting) == (["tuong-lai.jsonl"], 0)
    assert status(store, "tuong-lai") is Status.PUBLISHED
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "has a modification time in the future" in warned[0]
    assert str(folder / "tuong-lai.jsonl") in warned[0]


def test_a_future_mtime_that_changes_waits_again(
    drop_folder: DropFolder, folder: Path, wall: WallClock, now: datetime
) -> None:
    """A file still being written with future mtimes (each write moves it) is not read half-way."""
    path = write(folder / "dang-ghi.jsonl", line("a", now), mtime=T0 + 3600)
    wall.now = T0 + 1
    assert drop_folder.scan(now).waiting == 1
    write(path, line("a", now), line("b", now), mtime=T0 + 3601)
    wall.now += SETTLE
    assert drop_folder.scan(now).waiting == 1  # changed since the last scan: the wait starts again
    wall.now += SETTLE
    assert drop_folder.scan(now).imported == ["dang-ghi.jsonl"]


def test_a_folder_nested_past_the_path_limit_is_reported_once(
    drop_folder: DropFolder,
    folder: Path,
    store: Store,
    wall: WallClock,
    now: datetime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """260 folders of 20 characters: what lies below PATH_MAX was skipped without a line."""
    make_nested(folder, 260, "sau.jsonl", (json.dumps(line("sau", now)) + "\n").encode())
    write(folder / "tot.jsonl", line("tot", now))
    wall.now = T0 + 1
    report = drop_folder.scan(now)
    (failure,) = report.failed
    assert failure.reason.startswith("folder nested too deep")
    assert "characters)…" in failure.where and len(failure.where) < 300
    assert [a.id for a in store.articles(now)] == ["tot"]
    wall.now += 1
    assert drop_folder.scan(now).failed == []
    (logged,) = errors_logged(caplog)
    assert len(logged) < 400


def test_a_hard_link_is_a_regular_file_and_is_read(
    drop_folder: DropFolder, folder: Path, store: Store, settings: Settings, wall: WallClock, now: datetime
) -> None:
    """Decided, not overlooked: the kernel lets one hard-link only files one can read and write
    (fs.protected_hardlinks), which one could as well copy in; refusing st_nlink > 1 would break
    `cp -l` and `rsync --link-dest` (see the module's docstring and the README)."""
    elsewhere = write(settings.articles_dir.parent / "kho" / "ban-goc.jsonl", line("lien-ket-cung", now))
    os.link(elsewhere, folder / "ban-goc.jsonl")
    wall.now = T0 + 1
    report = drop_folder.scan(now)
    assert (report.imported, report.failed) == (["ban-goc.jsonl"], [])
    assert status(store, "lien-ket-cung") is Status.PUBLISHED
