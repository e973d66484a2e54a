"""`categories list` shows the English names of [categories.en] (a column only when some are set, and
`name_en` in --json), and every command says once on stderr which slugs of [categories] or
[categories.en] the database has no category of. Real processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from tests.clikit import cli

NAMES = """
[categories]
"thong-bao" = "Thông báo chung"
"thong-bo" = "Thông bó"

[categories.en]
"thong-bao" = "Announcements"
"kinh-te" = "Economy"
"""


def _article(article_id: str, category: str) -> str:
    fields = {"id": article_id, "title": f"Bài {article_id}", "category": category}
    return json.dumps({**fields, "published_at": "2021-03-01T08:00:00", "body_text": "Nội dung."}) + "\n"


def _site(tmp_path: Path, database_url: str, config: str) -> dict[str, str]:
    (tmp_path / "names.toml").write_text(config, encoding="utf-8")
    env = {"SYNDICATOR_CONFIG": str(tmp_path / "names.toml"), "COLUMNS": "200"}
    feed = tmp_path / "feed.jsonl"
    feed.write_text(_article("j1", "Thông báo") + _article("j2", "Tin tức - Sự kiện"), encoding="utf-8")
    assert cli("import", str(feed), cwd=tmp_path, env=env, database_url=database_url).returncode == 0
    return env


def test_categories_list_shows_the_english_names(tmp_path: Path, database_url: str) -> None:
    env = _site(tmp_path, database_url, NAMES)
    listed = cli("categories", "list", "--json", cwd=tmp_path, env=env, database_url=database_url)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {"slug": "thong-bao", "name": "Thông báo chung", "name_en": "Announcements", "articles": 1},
        {"slug": "tin-tuc-su-kien", "name": "Tin tức - Sự kiện", "name_en": None, "articles": 1},
    ]
    table = cli("categories", "list", cwd=tmp_path, env=env, database_url=database_url)
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["slug", "name", "name_en", "articles"]
    assert "Announcements" in lines[1] and lines[2].split()[-1] == "1"


def test_unknown_slugs_of_the_settings_are_told_once_per_command(tmp_path: Path, database_url: str) -> None:
    env = _site(tmp_path, database_url, NAMES)
    # `articles list --json` opens the database twice (its links, then the articles): told once
    for args in (("categories", "list"), ("articles", "list", "--json")):
        result = cli(*args, cwd=tmp_path, env=env, database_url=database_url)
        assert result.returncode == 0
        assert result.stderr.splitlines() == [
            "note: [categories] names thong-bo, which the database has no category of (a mistyped slug? "
            "`syndicator categories list` shows the slugs)",
            "note: [categories.en] names kinh-te, which the database has no category of (a mistyped slug? "
            "`syndicator categories list` shows the slugs)",
        ], args


def test_no_english_names_no_column_and_no_note(tmp_path: Path, database_url: str) -> None:
    env = _site(tmp_path, database_url, '[categories]\n"thong-bao" = "Thông báo chung"\n')
    table = cli("categories", "list", cwd=tmp_path, env=env, database_url=database_url)
    assert (table.returncode, table.stderr) == (0, "")
    assert table.stdout.splitlines()[0].split() == ["slug", "name", "articles"]


def test_a_database_with_no_category_yet_is_not_compared(tmp_path: Path, database_url: str) -> None:
    (tmp_path / "names.toml").write_text(NAMES, encoding="utf-8")
    env = {"SYNDICATOR_CONFIG": str(tmp_path / "names.toml")}
    result = cli("categories", "list", "--json", cwd=tmp_path, env=env, database_url=database_url)
    assert (result.returncode, result.stderr, json.loads(result.stdout)) == (0, "", [])
