"""What every `syndicator` command shares: its two consoles, the one-line error and exit, the settings
and the store as a command opens them, and how it shows a moment, a count, input and JSON.

`cli.py` and `cli_admin.py` both use it (cli.py adds cli_admin's app, so cli_admin cannot import cli)."""

from __future__ import annotations

import getpass
import json
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from syndicator.config import ConfigError, Settings, load_settings
from syndicator.printable import printable
from syndicator.store import Store, StoreError
from syndicator.text import counted as counted  # one copy (text.py), the commands take it from here

# piped into a file or another program, a table keeps whole lines rather than rich's 80 columns
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 400)
err = Console(stderr=True, soft_wrap=True)


def actor() -> str:
    """Who a command's audit entries name: `cli:<os user>` (cli.py's and cli_admin.py's one copy)."""
    try:
        who = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a bare container)
        who = "unknown"
    return f"cli:{who}"


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(Text.assemble(("error:", "bold red"), " ", printable(message)))
    raise typer.Exit(code)


def moment(option: str, value: str, config: Settings) -> datetime:
    """An ISO 8601 date or date-time given on the command line, read in the site's zone when naive."""
    try:
        found = datetime.fromisoformat(value)
    except ValueError as error:
        if re.match(r"\d{4}-\d{2}-\d{2}", value):  # shaped like a date, but no such day or time
            fail(f"{option}: {value!r} is not a valid date or time: {error}")
        fail(f"{option}: {value!r} is not an ISO 8601 date (YYYY-MM-DD) or date-time")
    return found if found.tzinfo else found.replace(tzinfo=config.tz)


def said(text: str, label: str = "", style: str = "red") -> Text:
    """Text that may hold input (a file name, a CSV cell) as the terminal should show it: no rich
    markup or emoji codes taken from it, control characters escaped."""
    escaped = Text(printable(text))
    return Text.assemble((label, style), " ", escaped) if label else escaped


def shown(moment: datetime, config: Settings, timespec: Literal["minutes", "seconds"] = "minutes") -> str:
    """A moment as operators read and type it: ISO 8601 in the site's zone, to the minute, with its
    offset (2026-11-29 06:30+07:00), so it can be given back to --at or --since as it is. A log's
    moments (the audit log) keep their seconds."""
    return moment.astimezone(config.tz).isoformat(sep=" ", timespec=timespec)


JSON_HELP = "Print a JSON array instead of a table."  # every --json of a listing


def print_json(rows: Any) -> None:
    sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")


def settings() -> Settings:
    """The settings, or a bad one named in one line and exit 2."""
    try:
        return load_settings()
    except ConfigError as error:
        fail(str(error))


@contextmanager
def opened_store(config: Settings, *, note_categories: bool = True) -> Iterator[Store]:
    """The store of `config`, closed when the command is done; one that cannot be opened is one line
    and exit 2. Unless `note_categories` is False (commands that never touch categories), unknown
    slugs of the settings are said once (`_note_unknown_categories`)."""
    try:
        store = Store.open(config.database_url, config.categories)
    except StoreError as error:
        fail(str(error))
    try:
        if note_categories:
            _note_unknown_categories(config, store)
        yield store
    finally:
        store.close()


_noted = threading.Event()  # the settings' unknown categories are told once per command


def new_command() -> None:
    """A command starts (cli's root callback): its notes are told again, also when one process runs
    several commands (a test's CliRunner)."""
    _noted.clear()


def _note_unknown_categories(config: Settings, store: Store) -> None:
    """Say on stderr, once per command, which slugs of [categories] or [categories.en] the database
    does not have: a mistyped slug would otherwise never show, silently. A database with no category
    yet (before the first import) is not compared."""
    if _noted.is_set() or not (config.categories or config.categories_en):
        return
    _noted.set()
    stored = store.category_names()
    if not stored:
        return
    for table, named in (("[categories]", config.categories), ("[categories.en]", config.categories_en)):
        unknown = sorted(set(named) - set(stored))
        if unknown:
            err.print(
                said(
                    f"note: {table} names {', '.join(unknown)}, which the database has no category of "
                    "(a mistyped slug? `syndicator categories list` shows the slugs)"
                )
            )
