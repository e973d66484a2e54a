"""`syndicator admin`: the console's accounts and its audit log, from a shell.

Every change is written to the audit log as "cli:<os user>". A password is read from a prompt twice
(hidden) on a terminal, or as one line of standard input otherwise (`... < file`, a pipe), never from
an argument (it would be kept in the shell's history and shown by `ps`). Its own small helpers rather
than cli.py's: cli.py adds this app, so importing it back would be a cycle.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from syndicator import access, clock
from syndicator.accounts import InvalidAccount, Role
from syndicator.accounts import username as checked_username
from syndicator.config import ConfigError, Settings, load_settings
from syndicator.printable import printable
from syndicator.store import Store, StoreError

admin_app = typer.Typer(help="Manage the console's accounts and read its audit log.", no_args_is_help=True)

USERNAME_HELP = "The account's username (ASCII letters, digits, '.', '_', '-'; stored in lower case)."
JSON_HELP = "Print JSON instead of a table."
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 400)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(Text.assemble(("error:", "bold red"), " ", printable(message)))
    raise typer.Exit(code)


def _actor() -> str:
    try:
        who = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a bare container)
        who = "unknown"
    return f"cli:{who}"


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        _fail(str(error))


@contextmanager
def _store(config: Settings | None = None) -> Iterator[Store]:
    config = config or _settings()
    try:
        store = Store.open(config.database_url, config.categories)
    except StoreError as error:
        _fail(str(error))
    try:
        yield store
    finally:
        store.close()


def _password() -> str:
    """Twice from a hidden prompt on a terminal; else one line of standard input."""
    if sys.stdin.isatty():
        typed: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return typed
    line = sys.stdin.readline()
    if not line:
        _fail("no password on standard input (give it as one line)")
    return line.rstrip("\r\n")


@admin_app.command("add-user")
def add_user(
    username: Annotated[str, typer.Argument(help=USERNAME_HELP)],
    role: Annotated[Role, typer.Option(help="What the account may do: viewer, editor or admin.")],
) -> None:
    """Create a console account (the password is asked for, or read from standard input)."""
    try:
        name = checked_username(username)  # the name and the settings before the password is asked for
        config = _settings()
        password = _password()
        with _store(config) as store:
            account = access.add_account(store, name, role, password, clock.utcnow(), _actor())
    except InvalidAccount as error:
        _fail(str(error))
    except access.AccountExists:
        _fail(f"an account {printable(username)} exists already", 1)
    stdout.print(Text(f"added {printable(account.username)} ({account.role.value})"))


@admin_app.command("list-users")
def list_users(as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """List the console accounts and their roles."""
    with _store() as store:
        found = access.accounts(store)
    if as_json:
        rows = [
            {
                "username": a.username,
                "role": a.role.value,
                "created_at": a.created_at.isoformat(),
                "password_changed_at": a.password_changed_at.isoformat(),
            }
            for a in found
        ]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(box=None)
    for column in ("username", "role", "created", "password changed"):
        table.add_column(column)
    for a in found:
        table.add_row(
            a.username, a.role.value, a.created_at.isoformat(timespec="seconds"),
            a.password_changed_at.isoformat(timespec="seconds"),
        )  # fmt: skip
    stdout.print(table)


@admin_app.command("set-password")
def set_password(username: Annotated[str, typer.Argument(help=USERNAME_HELP)]) -> None:
    """Give an account a new password; every session of it ends (it is logged out everywhere)."""
    try:
        name = checked_username(username)
        with _store() as store:
            if access.account(store, name) is None:
                _fail(f"no account {printable(name)}", 1)
            ended = access.set_password(store, name, _password(), clock.utcnow(), _actor())
    except InvalidAccount as error:
        _fail(str(error))
    except access.UnknownAccount:
        _fail(f"no account {printable(username)}", 1)
    stdout.print(Text(f"password of {name} changed; {ended} session{'' if ended == 1 else 's'} ended"))


@admin_app.command("set-role")
def set_role(
    username: Annotated[str, typer.Argument(help=USERNAME_HELP)],
    role: Annotated[Role, typer.Option(help="What the account may do: viewer, editor or admin.")],
) -> None:
    """Give an account another role (its sessions go on, with the new role from their next request)."""
    try:
        name = checked_username(username)
        with _store() as store:
            account = access.set_role(store, name, role, clock.utcnow(), _actor())
    except InvalidAccount as error:
        _fail(str(error))
    except access.UnknownAccount:
        _fail(f"no account {printable(username)}", 1)
    stdout.print(Text(f"{account.username} is now {account.role.value}"))


@admin_app.command("remove-user")
def remove_user(username: Annotated[str, typer.Argument(help=USERNAME_HELP)]) -> None:
    """Remove a console account; every session of it ends."""
    try:
        name = checked_username(username)
        with _store() as store:
            access.remove_account(store, name, clock.utcnow(), _actor())
    except InvalidAccount as error:
        _fail(str(error))
    except access.UnknownAccount:
        _fail(f"no account {printable(username)}", 1)
    stdout.print(Text(f"removed {name}"))


@admin_app.command("audit")
def audit(
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="How many entries, newest first.")] = 50,
) -> None:
    """Show the audit log: who changed what in the console or with these commands, when, from where."""
    with _store() as store:
        entries, total = access.audit(store, limit=limit)
    if as_json:
        rows = [
            {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "detail": e.detail,
                "address": e.address,
            }
            for e in entries
        ]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(box=None)
    for column in ("at", "actor", "action", "target", "detail", "address"):
        table.add_column(column, overflow="fold")
    for e in entries:
        cells = (e.at.isoformat(timespec="seconds"), e.actor, e.action, e.target, e.detail, e.address)
        table.add_row(*(Text(printable(cell or "")) for cell in cells))
    stdout.print(table)
    if total > len(entries):
        err.print(f"{len(entries)} of {total} entries (--limit for more)")
