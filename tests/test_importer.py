"""Importing files and folders into the store, on SQLite and PostgreSQL alike (the `store` fixture)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from syndicator.config import Settings
from syndicator.files import read_at_most
from syndicator.ingest.importer import (
    Failure,
    Format,
    Importer,
    ImportReport,
    Omitted,
    Reported,
    count_files,
    import_paths,
    is_candidate,
)
from syndicator.model import Status, Visibility
from syndicator.store import Store
from tests.conftest import EXAMPLES
from tests.factories import article_input
from tests.hostile import finishes, make_fifo, make_nested, memory_cap, release_fifo

VIETNAM = timezone(timedelta(hours=7))
SAMPLE_IDS = sorted(p.stem for p in EXAMPLES.glob("*.txt"))


def portal(
    title: str = "Thông báo lịch tiếp công dân",
    *,
    category: str = "Thông báo",
    date_line: str = "Đăng lúc: 08:15:00 28/12/2020 (GMT+7)",
    body: str = "Đoạn một của bài.\n\nĐoạn hai của bài./.",
    byline: str = "Văn phòng HĐND và UBND huyện",
) -> bytes:
    banner = "Cổng thông tin điện tử huyện Thọ Xuân - Thanh Hóa\nCHÀO MỪNG!\u00a0\u00a0\ndate\n"
    return f"{banner}\n{category}\n\n{title}\n\n{date_line}\n\n{body}\n\n{byline}\n".encode()


def line(article_id: str = "j1", **changes: Any) -> str:
    obj: dict[str, Any] = {
        "id": article_id,
        "title": f"Bài {article_id}",
        "category": "Tin tức - Sự kiện",
        "published_at": "2021-01-02T10:00:00",
        "body_text": f"Nội dung {article_id}.",
    }
    obj.update(changes)
    return json.dumps(obj, ensure_ascii=False)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


class Run:
    """Runs imports against one store with the fixed clock and keeps the failures reported."""

    def __init__(self, store: Store, settings: Settings, now: datetime) -> None:
        self.store, self.settings, self.now = store, settings, now
        self.failures: list[Reported] = []

    def __call__(self, *paths: Path, now: datetime | None = None, **options: Any) -> ImportReport:
        self.failures = []
        return import_paths(
            self.store,
            list(paths),
            now or self.now,
            self.settings.tz,
            on_failure=self.failures.append,
            **options,
        )

    def reasons(self) -> dict[str, str]:
        return {f.where: f.reason for f in self.failures if isinstance(f, Failure)}


@pytest.fixture
def run(store: Store, settings: Settings, now: datetime) -> Run:
    return Run(store, settings, now)


def counts(report: ImportReport) -> tuple[int, int, int, int]:
    return report.created, report.updated, report.unchanged, report.failed


# --- the samples --------------------------------------------------------------------------------------


def test_samples_import_then_nothing_changes(run: Run, store: Store, now: datetime) -> None:
    report = run(EXAMPLES)
    assert counts(report) == (12, 0, 0, 0) and report.files == 12
    assert run.failures == []
    before = {a.id: (a, a.changed_at) for a in store.articles(now, visible_only=False)}
    assert sorted(before) == SAMPLE_IDS

    later = now + timedelta(days=1)
    again = run(EXAMPLES, now=later)
    assert counts(again) == (0, 0, 12, 0)
    after = {a.id: (a, a.changed_at) for a in store.articles(later, visible_only=False)}
    assert after == before  # nothing rewritten: same content, same updated_at, same changed_at
    assert store.count_visible(now) == 12


def test_sample_fields_in_the_store(run: Run, store: Store) -> None:
    run(EXAMPLES)
    article = store.article("000_7aa2cdb3d5133083")
    assert article is not None
    assert article.category.slug == "chien-luoc-dinh-huong-quy-hoach"
    assert article.category.name == "Chiến lược - Định Hướng - Quy hoạch"
    assert article.published_at == datetime(2020, 12, 18, 8, 50, 13, tzinfo=UTC)
    assert article.published_at.utcoffset() == timedelta(0)
    assert article.updated_at == article.published_at
    assert (article.author, article.office) == ("Lê Hải", "Trung tâm VHTT, TT và DL Thọ Xuân")
    assert article.body_html.endswith("năm 2020./.</p>")


def test_sample_categories_and_counts(run: Run, store: Store, now: datetime) -> None:
    run(EXAMPLES)
    got = {c.category.slug: (c.category.name, c.visible) for c in store.categories(now)}
    assert got["thong-bao"] == ("Thông báo", 3)
    assert got["chien-luoc-dinh-huong-quy-hoach"] == ("Chiến lược - Định Hướng - Quy hoạch", 1)
    assert sum(v for _, v in got.values()) == 12
    assert len(got) == 10


# --- changes ------------------------------------------------------------------------------------------


def test_changed_content_updates_the_same_article(
    run: Run, store: Store, tmp_path: Path, now: datetime
) -> None:
    folder = tmp_path / "in"
    shutil.copytree(EXAMPLES, folder)
    run(folder)
    target = folder / "004_7ebb3fb75a910063.txt"
    text = target.read_text(encoding="utf-8")
    target.write_text(text.replace("gần 300 ấn phẩm", "hơn 320 ấn phẩm"), encoding="utf-8")

    later = now + timedelta(hours=3)
    report = run(folder, now=later)
    assert counts(report) == (0, 1, 11, 0)
    article = store.article("004_7ebb3fb75a910063")
    assert article is not None
    assert "hơn 320 ấn phẩm" in article.body_html and "gần 300" not in article.body_html
    assert article.updated_at == later  # the export has no edit time: the import's now is it
    assert article.published_at == datetime(2021, 2, 5, 10, 30, 45, tzinfo=VIETNAM)
    assert len(store.articles(later, visible_only=False)) == 12


def test_a_source_edit_time_is_kept(run: Run, store: Store, tmp_path: Path, now: datetime) -> None:
    feed = write(tmp_path / "a.jsonl", line("j1") + "\n")
    run(feed)
    write(feed, line("j1", title="Đã sửa", updated_at="2021-01-03T09:00:00+07:00") + "\n")
    assert counts(run(feed, now=now + timedelta(days=1))) == (0, 1, 0, 0)
    article = store.article("j1")
    assert article is not None and article.title == "Đã sửa"
    assert article.updated_at == datetime(2021, 1, 3, 2, 0, tzinfo=UTC)


def test_duplicate_ids_in_one_import_last_wins(run: Run, store: Store, tmp_path: Path) -> None:
    feed = write(
        tmp_path / "a.jsonl",
        "\n".join(
            [line("j1", title="Lần một"), line("j2"), line("j1", title="Lần hai"), line("j1", title="Lần ba")]
        ),
    )
    report = run(feed)
    assert report.failed == 0
    article = store.article("j1")
    assert article is not None and article.title == "Lần ba"
    assert len(store.articles(datetime.max.replace(tzinfo=UTC), visible_only=False)) == 2


def test_duplicate_ids_across_files_last_in_order_wins(run: Run, store: Store, tmp_path: Path) -> None:
    write(tmp_path / "in" / "a" / "same.txt", portal("Bản trong thư mục a"))
    write(tmp_path / "in" / "b" / "same.txt", portal("Bản trong thư mục b"))
    write(tmp_path / "in" / "c" / "more.jsonl", line("same", title="Bản JSON"))
    assert run(tmp_path / "in").failed == 0
    article = store.article("same")
    assert article is not None and article.title == "Bản JSON"


@pytest.mark.parametrize("batch_size", [1, 2, 500])
def test_batches_do_not_change_the_outcome(run: Run, store: Store, tmp_path: Path, batch_size: int) -> None:
    feed = write(tmp_path / "a.jsonl", "\n".join(line(f"j{n % 5}", title=f"Bản {n}") for n in range(12)))
    report = run(feed, batch_size=batch_size)
    assert report.failed == 0 and report.created == 5
    assert {a.id: a.title for a in store.articles(datetime.max.replace(tzinfo=UTC))} == {
        "j0": "Bản 10",
        "j1": "Bản 11",
        "j2": "Bản 7",
        "j3": "Bản 8",
        "j4": "Bản 9",
    }


# --- folders ------------------------------------------------------------------------------------------


def test_folders_are_searched_recursively(run: Run, store: Store, tmp_path: Path) -> None:
    root = tmp_path / "drop"
    write(root / "top.txt", portal("Bài ở gốc"))
    write(root / "2021" / "01" / "deep.txt", portal("Bài ở sâu"))
    write(root / "2021" / "feed.JSONL", line("j1"))
    write(root / "2021" / "UPPER.TXT", portal("Đuôi viết hoa"))
    # not candidates: hidden, temporary, partial, backup, other formats
    write(root / ".hidden.txt", portal())
    write(root / ".git" / "inside.txt", portal())
    write(root / "writing.txt.tmp", portal())
    write(root / "writing.txt.part", portal())
    write(root / "~lock.txt", portal())
    write(root / "backup.txt~", portal())
    write(root / "notes.md", "# not an export")
    write(root / "image.jpg", b"\xff\xd8\xff")
    report = run(root)
    assert run.failures == []
    assert (report.files, report.created) == (4, 4)
    assert sorted(a.id for a in store.articles(datetime.max.replace(tzinfo=UTC))) == [
        "UPPER",
        "deep",
        "j1",
        "top",
    ]
    assert count_files([root]) == 4


@pytest.mark.parametrize(
    ("name", "taken"),
    [
        ("a.txt", True),
        ("a.jsonl", True),
        ("a.TXT", True),
        (".a.txt", False),
        ("~a.txt", False),
        ("a.txt.tmp", False),
        ("a.txt.part", False),
        ("a.txt.partial", False),
        ("a.txt~", False),
        ("a.json", False),
        ("a", False),
    ],
)
def test_is_candidate(name: str, taken: bool) -> None:
    assert is_candidate(name) is taken


def test_a_file_named_directly_is_taken_whatever_its_extension(
    run: Run, tmp_path: Path, store: Store
) -> None:
    odd = write(tmp_path / "export.dat", portal())
    report = run(odd)
    assert report.failed == 1 and "unknown format" in run.reasons()[str(odd)]
    forced = run(odd, fmt=Format.PORTAL)
    assert forced.created == 1 and store.article("export") is not None


def test_a_missing_path_is_a_failure(run: Run, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    report = run(missing, EXAMPLES)
    assert (report.created, report.failed) == (12, 1)
    assert run.reasons() == {str(missing): "no such file or folder"}


# --- one bad file never stops the import -----------------------------------------------------------


def test_bad_files_are_reported_and_the_rest_imports(
    run: Run, store: Store, tmp_path: Path, now: datetime
) -> None:
    root = tmp_path / "in"
    shutil.copytree(EXAMPLES, root / "samples")
    bad = {
        "empty.txt": b"",
        "banner.txt": "Cổng thông tin điện tử huyện Thọ Xuân\nCHÀO MỪNG!\ndate\n".encode(),
        "no-date.txt": portal(date_line="").replace(b"\n\n\n\n", b"\n\n"),
        "bad-hour.txt": portal(date_line="Đăng lúc: 25:99 18/12/2020"),
        "feb-31.txt": portal(date_line="Đăng lúc: 10:00 31/02/2021"),
        "words.txt": portal(date_line="Đăng lúc: sáng thứ Hai"),
        "year-1.txt": portal(date_line="Đăng lúc: 00:00 01/01/0001"),
        "latin1.txt": portal().replace("Thông".encode(), b"Th\xf4ng"),
        "utf16.txt": portal().decode().encode("utf-16"),
        "bài viết.txt": portal(),
        "no-body.txt": portal(body="", byline=""),
    }
    for name, data in bad.items():
        write(root / "bad" / name, data)
    good = write(root / "bad" / "zz-good.txt", portal("Bài tốt giữa các bài hỏng"))

    report = run(root)
    assert (report.created, report.failed) == (13, len(bad))
    reasons = run.reasons()
    assert sorted(Path(where).name for where in reasons) == sorted(bad)
    assert all(reason for reason in reasons.values())
    named = {Path(where).name: reason for where, reason in reasons.items()}
    assert "Đăng lúc" in named["empty.txt"] and "Đăng lúc" in named["banner.txt"]
    assert "Đăng lúc" in named["no-date.txt"]
    assert "impossible date" in named["bad-hour.txt"] and "impossible date" in named["feb-31.txt"]
    assert "malformed date line" in named["words.txt"]
    assert "year" in named["year-1.txt"]
    assert "UTF-8" in named["latin1.txt"] and "UTF-8" in named["utf16.txt"]
    assert "file name" in named["bài viết.txt"]
    assert "no body" in named["no-body.txt"]
    assert store.article(good.stem) is not None
    assert store.count_visible(now) == 13


def test_an_article_the_database_refuses_fails_alone_and_its_batch_imports(
    store: Store, now: datetime
) -> None:
    failures: list[Reported] = []
    importer = Importer(store, now, on_failure=failures.append)
    importer.begin_file("cms.jsonl")
    naive = datetime(2021, 1, 2, 10, 0)  # no parser makes one; the store refuses it
    for article in [article_input("tot-1"), article_input("hong", updated_at=naive), article_input("tot-2")]:
        importer.add(article)
    importer.end_file()
    importer.finish()
    assert counts(importer.report) == (2, 0, 0, 1)
    assert failures == [Failure("test:hong", "database refused it: naive datetime given to the store")]
    assert store.article("hong") is None
    assert {a.id for a in store.articles(now, visible_only=False)} == {"tot-1", "tot-2"}


def test_a_bad_line_in_the_middle_of_a_jsonl_file(run: Run, store: Store, tmp_path: Path) -> None:
    feed = write(
        tmp_path / "cms.jsonl",
        "\n".join(
            [
                line("j1"),
                "{not json",
                line("j3", published_at="31/12/2020"),
                "",
                line("j5"),
                json.dumps(["not", "an", "object"]),
                line("j7", title=""),
                line("j8"),
            ]
        )
        + "\n",
    )
    report = run(feed)
    assert (report.created, report.failed) == (3, 4)
    reasons = run.reasons()
    assert sorted(reasons) == [f"{feed}:2", f"{feed}:3", f"{feed}:6", f"{feed}:7"]
    assert "not valid JSON" in reasons[f"{feed}:2"]
    assert "published_at" in reasons[f"{feed}:3"]
    assert "object" in reasons[f"{feed}:6"]
    assert "title" in reasons[f"{feed}:7"]
    assert {a.id for a in store.articles(datetime.max.replace(tzinfo=UTC))} == {"j1", "j5", "j8"}
    article = store.article("j5")
    assert article is not None


def test_a_file_too_large_is_refused(run: Run, store: Store, tmp_path: Path) -> None:
    big = write(tmp_path / "big.txt", portal(body="x " * 1000))
    feed = write(tmp_path / "big.jsonl", line("j1", body_text="x " * 1000) + "\n" + line("j2") + "\n")
    report = run(big, feed, max_bytes=1000)
    assert (report.created, report.failed) == (1, 2)
    assert "too large" in run.reasons()[str(big)]
    assert "too long" in run.reasons()[f"{feed}:1"]
    assert store.article("j2") is not None


def test_a_file_name_that_is_not_utf8(run: Run, store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    try:
        raw = os.path.join(os.fsencode(folder), b"cms-\xff.jsonl")
        with open(raw, "wb") as handle:
            handle.write((line("j1") + "\n{bad\n").encode())
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    report = run(folder)
    assert (report.created, report.failed) == (1, 1)
    [failure] = run.failures
    assert failure.where.endswith("cms-\ufffd.jsonl:2")
    failure.where.encode("utf-8")  # printable and storable
    article = store.article("j1")
    assert article is not None


# --- messy exports import faithfully ---------------------------------------------------------------


def test_bom_crlf_and_nfd_variants_are_the_same_article(run: Run, store: Store, tmp_path: Path) -> None:
    original = (EXAMPLES / "000_7aa2cdb3d5133083.txt").read_bytes()
    target = tmp_path / "000_7aa2cdb3d5133083.txt"
    write(target, original)
    assert run(target).created == 1
    variants = [
        b"\xef\xbb\xbf" + original,
        original.replace(b"\n", b"\r\n"),
        original.replace(b"\n", b"\r"),
        unicodedata.normalize("NFD", original.decode()).encode(),
        b"\xef\xbb\xbf" + unicodedata.normalize("NFD", original.decode()).encode().replace(b"\n", b"\r\n"),
    ]
    for data in variants:
        write(target, data)
        assert counts(run(target)) == (0, 0, 1, 0)
    assert len(store.categories(datetime.max.replace(tzinfo=UTC))) == 1


def test_category_spellings_make_one_category(run: Run, store: Store, tmp_path: Path, now: datetime) -> None:
    spellings = ["Văn hóa - Xã hội", "VĂN HÓA - XÃ HỘI", "Văn hóa-Xã hội", "văn  hóa –  xã hội"]
    for n, spelling in enumerate(spellings):
        write(tmp_path / "in" / f"a{n}.txt", portal(f"Bài {n}", category=spelling))
    write(tmp_path / "in" / "b.jsonl", line("j1", category=unicodedata.normalize("NFD", "Văn Hóa — Xã Hội")))
    assert run(tmp_path / "in").created == 5
    cats = store.categories(now)
    assert [(c.category.slug, c.category.name, c.visible) for c in cats] == [
        ("van-hoa-xa-hoi", "Văn hóa - Xã hội", 5)
    ]


def test_markup_characters_and_controls_round_trip(run: Run, store: Store, tmp_path: Path) -> None:
    title = "Giá < 7.000 đồng & ]]> <b>tăng</b>"
    path = write(
        tmp_path / "x.txt", portal(f"{title}\x01\x0b", body="A < B && ]]> \x00\x1f<script>.\n\nHết./.")
    )
    assert run(path).created == 1
    article = store.article("x")
    assert article is not None
    assert article.title == title
    assert article.body_html == "<p>A &lt; B &amp;&amp; ]]&gt; &lt;script&gt;.</p><p>Hết./.</p>"


def test_a_two_megabyte_article_imports(run: Run, store: Store, tmp_path: Path) -> None:
    paragraph = "Nội dung rất dài về chuyển đổi số ở huyện Thọ Xuân, tỉnh Thanh Hóa. " * 25
    body = "\n\n".join(paragraph.strip() for _ in range(1400))
    path = write(tmp_path / "long.txt", portal(body=body + "./."))
    assert path.stat().st_size > 2_000_000
    assert counts(run(path)) == (1, 0, 0, 0)
    article = store.article("long")
    assert article is not None
    assert article.body_html.count("<p>") == 1400
    assert len(article.body_html) > 1_500_000
    assert counts(run(path)) == (0, 0, 1, 0)


# --- visibility --------------------------------------------------------------------------------------


def test_a_withdrawn_article_stays_in_the_store_and_is_not_visible(
    run: Run, store: Store, tmp_path: Path, now: datetime
) -> None:
    feed = write(tmp_path / "cms.jsonl", line("j1") + "\n" + line("j2") + "\n")
    run(feed)
    write(feed, line("j1", status="withdrawn") + "\n" + line("j2") + "\n")
    later = now + timedelta(minutes=5)
    assert counts(run(feed, now=later)) == (0, 1, 1, 0)
    article = store.article("j1")
    assert article is not None and article.status is Status.WITHDRAWN
    assert article.visibility(later) is Visibility.WITHDRAWN
    assert [a.id for a in store.articles(later)] == ["j2"]
    assert {a.id for a in store.articles(later, visible_only=False)} == {"j1", "j2"}
    assert [c.visible for c in store.categories(later)] == [1]
    # published again later
    write(feed, line("j1") + "\n")
    assert counts(run(feed, now=later + timedelta(days=1))) == (0, 1, 0, 0)
    assert store.count_visible(later) == 2


def test_a_future_article_is_scheduled(run: Run, store: Store, tmp_path: Path, now: datetime) -> None:
    local_now = now.astimezone(VIETNAM)
    due = (local_now + timedelta(hours=2)).replace(microsecond=0)
    date_line = f"Đăng lúc: {due:%H:%M:%S %d/%m/%Y} (GMT+7)"
    write(tmp_path / "in" / "soon.txt", portal("Sắp đăng", date_line=date_line))
    write(tmp_path / "in" / "now.txt", portal("Đã đăng"))
    assert run(tmp_path / "in").created == 2
    article = store.article("soon")
    assert article is not None
    assert article.published_at == due
    assert article.visibility(now) is Visibility.SCHEDULED
    assert [a.id for a in store.articles(now)] == ["now"]
    assert store.count_visible(now) == 1
    assert [c.visible for c in store.categories(now)] == [1]
    assert article.visibility(due) is Visibility.PUBLISHED
    assert [a.id for a in store.articles(due)] == ["soon", "now"]
    assert [c.visible for c in store.categories(due)] == [2]


def test_configured_category_names_override(settings: Settings, tmp_path: Path, now: datetime) -> None:
    names = {"thong-bao": "Thông báo - Thông cáo báo chí"}
    store = Store.open(settings.database_url, names)
    try:
        import_paths(store, [EXAMPLES], now, settings.tz)
        article = store.article("001_9685aab5f3c71f64")
        assert article is not None and article.category.name == "Thông báo - Thông cáo báo chí"
        named = {c.category.slug: c.category.name for c in store.categories(now)}
        assert named["thong-bao"] == "Thông báo - Thông cáo báo chí"
        assert named["kinh-te"] == "Kinh tế"
    finally:
        store.close()


def test_times_come_back_as_aware_utc(run: Run, store: Store, tmp_path: Path, now: datetime) -> None:
    write(
        tmp_path / "a.jsonl",
        line("j1", published_at="2021-01-02T10:00:00-05:00", updated_at="2021-01-03T00:00:00Z"),
    )
    run(tmp_path / "a.jsonl")
    article = store.article("j1")
    assert article is not None
    for moment in (article.published_at, article.updated_at, article.changed_at):
        assert moment.utcoffset() == timedelta(0)
    assert article.published_at == datetime(2021, 1, 2, 15, 0, tzinfo=UTC)
    assert article.updated_at == datetime(2021, 1, 3, tzinfo=UTC)
    assert article.changed_at == now


# --- only regular files, bounded reading ------------------------------------------------------------


def test_a_folder_walk_reports_links_fifos_and_devices_and_follows_none(
    run: Run, store: Store, tmp_path: Path, now: datetime
) -> None:
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere / "secret.jsonl", line("bi-mat") + "\n")
    write(elsewhere / "folder" / "sau.txt", portal("Bài sau liên kết"))
    root = tmp_path / "in"
    write(root / "a-tot.jsonl", line("tot") + "\n")
    (root / "link.jsonl").symlink_to(elsewhere / "secret.jsonl")
    (root / "khac").symlink_to(elsewhere / "folder", target_is_directory=True)
    (root / "sub").mkdir()
    (root / "sub" / "zero.txt").symlink_to("/dev/zero")
    fifo = make_fifo(root / "sub" / "ong.jsonl")
    (root / "notes.md").symlink_to(elsewhere / "secret.jsonl")  # not a name an import takes: not news

    with memory_cap():
        report = finishes(lambda: run(root), unblock=lambda: release_fifo(fifo))
    assert run.reasons() == {
        str(root / "link.jsonl"): "symbolic link, not followed",
        str(root / "khac"): "symbolic link, not followed",
        str(root / "sub" / "zero.txt"): "symbolic link, not followed",
        str(fifo): "not a regular file (a FIFO)",
    }
    assert (report.created, report.failed) == (1, 4)
    assert [a.id for a in store.articles(now, visible_only=False)] == ["tot"]


def test_a_link_named_on_the_command_line_is_followed_to_a_regular_file_only(
    run: Run, store: Store, tmp_path: Path
) -> None:
    write(tmp_path / "elsewhere" / "that.jsonl", line("theo-link") + "\n")
    (tmp_path / "this.jsonl").symlink_to(tmp_path / "elsewhere" / "that.jsonl")
    assert run(tmp_path / "this.jsonl").created == 1  # the operator chose this link
    assert store.article("theo-link") is not None

    fifo = make_fifo(tmp_path / "ong.jsonl")
    (tmp_path / "zero.jsonl").symlink_to("/dev/zero")
    with memory_cap():
        report = finishes(
            lambda: run(fifo, tmp_path / "zero.jsonl", Path("/dev/zero"), fmt=Format.JSONL),
            unblock=lambda: release_fifo(fifo),
        )
    assert report.failed == 3
    assert run.reasons() == {
        str(fifo): "not a regular file (a FIFO)",
        str(tmp_path / "zero.jsonl"): "not a regular file (a character device)",
        "/dev/zero": "not a regular file (a character device)",
    }


MEASURE = """
import json, resource, sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo
from syndicator.ingest.importer import import_paths
from syndicator.store import Store

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

store = Store.open(sys.argv[1])
now, tz, failures = datetime.now(UTC), ZoneInfo("Asia/Ho_Chi_Minh"), []
import_paths(store, [Path(sys.argv[2])], now, tz)  # warm up: imports, caches, the schema
before = peak()
report = import_paths(store, [Path(sys.argv[3])], now, tz, on_failure=failures.append)
grew = peak() - before
print(json.dumps({"grew": grew, "created": report.created, "failures": [str(f) for f in failures]}))
"""


@pytest.mark.parametrize("name", ["huge.jsonl", "huge.txt"])
def test_refusing_a_300_megabyte_file_or_line_takes_no_memory(tmp_path: Path, name: str) -> None:
    """Peak memory (ru_maxrss of a process of its own) stays flat: a 300 MB one-line file is refused
    without being held (it took 650 MB)."""
    small = write(tmp_path / "small.jsonl", line("nho") + "\n")
    huge = tmp_path / name
    with huge.open("wb") as handle:  # sparse: no disk used, but 300 MB to read
        handle.write(b'{"id": "to", "title": "')
        handle.truncate(300_000_000)
        handle.seek(0, os.SEEK_END)
        handle.write(b'"}\n' + line("sau").encode() + b"\n")
    database = f"sqlite:///{tmp_path / 'store.db'}"
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, database, str(small), str(huge)],
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=True,
    )
    measured = json.loads(result.stdout)
    assert measured["grew"] < 20_000_000, measured["grew"]
    if name.endswith(".jsonl"):
        assert measured["failures"] == [f"{huge}:1: line too long (300000002 bytes, limit 5000000)"]
        assert measured["created"] == 1  # the line after it
    else:
        size = huge.stat().st_size
        assert measured["failures"] == [f"{huge}: file too large ({size} bytes, limit 5000000)"]


@pytest.mark.parametrize(("written", "read"), [(10, b"x" * 10), (0, b""), (11, None), (1000, None)])
def test_reading_stops_one_byte_past_the_limit(written: int, read: bytes | None) -> None:
    """A pipe has no size, like a file that grows while it is read: the cap is on what is read."""
    reader, writer = os.pipe()
    os.write(writer, b"x" * written)
    os.close(writer)
    try:
        assert read_at_most(reader, 10) == read
        assert len(os.read(reader, 2000)) == max(0, written - 11)  # the rest is left unread
    finally:
        os.close(reader)


# --- reports and memory stay flat whatever the input ------------------------------------------------


def test_a_file_of_bad_lines_reports_its_first_failures_then_how_many_more(run: Run, tmp_path: Path) -> None:
    """2.4 M bad lines made 2.4 M report lines (and held them all): now 20 per file and one count."""
    bad = write(tmp_path / "in" / "a-sai.jsonl", "x\n" * 5000 + line("cuoi") + "\n")
    few = write(tmp_path / "in" / "b-it.jsonl", "x\n" * 3)
    report = run(tmp_path / "in")
    assert (report.created, report.failed, report.files) == (1, 5003, 2)
    assert [(f.where, type(f)) for f in run.failures[:20]] == [(f"{bad}:{n}", Failure) for n in range(1, 21)]
    assert run.failures[20] == Omitted(str(bad), 4980)
    assert str(run.failures[20]) == f"…and 4,980 more failures in {bad}"
    assert [f.where for f in run.failures[21:]] == [f"{few}:1", f"{few}:2", f"{few}:3"]


def test_a_folder_nested_past_the_path_limit_is_reported_by_a_short_name(
    run: Run, store: Store, tmp_path: Path, now: datetime
) -> None:
    """260 folders of 20 characters: the walk could not list the deepest ones and said nothing."""
    root = tmp_path / "in"
    write(root / "tot.jsonl", line("tot") + "\n")
    make_nested(root, 260, "sau.jsonl", (line("sau") + "\n").encode())
    report = run(root)
    assert (report.created, report.failed) == (1, 1)
    (failure,) = run.failures
    assert isinstance(failure, Failure)
    assert failure.reason.startswith("folder nested too deep")
    assert failure.where.startswith(f"{root}/nnnn") and failure.where.endswith("/" + "n" * 20)
    assert "characters)…" in failure.where and len(failure.where) < 300


MEASURE_BIG = """
import json, resource, sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo
from syndicator.ingest.importer import import_paths
from syndicator.store import Store

store = Store.open(sys.argv[1])
now, tz = datetime.now(UTC), ZoneInfo("Asia/Ho_Chi_Minh")
import_paths(store, [Path(sys.argv[2])], now, tz)  # warm up: imports, caches, the schema
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
report = import_paths(store, [Path(sys.argv[3])], now, tz, max_bytes=5_000_000)
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
print(json.dumps({"grew": grew, "created": report.created, "failed": report.failed}))
"""


def test_large_articles_are_written_in_batches_bounded_by_size(tmp_path: Path) -> None:
    """A batch was 500 articles however large each: 120 lines of 4.4 MB peaked at 666 MB. Now a batch
    is also written once it holds 8 MB of text, so peak memory stays flat."""
    small = write(tmp_path / "small.jsonl", line("nho") + "\n")
    big = tmp_path / "big.jsonl"
    body = "Lorem ipsum dolor sit amet. " * 150_000  # 4.2 MB
    with big.open("w", encoding="utf-8") as handle:
        for number in range(40):
            handle.write(line(f"lon-{number}", body_text=body) + "\n")
    database = f"sqlite:///{tmp_path / 'store.db'}"
    result = subprocess.run(
        [sys.executable, "-c", MEASURE_BIG, database, str(small), str(big)],
        capture_output=True,
        encoding="utf-8",
        timeout=300,
        check=True,
    )
    measured = json.loads(result.stdout)
    assert (measured["created"], measured["failed"]) == (40, 0)
    assert measured["grew"] < 100_000_000, measured["grew"]
