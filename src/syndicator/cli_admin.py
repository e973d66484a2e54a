"""`syndicator admin`: the console's accounts and its audit log, from a shell.

Every change is written to the audit log as "cli:<os user>". A password is read from a prompt twice
(hidden) on a terminal, or as one line of standard input otherwise (`... < file`, a pipe), never from
an argument (it would be kept in the shell's history and shown by `ps`). Consoles, errors, settings
and the store as every command has them come from cliout.py (cli.py adds this app: no importing it).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from syndicator import access, clock
from syndicator.accounts import InvalidAccount, Role
from syndicator.accounts import username as checked_username
from syndicator.cliout import (
    JSON_HELP,
    actor,
    counted,
    err,
    fail,
    moment,
    opened_store,
    print_json,
    said,
    settings,
    shown,
    stdout,
)
from syndicator.config import Settings
from syndicator.presenters import local_iso
from syndicator.printable import printable
from syndicator.store import Store
from syndicator.store import audit as store_audit
from syndicator.web.admin import ACTION_NAMES

admin_app = typer.Typer(help="Manage the console's accounts and read its audit log.", no_args_is_help=True)

USERNAME_HELP = "The account's username (ASCII letters, digits, '.', '_', '-'; stored in lower case)."


def _password() -> str:
    """Twice from a hidden prompt on a terminal; else one line of standard input."""
    if sys.stdin.isatty():
        typed: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return typed
    line = sys.stdin.readline()
    if not line:
        fail("no password on standard input (give it as one line)")
    return line.rstrip("\r\n")


@contextmanager
def _account(username: str) -> Iterator[tuple[str, Store]]:
    """The checked username and the store, for a command on an existing account: a bad username or
    an unknown account is one line and an exit (2 and 1)."""
    try:
        name = checked_username(username)
        with opened_store(settings(), note_categories=False) as store:
            yield name, store
    except InvalidAccount as error:
        fail(str(error))
    except access.UnknownAccount:
        fail(f"no account {printable(username)}", 1)


@admin_app.command("add-user")
def add_user(
    username: Annotated[str, typer.Argument(help=USERNAME_HELP)],
    role: Annotated[Role, typer.Option(help="What the account may do: viewer, editor or admin.")],
) -> None:
    """Create a console account (the password is asked for, or read from standard input)."""
    try:
        name = checked_username(username)  # the name and the settings before the password is asked for
        config = settings()
        password = _password()
        with opened_store(config, note_categories=False) as store:
            account = access.add_account(store, name, role, password, clock.utcnow(), actor())
    except InvalidAccount as error:
        fail(str(error))
    except access.AccountExists:
        fail(f"an account {printable(username)} exists already", 1)
    stdout.print(Text(f"added {printable(account.username)} ({account.role.value})"))


@admin_app.command("list-users")
def list_users(as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """List the console accounts and their roles (times in site.timezone)."""
    config = settings()
    with opened_store(config, note_categories=False) as store:
        found = access.accounts(store)
    if as_json:
        print_json(
            [
                {
                    "username": a.username,
                    "role": a.role.value,
                    "created_at": local_iso(a.created_at, config),
                    "password_changed_at": local_iso(a.password_changed_at, config),
                }
                for a in found
            ]
        )
        return
    table = Table(box=None)
    for column in ("username", "role", "created", "password changed"):
        table.add_column(column)
    for a in found:
        table.add_row(
            a.username, a.role.value, shown(a.created_at, config, "seconds"),
            shown(a.password_changed_at, config, "seconds"),
        )  # fmt: skip
    stdout.print(table)


@admin_app.command("set-password")
def set_password(username: Annotated[str, typer.Argument(help=USERNAME_HELP)]) -> None:
    """Give an account a new password; every session of it ends (it is logged out everywhere)."""
    with _account(username) as (name, store):
        if access.account(store, name) is None:  # before the password is asked for
            fail(f"no account {printable(name)}", 1)
        ended = access.set_password(store, name, _password(), clock.utcnow(), actor())
    stdout.print(Text(f"password of {name} changed; {counted(ended, 'session')} ended"))


@admin_app.command("set-role")
def set_role(
    username: Annotated[str, typer.Argument(help=USERNAME_HELP)],
    role: Annotated[Role, typer.Option(help="What the account may do: viewer, editor or admin.")],
) -> None:
    """Give an account another role (its sessions go on, with the new role from their next request)."""
    with _account(username) as (name, store):
        account = access.set_role(store, name, role, clock.utcnow(), actor())
    stdout.print(Text(f"{account.username} is now {account.role.value}"))


@admin_app.command("remove-user")
def remove_user(username: Annotated[str, typer.Argument(help=USERNAME_HELP)]) -> None:
    """Remove a console account; every session of it ends."""
    with _account(username) as (name, store):
        access.remove_account(store, name, clock.utcnow(), actor())
    stdout.print(Text(f"removed {name}"))


def _audit_filter(
    config: Settings, action: str | None, by: str | None, since: str | None, until: str | None
) -> store_audit.Filter:
    """The options as the store's filter: an unknown action, an actor too long or a range that ends
    before it starts is a usage error (exit 2), before the database is opened."""
    if action is not None and action not in ACTION_NAMES:
        fail(f"--action: no action {action!r} (known: {', '.join(sorted(ACTION_NAMES))})")
    if by is not None and (not by or len(by) > store_audit.ACTOR_CHARS or not by.isprintable()):
        fail(f"--actor: give a username or cli:<os user>, at most {store_audit.ACTOR_CHARS} characters")
    first = None if since is None else moment("--since", since, config)
    last = None if until is None else moment("--until", until, config)
    if first is not None and last is not None and last <= first:
        fail("--until must be after --since")
    return store_audit.Filter(action, by, first, last)


@admin_app.command("audit")
def audit(
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="How many entries, newest first.")] = 50,
    action: Annotated[
        str | None, typer.Option(help="Only this action (e.g. subscriber.update, login.failed).")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--actor", help="Only this actor: a console username, or cli:<os user>, exactly."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="From this ISO 8601 date or date-time on (site.timezone if naive).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Before this ISO 8601 date or date-time (site.timezone if naive).")
    ] = None,
) -> None:
    """Show the audit log: who changed what in the console or with these commands, when, from where.

    Times are in site.timezone. The filters are the console's (/admin/audit): they combine."""
    config = settings()
    chosen = _audit_filter(config, action, by, since, until)
    with opened_store(config, note_categories=False) as store:
        entries, total = access.audit(store, limit=limit, chosen=chosen)
    if as_json:
        print_json(
            [
                {
                    "at": local_iso(e.at, config),
                    "actor": e.actor,
                    "action": e.action,
                    "target": e.target,
                    "detail": e.detail,
                    "address": e.address,
                }
                for e in entries
            ]
        )
        return
    table = Table(box=None)
    for column in ("at", "actor", "action", "target", "detail", "address"):
        table.add_column(column, overflow="fold")
    for e in entries:
        cells = (shown(e.at, config, "seconds"), e.actor, e.action, e.target, e.detail, e.address)
        table.add_row(*(said(cell or "") for cell in cells))
    stdout.print(table)
    if total > len(entries):
        err.print(f"{len(entries)} of {total} entries (--limit for more)")
