"""`python -m syndicator ...` as a real process, for the tests of the commands: an environment
without the developer's SYNDICATOR_* variables, and the one way to run a command and read its output."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.mailkit import BASE_URL, SECRET

TIMEOUT = 120  # seconds: an import of syndicator and a schema creation, on a loaded 2-core machine


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without SYNDICATOR_* variables, output in UTF-8, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATOR_")}
    env.update(PYTHONIOENCODING="utf-8", PYTHONUNBUFFERED="1", **settings)
    return env


def environment(database_url: str, home: Path, smtp_url: str | None = None, **extra: str) -> dict[str, str]:
    """A service of its own under `home` (var/, drop/), mailing through `smtp_url` or the maildir."""
    env = clean_environment(
        SYNDICATOR_DATABASE_URL=database_url,
        SYNDICATOR_BASE_URL=BASE_URL,
        SYNDICATOR_VAR_DIR=str(home / "var"),
        SYNDICATOR_ARTICLES_DIR=str(home / "drop"),
        SYNDICATOR_SECRET_KEY=SECRET,
    )
    if smtp_url:
        env["SYNDICATOR_SMTP_URL"] = smtp_url
    env.update(extra)
    return env


def syndicator(*args: str, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syndicator", *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The command's one line on stderr, which says `error: ...` (and no traceback)."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


CLI_BASE_URL = "https://rss.thoxuan.example"


def cli(
    *args: str, cwd: Path, database_url: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A command in `cwd` (its config/ and var/ are the test's), with a base_url so links are fixed."""
    environ = clean_environment(SYNDICATOR_BASE_URL=CLI_BASE_URL)
    if database_url is not None:
        environ["SYNDICATOR_DATABASE_URL"] = database_url
    environ.update(env or {})
    return syndicator(*args, env=environ, cwd=cwd)


def syndicator_at(
    *args: str, database_url: str, home: Path, smtp_url: str = ""
) -> subprocess.CompletedProcess[str]:
    """A command run in `home`, as the service of `environment(database_url, home, smtp_url)`."""
    return syndicator(*args, env=environment(database_url, home, smtp_url or None), cwd=home)
