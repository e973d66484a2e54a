"""The real `syndicator` command, run as a process (`python -m syndicator`) against real databases;
its help pages read in-process from the command objects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from sqlalchemy import text
from typer.testing import CliRunner

from syndicator.cli import app
from syndicator.store.database import create_store_engine, head_revision, upgrade
from tests.clikit import CLI_BASE_URL, cli, one_error_line
from tests.conftest import EXAMPLES, ROOT
from tests.hostile import ESCAPE_NAME, make_fifo, no_controls

BASE_URL = CLI_BASE_URL


def jsonl(*objects: dict[str, object]) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)


def cms(article_id: str, **changes: object) -> dict[str, object]:
    obj: dict[str, object] = {
        "id": article_id,
        "title": f"[Tin nhanh] Bài {article_id}",
        "category": "Tin tức - Sự kiện",
        "published_at": "2021-03-01T08:00:00",
        "body_text": "Nội dung.",
    }
    obj.update(changes)
    return obj


def test_help(tmp_path: Path) -> None:
    result = cli("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in ("import", "articles", "categories", "db"):
        assert command in result.stdout


def commands(command: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group of the CLI with its words (`("digest", "send")`), the root first.
    Typer bundles its own click, so a group is told by its `commands`, not by click's classes."""
    command = command if command is not None else typer.main.get_command(app)
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from commands(sub, (*path, name))


def described(text: str | None) -> bool:
    """Help an operator reads: an English sentence (capital first, full stop last), no Vietnamese."""
    text = (text or "").strip()
    return bool(text) and text.isascii() and text[0].isupper() and text.endswith(".")


ALL_COMMANDS = [path for path, _ in commands()]


def test_every_command_is_listed() -> None:
    # a new command is described by the tests below as soon as it exists; this pins the walk itself
    assert {" ".join(p) for p in ALL_COMMANDS} >= {
        "import", "serve", "worker", "build", "articles list", "categories list", "db upgrade",
        "subscribers add", "subscribers import", "subscribers export", "subscribers list",
        "subscribers remove", "digest preview", "digest send",
    }  # fmt: skip


@pytest.mark.parametrize("words", ALL_COMMANDS, ids=lambda words: " ".join(words) or "syndicator")
def test_every_command_and_parameter_has_help(words: tuple[str, ...]) -> None:
    command = dict(commands())[words]
    assert described(command.help), f"{words}: {command.help!r}"
    summary = command.help.strip().splitlines()[0]
    assert described(summary), f"{words}: the first line is no summary: {summary!r}"
    for param in command.params:
        # typer keeps an argument's help on its TyperArgument (click's Argument has none)
        assert described(getattr(param, "help", None)), f"{words} {param.name}: {param.help!r}"
        if param.param_type_name == "option" and param.default not in (None, False):
            assert param.show_default is not False, f"{words} {param.name}: default hidden"


@pytest.mark.parametrize("words", ALL_COMMANDS, ids=lambda words: " ".join(words) or "syndicator")
def test_every_help_page_names_every_option(words: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    command = dict(commands())[words]
    for param in command.params:
        for name in param.opts if param.param_type_name == "option" else []:
            assert name in result.output, f"{words}: {name} missing from --help"


def test_dates_are_described_in_one_wording() -> None:
    moment = "ISO 8601 date or date-time, in site.timezone unless it has a zone"
    for words in (("digest", "preview"), ("digest", "send")):
        options = {p.name: p for p in dict(commands())[words].params}
        for name in ("at", "since"):
            if name in options:
                assert moment in options[name].help, f"{words} --{name}: {options[name].help!r}"


# --- import -------------------------------------------------------------------------------------------


def test_import_prints_a_summary_and_exits_0(tmp_path: Path, database_url: str) -> None:
    first = cli("import", str(EXAMPLES), cwd=tmp_path, database_url=database_url)
    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout.strip() == "12 files: 12 created, 0 updated, 0 unchanged, 0 failed"
    again = cli("import", str(EXAMPLES), cwd=tmp_path, database_url=database_url)
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout.strip() == "12 files: 0 created, 0 updated, 12 unchanged, 0 failed"


def test_import_of_many_bad_lines_prints_twenty_and_a_count(tmp_path: Path, database_url: str) -> None:
    """200k bad lines printed 200k lines (2.4 M: gigabytes held): now 20, then one count, and the
    summary and exit code still count every failure."""
    bad = tmp_path / "sai.jsonl"
    bad.write_text("x\n" * 200_000 + jsonl(cms("cuoi")), encoding="utf-8")
    result = cli("import", str(bad), cwd=tmp_path, database_url=database_url)
    assert result.returncode == 1
    assert result.stdout.strip() == "1 file: 1 created, 0 updated, 0 unchanged, 200000 failed"  # "1 files"
    lines = result.stderr.splitlines()
    assert len(lines) == 21, result.stderr[-2000:]
    assert lines[0] == f"failed {bad}:1: not valid JSON: Expecting value: line 1 column 1 (char 0)"
    assert lines[-1] == f"failed …and 199,980 more failures in {bad}"


def test_import_failures_exit_1_with_one_line_each(tmp_path: Path, database_url: str) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "good.txt").write_bytes((EXAMPLES / "001_9685aab5f3c71f64.txt").read_bytes())
    (drop / "no-date.txt").write_text(
        "Cổng thông tin\n\nThông báo\n\nTiêu đề\n\nNội dung.\n", encoding="utf-8"
    )
    bad_date = (EXAMPLES / "002_ab0b6d3076b1f9a6.txt").read_text(encoding="utf-8")
    bad_date = bad_date.replace("Đăng lúc: 16:40:27 06/01/2021", "Đăng lúc: [/] 10:00 31/02/2021")
    (drop / "bad-date.txt").write_text(bad_date, encoding="utf-8")
    (drop / "latin1.txt").write_bytes("Thông báo".encode("utf-16"))
    (drop / "[nháp] bài.txt").write_bytes((EXAMPLES / "003_a9878f5ad8bfa922.txt").read_bytes())
    (drop / "cms.jsonl").write_text(
        jsonl(cms("j1"), cms("j2", published_at="hôm qua"), cms("j3")), encoding="utf-8"
    )
    missing = tmp_path / "missing-folder"

    result = cli("import", str(drop), str(missing), cwd=tmp_path, database_url=database_url)
    assert result.returncode == 1
    assert result.stdout.strip() == "6 files: 3 created, 0 updated, 0 unchanged, 6 failed"
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 6, result.stderr
    assert all(line.startswith("failed ") for line in lines)
    by_file = {line.split(": ", 1)[0].removeprefix("failed "): line.split(": ", 1)[1] for line in lines}
    assert set(by_file) == {
        str(missing),
        str(drop / "no-date.txt"),
        str(drop / "bad-date.txt"),
        str(drop / "latin1.txt"),
        str(drop / "[nháp] bài.txt"),  # shown as it is, not eaten as console markup
        f"{drop / 'cms.jsonl'}:2",
    }
    assert by_file[str(missing)] == "no such file or folder"
    assert "Đăng lúc" in by_file[str(drop / "no-date.txt")]
    assert "Đăng lúc: [/] 10:00 31/02/2021" in by_file[str(drop / "bad-date.txt")]
    assert "UTF-8" in by_file[str(drop / "latin1.txt")]
    assert "file name" in by_file[str(drop / "[nháp] bài.txt")]
    assert "published_at" in by_file[f"{drop / 'cms.jsonl'}:2"]


def test_import_shows_names_as_text_and_never_reads_links_or_fifos_in_folders(
    tmp_path: Path, database_url: str
) -> None:
    """A name with terminal escape codes was printed raw; a FIFO would hang the import for good."""
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / ESCAPE_NAME).write_text("{not json\n", encoding="utf-8")
    (drop / ":thumbs_up: [bold]đậm.jsonl").write_text("{not json\n", encoding="utf-8")
    (tmp_path / "secret.jsonl").write_text(jsonl(cms("bi-mat")), encoding="utf-8")
    (drop / "link.jsonl").symlink_to(tmp_path / "secret.jsonl")
    make_fifo(drop / "ong.jsonl")
    (drop / "tot.jsonl").write_text(jsonl(cms("tot")), encoding="utf-8")

    result = cli("import", str(drop), cwd=tmp_path, database_url=database_url)
    assert result.returncode == 1
    assert result.stdout.strip() == "5 files: 1 created, 0 updated, 0 unchanged, 4 failed"
    assert no_controls(result.stderr), result.stderr
    assert sorted(result.stderr.splitlines()) == sorted(
        [
            f"failed {drop}/\\x1b[31mđỏ\\x1b[0m\\x1b]0;pwned\\x07 \\u202etxt.jsonl:1: not valid JSON: "
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            f"failed {drop}/:thumbs_up: [bold]đậm.jsonl:1: not valid JSON: "
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            f"failed {drop / 'link.jsonl'}: symbolic link, not followed",
            f"failed {drop / 'ong.jsonl'}: not a regular file (a FIFO)",
        ]
    )
    listed = cli("articles", "list", "--json", cwd=tmp_path, database_url=database_url)
    assert [row["id"] for row in json.loads(listed.stdout)] == ["tot"]


def test_subscriber_rows_and_names_are_echoed_as_text(tmp_path: Path) -> None:
    csv_file = tmp_path / "\x1b[2Jds[red].csv"
    csv_file.write_text("email,name\n[red]sai,Tên\ndung@example.org,Tên\n", encoding="utf-8")
    result = cli("subscribers", "import", str(csv_file), cwd=tmp_path)
    assert result.returncode == 1
    assert no_controls(result.stderr), result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"failed {tmp_path}/\\x1b[2Jds[red].csv:2: email: '[red]sai': ")

    gone = cli("subscribers", "remove", "\x1b]0;pwned\x07[bold]ai@example.org", cwd=tmp_path)
    assert gone.returncode == 1
    assert one_error_line(gone) == "error: no subscriber \\x1b]0;pwned\\x07[bold]ai@example.org"


def test_operators_read_english_where_residents_read_their_language(tmp_path: Path) -> None:
    """The subscribe form says what is wrong with an address in the page's language; the CLI says it
    to the operator in English, whatever the site's language."""
    result = cli("subscribers", "add", "ai@@xa.test", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        one_error_line(result)
        == "error: email: 'ai@@xa.test': The part of the email address before the @ is not valid."
    )
    rows = tmp_path / "ds.csv"
    rows.write_text("email\nkhong-co-a-con-cong\n", encoding="utf-8")
    imported = cli("subscribers", "import", str(rows), cwd=tmp_path)
    assert imported.stderr.splitlines() == [
        f"failed {rows}:2: email: 'khong-co-a-con-cong': The email address must look like name@domain.vn."
    ]


def test_subscribers_import_reads_a_regular_file_only(tmp_path: Path) -> None:
    fifo = make_fifo(tmp_path / "ds.csv")
    result = cli("subscribers", "import", str(fifo), cwd=tmp_path)
    assert result.returncode == 1
    assert one_error_line(result) == f"error: {fifo}: not a regular file (a FIFO)"


def test_subscribers_refuse_a_category_the_database_does_not_know(tmp_path: Path) -> None:
    """As the officials file does: once the database knows categories, `add` refuses another (exit 1,
    one line listing the known slugs) and `import` reports its row; a fresh database takes any."""
    assert cli("subscribers", "add", "ai@xa.test", "--categories", "nope", cwd=tmp_path).returncode == 0
    feed = tmp_path / "cms.jsonl"
    feed.write_text(jsonl(cms("j1", category="Thông báo")), encoding="utf-8")
    assert cli("import", str(feed), cwd=tmp_path).returncode == 0

    refused = cli("subscribers", "add", "binh@xa.test", "--categories", "thong-bao,nope", cwd=tmp_path)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert one_error_line(refused) == ("error: categories: 'nope': no such category (there are: thong-bao)")
    accepted = cli("subscribers", "add", "binh@xa.test", "--categories", "Thông báo", cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stderr
    rows = tmp_path / "ds.csv"
    rows.write_text("email,name,categories\nchi@xa.test,,nope\ndung@xa.test,,thong-bao\n", encoding="utf-8")
    imported = cli("subscribers", "import", str(rows), cwd=tmp_path)
    assert imported.returncode == 1
    assert imported.stderr.splitlines() == [
        f"failed {rows}:2: categories: 'nope': no such category (there are: thong-bao)"
    ]
    assert imported.stdout.strip() == "1 added, 0 updated, 1 failed"


def test_import_of_nothing_succeeds(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("import", str(tmp_path / "empty"), cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip() == "0 files: 0 created, 0 updated, 0 unchanged, 0 failed"


# --- articles and categories --------------------------------------------------------------------------


def test_articles_and_categories(tmp_path: Path, database_url: str) -> None:
    """One import (the samples, plus CMS lines with a URL, one scheduled, one withdrawn), then the queries."""
    feed = tmp_path / "cms.jsonl"
    feed.write_text(
        jsonl(
            cms(
                "j-url", url="https://thoxuan.thanhhoa.gov.vn/bai/1", author="Lê Hải", office="Phòng Văn hóa"
            ),
            cms("j-future", published_at="2100-01-01T08:00:00+07:00"),
            cms("j-withdrawn", status="withdrawn", category="Thông báo"),
        ),
        encoding="utf-8",
    )
    imported = cli("import", str(EXAMPLES), str(feed), cwd=tmp_path, database_url=database_url)
    assert imported.returncode == 0, imported.stderr

    # articles list --json: every article with its state, times in the site's zone
    result = cli("articles", "list", "--json", cwd=tmp_path, database_url=database_url)
    assert (result.returncode, result.stderr) == (0, "")
    rows = json.loads(result.stdout)
    assert len(rows) == 15
    by_id = {row["id"]: row for row in rows}
    assert rows[0]["id"] == "j-future"  # newest first
    assert by_id["000_7aa2cdb3d5133083"] == {
        "id": "000_7aa2cdb3d5133083",
        "title": "Hội nghị tổng kết công tác Quốc phòng - An ninh năm 2020, triển khai nhiệm vụ năm 2021",
        "category": "chien-luoc-dinh-huong-quy-hoach",
        "category_name": "Chiến lược - Định Hướng - Quy hoạch",
        "published_at": "2020-12-18T15:50:13+07:00",
        "updated_at": "2020-12-18T15:50:13+07:00",
        "status": "published",
        "author": "Lê Hải",
        "office": "Trung tâm VHTT, TT và DL Thọ Xuân",
        "summary": by_id["000_7aa2cdb3d5133083"]["summary"],
        "url": f"{BASE_URL}/a/000_7aa2cdb3d5133083",
    }
    assert by_id["j-url"]["url"] == "https://thoxuan.thanhhoa.gov.vn/bai/1"
    assert (by_id["j-url"]["author"], by_id["j-url"]["office"]) == ("Lê Hải", "Phòng Văn hóa")
    assert by_id["j-url"]["title"] == "[Tin nhanh] Bài j-url"
    assert by_id["j-future"]["status"] == "scheduled"
    assert by_id["j-future"]["published_at"] == "2100-01-01T08:00:00+07:00"
    assert by_id["j-withdrawn"]["status"] == "withdrawn"
    assert {row["status"] for row in rows} == {"published", "scheduled", "withdrawn"}
    for row in rows:
        assert row["published_at"].endswith("+07:00") and row["updated_at"].endswith("+07:00")
        assert set(row) >= {"id", "title", "category", "category_name", "published_at", "updated_at"}
        assert set(row) >= {"status", "author", "url"}

    # --category SLUG
    result = cli(
        "articles", "list", "--json", "--category", "thong-bao", cwd=tmp_path, database_url=database_url
    )
    assert result.returncode == 0, result.stderr
    assert [row["id"] for row in json.loads(result.stdout)] == [
        "j-withdrawn",
        "003_a9878f5ad8bfa922",
        "002_ab0b6d3076b1f9a6",
        "001_9685aab5f3c71f64",
    ]
    result = cli("articles", "list", "--category", "[khong-co]", cwd=tmp_path, database_url=database_url)
    assert result.returncode == 1
    assert "[khong-co]" in one_error_line(result)

    # categories list --json: visible articles only
    result = cli("categories", "list", "--json", cwd=tmp_path, database_url=database_url)
    assert (result.returncode, result.stderr) == (0, "")
    cats = json.loads(result.stdout)
    assert [row["slug"] for row in cats] == sorted(row["slug"] for row in cats)
    by_slug = {row["slug"]: row for row in cats}
    assert by_slug["thong-bao"] == {
        "slug": "thong-bao",
        "name": "Thông báo",
        "name_en": None,
        "articles": 3,
    }  # not the withdrawn
    assert by_slug["tin-tuc-su-kien"] == {
        "slug": "tin-tuc-su-kien",
        "name": "Tin tức - Sự kiện",
        "name_en": None,
        "articles": 2,
    }
    assert by_slug["chien-luoc-dinh-huong-quy-hoach"]["name"] == "Chiến lược - Định Hướng - Quy hoạch"
    assert sum(row["articles"] for row in cats) == 13


def header(table: str) -> list[str]:
    return table.splitlines()[0].split()


def test_tables_and_configured_category_names(tmp_path: Path) -> None:
    feed = tmp_path / "cms.jsonl"
    feed.write_text(jsonl(cms("j1", category="Thông báo")), encoding="utf-8")
    (tmp_path / "names.toml").write_text('[categories]\n"thong-bao" = "Thông báo chung"\n', encoding="utf-8")
    env = {"SYNDICATOR_CONFIG": str(tmp_path / "names.toml"), "COLUMNS": "200"}
    assert cli("import", str(feed), cwd=tmp_path, env=env).returncode == 0

    table = cli("articles", "list", cwd=tmp_path, env=env)
    assert (table.returncode, table.stderr) == (0, "")
    assert "[Tin nhanh] Bài j1" in table.stdout  # text, not console markup
    assert "2021-03-01 08:00+07:00" in table.stdout  # ISO 8601 in the site's zone, as --at takes it
    # an operator's table speaks English; what it lists (titles, names) is content and stays as written
    assert header(table.stdout) == ["id", "published", "status", "category", "title"]
    table = cli("categories", "list", cwd=tmp_path, env=env)
    assert header(table.stdout) == ["slug", "name", "articles"]
    assert "Thông báo chung" in table.stdout
    assert cli("subscribers", "add", "ai@xa.test", "--name", "Lê Hải", cwd=tmp_path, env=env).returncode == 0
    table = cli("subscribers", "list", cwd=tmp_path, env=env)
    columns = ["email", "name", "status", "source", "categories", "frequency", "language"]
    assert header(table.stdout) == columns
    assert "Lê Hải" in table.stdout

    result = cli("categories", "list", "--json", cwd=tmp_path, env=env)
    assert json.loads(result.stdout) == [
        {"slug": "thong-bao", "name": "Thông báo chung", "name_en": None, "articles": 1}
    ]
    result = cli("articles", "list", "--json", cwd=tmp_path, env=env)
    assert [a["category_name"] for a in json.loads(result.stdout)] == ["Thông báo chung"]


# --- db upgrade and schema states ------------------------------------------------------------------


def test_db_upgrade_is_idempotent(tmp_path: Path, database_url: str) -> None:
    head = head_revision()
    first = cli("db", "upgrade", cwd=tmp_path, database_url=database_url)
    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout.strip() == f"database at revision {head} (was empty)"
    again = cli("db", "upgrade", cwd=tmp_path, database_url=database_url)
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout.strip() == f"database at revision {head}"
    listed = cli("articles", "list", "--json", cwd=tmp_path, database_url=database_url)
    assert (listed.returncode, json.loads(listed.stdout)) == (0, [])


def test_commands_create_the_schema_in_an_empty_database(tmp_path: Path, database_url: str) -> None:
    result = cli("categories", "list", "--json", cwd=tmp_path, database_url=database_url)
    assert (result.returncode, result.stderr, json.loads(result.stdout)) == (0, "", [])


def test_an_outdated_schema_asks_for_db_upgrade(tmp_path: Path) -> None:
    """(Both dialects: tests/test_store.py.)"""
    database_url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_store_engine(database_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    finally:
        engine.dispose()
    result = cli("articles", "list", cwd=tmp_path, database_url=database_url)
    assert result.returncode == 2
    assert "syndicator db upgrade" in one_error_line(result)
    assert cli("import", str(EXAMPLES), cwd=tmp_path, database_url=database_url).returncode == 2


def test_the_default_sqlite_database_goes_under_var(tmp_path: Path) -> None:
    result = cli("import", str(EXAMPLES / "000_7aa2cdb3d5133083.txt"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "syndicator.db").is_file()


def test_a_sqlite_database_under_a_plain_file(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    url = f"sqlite:///{tmp_path / 'plain' / 'x.db'}"
    for args in (["categories", "list"], ["db", "upgrade"]):
        result = cli(*args, cwd=tmp_path, database_url=url)
        assert result.returncode == 2
        assert "cannot create the folder" in one_error_line(result)


# --- bad settings: exit 2, one line naming the setting, no traceback ----------------------------------


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SYNDICATOR_FEEDS__MAX_ENTRIES": "0"}, "SYNDICATOR_FEEDS__MAX_ENTRIES"),
        ({"SYNDICATOR_DATABASE_URL": "mysql://x"}, "SYNDICATOR_DATABASE_URL"),
        ({"SYNDICATOR_BASE_URL": "notaurl"}, "SYNDICATOR_BASE_URL"),
        ({"SYNDICATOR_SITE__TIMEZONE": "Mars/Base"}, "SYNDICATOR_SITE__TIMEZONE"),
        ({"SYNDICATOR_SECRET_KEY": "[red]short"}, "SYNDICATOR_SECRET_KEY"),  # shown as text, not markup
    ],
)
def test_a_bad_setting_in_the_environment(tmp_path: Path, env: dict[str, str], named: str) -> None:
    result = cli("categories", "list", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert named in one_error_line(result)
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("bogus = 1\n", "bogus"),
        ("[feeds]\nmax_entrys = 30\n", "feeds.max_entrys"),
        ("[feeds\nmax_entries = 30\n", "settings.toml"),
    ],
)
def test_a_bad_toml_file(tmp_path: Path, content: str, named: str) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(content, encoding="utf-8")
    result = cli("categories", "list", cwd=tmp_path, env={"SYNDICATOR_CONFIG": str(path)})
    assert result.returncode == 2
    assert named in one_error_line(result)


@pytest.mark.parametrize("args", [["import", str(EXAMPLES)], ["db", "upgrade"], ["articles", "list"]])
def test_every_command_checks_the_settings_first(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("[feeds]\nmax_entries = 0\n", encoding="utf-8")
    result = cli(*args, cwd=tmp_path, env={"SYNDICATOR_CONFIG": str(path)})
    assert result.returncode == 2
    assert "feeds.max_entries" in one_error_line(result)
    assert not (tmp_path / "var").exists()  # nothing was touched


def test_a_missing_config_file(tmp_path: Path) -> None:
    result = cli("articles", "list", cwd=tmp_path, env={"SYNDICATOR_CONFIG": str(tmp_path / "nope.toml")})
    assert result.returncode == 2
    line = one_error_line(result)
    assert "SYNDICATOR_CONFIG" in line and "nope.toml" in line


def test_the_shipped_config_file_works(tmp_path: Path) -> None:
    env = {"SYNDICATOR_CONFIG": str(ROOT / "config" / "syndicator.toml")}
    result = cli("categories", "list", "--json", cwd=tmp_path, env=env)
    assert (result.returncode, result.stderr, json.loads(result.stdout)) == (0, "", [])


# --- files the user names, and option values -----------------------------------------------------------


def test_build_out_where_nothing_can_be_written(tmp_path: Path) -> None:
    """A file in the way of the tree, or a place no one may write: one line naming it, exit 1 (it was a
    traceback); the summary says "1 document", not "1 documents"."""
    source = tmp_path / "one.jsonl"
    source.write_text(jsonl(cms("mot")), encoding="utf-8")
    assert cli("import", str(source), cwd=tmp_path).returncode == 0
    in_the_way = tmp_path / "site"
    in_the_way.write_text("not a folder", encoding="utf-8")
    result = cli("build", "--out", str(in_the_way), cwd=tmp_path)
    assert result.returncode == 1
    assert one_error_line(result) == (
        f"error: {in_the_way}: cannot write the static tree: {in_the_way}/feeds.opml: Not a directory"
    )
    assert in_the_way.read_text(encoding="utf-8") == "not a folder"
    assert "channels checked" in result.stdout and " 1 documents " not in result.stdout
    # sysfs refuses new files to everyone, root included (a chmod'ed folder would not stop root)
    refused = cli("build", "--out", "/sys/syndicator-tree", cwd=tmp_path)
    assert refused.returncode == 1
    line = one_error_line(refused)
    assert line.startswith("error: /sys/syndicator-tree: cannot write the static tree: ")
    assert line.endswith(("Permission denied", "Operation not permitted", "Read-only file system"))


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("subscribers", "add", "ai@xa.test", "--frequency", "monthly"),
            "error: --frequency: 'monthly' is not immediate, daily or weekly",
        ),
        (  # one reading of --frequency for every command: an empty one is no frequency either
            ("subscribers", "add", "ai@xa.test", "--frequency", ""),
            "error: --frequency: '' is not immediate, daily or weekly",
        ),
        (
            ("subscribers", "add", "ai@xa.test", "--categories", "%%, !!"),
            "error: --categories: '%%, !!' names a category with no letters or digits",
        ),
        (
            ("worker", "--log-level", "loud"),
            "error: --log-level: 'loud' is not debug, info, warning or error",
        ),
        (("serve", "--log-level", "loud"), "error: --log-level: 'loud' is not debug, info, warning or error"),
    ],
)
def test_a_bad_option_value_is_a_usage_error(tmp_path: Path, args: tuple[str, ...], line: str) -> None:
    """Exit 2 and one line naming the option, as typer's own usage errors (it was exit 1, or a traceback
    for --log-level), before the database is touched."""
    result = cli(*args, cwd=tmp_path)
    assert (result.returncode, one_error_line(result), result.stdout) == (2, line, "")
    assert not (tmp_path / "var").exists()
