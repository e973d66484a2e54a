"""Who may use the console, and what they did: accounts (added, re-passworded, removed, given a role),
logins with throttling, server-side sessions with an idle and an absolute lifetime, and the audit log
of it all. Called alike by the CLI's `admin` commands and by the console (web/admin.py).

A login answers the same, after the same work, whether the username is unknown or the password wrong:
an unknown username is checked against a dummy Argon2 hash, and both count as a failure of that
username. Five failures of a username within 15 minutes lock that username (known or not) until the
oldest of them leaves the window; an address has a larger limit of its own. Failures are kept in the
database (several instances share them), by keyed hashes, and pruned as they leave the window.
"""

from __future__ import annotations

import math
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Connection

from syndicator.accounts import (
    PASSWORD_MAX,
    USERNAME_CHARS,
    Account,
    AuditEntry,
    InvalidAccount,
    Passwords,
    Role,
    Signed,
    digest,
    keyed,
)
from syndicator.accounts import password as checked_password
from syndicator.accounts import role as checked_role
from syndicator.accounts import username as checked_username
from syndicator.store import Store
from syndicator.store import accounts as store_accounts
from syndicator.store import audit as store_audit
from syndicator.store.accounts import AccountExists

__all__ = [
    "AccountExists",
    "InvalidAccount",
    "LoggedIn",
    "OwnRole",
    "Refused",
    "Throttled",
    "UnknownAccount",
]

IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=12)
FAILURE_WINDOW = timedelta(minutes=15)
FAILURES_PER_USERNAME = 5
FAILURES_PER_ADDRESS = 20
TOUCH_EVERY = timedelta(minutes=1)  # a session's last use is written at most this often
SESSION_ID_CHARS = 43  # secrets.token_urlsafe(32)


@cache
def default_passwords() -> Passwords:
    """Argon2id with argon2-cffi's defaults, made once per process (it hashes its dummy at creation)."""
    return Passwords()


class UnknownAccount(Exception):
    """No account of that username."""


class OwnRole(Exception):
    """A console account may not lower its own role (another admin must): it could lock the office out."""


@dataclass(frozen=True, slots=True)
class LoggedIn:
    account: Account
    session_id: str  # for the cookie only: the store keeps its hash


@dataclass(frozen=True, slots=True)
class Refused:
    """Unknown username or wrong password: one answer for both."""


@dataclass(frozen=True, slots=True)
class Throttled:
    retry_after: int  # seconds


# -- accounts -------------------------------------------------------------------------------------------


def add_account(
    store: Store,
    raw_username: str,
    raw_role: str | Role,
    raw_password: str,
    now: datetime,
    actor: str,
    address: str | None = None,
    passwords: Passwords | None = None,
) -> Account:
    name = checked_username(raw_username)
    role = raw_role if isinstance(raw_role, Role) else checked_role(raw_role)
    hashed = (passwords or default_passwords()).hash(checked_password(raw_password))
    with store.writing() as conn:
        account = store_accounts.add(conn, name, role, hashed, now)
        store_audit.record(conn, AuditEntry(now, actor, "account.add", name, f"role={role.value}", address))
    return account


def accounts(store: Store) -> list[Account]:
    with store.reading() as conn:
        return store_accounts.listing(conn)


def account(store: Store, raw_username: str) -> Account | None:
    try:
        name = checked_username(raw_username)
    except InvalidAccount:
        return None
    with store.reading() as conn:
        return store_accounts.by_username(conn, name)


def _existing(conn: Connection, raw_username: str) -> Account:
    found = store_accounts.by_username(conn, checked_username(raw_username))
    if found is None:
        raise UnknownAccount(raw_username)
    return found


def set_password(
    store: Store,
    raw_username: str,
    raw_password: str,
    now: datetime,
    actor: str,
    address: str | None = None,
    passwords: Passwords | None = None,
) -> int:
    """A new password; every session of the account ends. How many sessions ended."""
    hashed = (passwords or default_passwords()).hash(checked_password(raw_password))
    with store.writing() as conn:
        found = _existing(conn, raw_username)
        store_accounts.set_hash(conn, found.id, hashed, now)
        ended = store_accounts.end_sessions(conn, found.id)
        store_audit.record(
            conn,
            AuditEntry(now, actor, "account.password", found.username, f"sessions_ended={ended}", address),
        )
    return ended


def remove_account(
    store: Store, raw_username: str, now: datetime, actor: str, address: str | None = None
) -> None:
    """The account goes, and every session of it with it."""
    with store.writing() as conn:
        found = _existing(conn, raw_username)
        store_accounts.remove(conn, found.id)
        store_audit.record(conn, AuditEntry(now, actor, "account.remove", found.username, None, address))


def set_role(
    store: Store,
    raw_username: str,
    role: Role,
    now: datetime,
    actor: str | Account,
    address: str | None = None,
) -> Account:
    """Gives the account `role`. `actor` is who does it: a console account (its username goes in the
    audit log) or a name such as "cli:<os user>". A console account never lowers its own role (OwnRole):
    compared by account id after the lookup, so no spelling of its name gets round it."""
    with store.writing() as conn:
        found = _existing(conn, raw_username)
        if isinstance(actor, Account) and actor.id == found.id and role.rank < found.role.rank:
            raise OwnRole(found.username)
        if found.role is not role:
            store_accounts.set_role(conn, found.id, role)
            store_audit.record(
                conn,
                AuditEntry(
                    now, _name(actor), "account.role", found.username, f"{found.role.value}->{role.value}",
                    address,
                ),
            )  # fmt: skip
    return Account(found.id, found.username, role, found.created_at, found.password_changed_at)


def _name(actor: str | Account) -> str:
    return actor.username if isinstance(actor, Account) else actor


def end_sessions(
    store: Store, raw_username: str, now: datetime, actor: str, address: str | None = None
) -> int:
    """Signs the account out everywhere; how many sessions ended."""
    with store.writing() as conn:
        found = _existing(conn, raw_username)
        ended = store_accounts.end_sessions(conn, found.id)
        store_audit.record(
            conn,
            AuditEntry(
                now, actor, "account.sessions_ended", found.username, f"sessions_ended={ended}", address
            ),
        )
    return ended


# -- logins and sessions --------------------------------------------------------------------------------


def _wait(failures: list[datetime], limit: int, now: datetime) -> int:
    """0 when fewer than `limit` failures are in the window; else the seconds until one leaves it."""
    if len(failures) < limit:
        return 0
    lifts = failures[len(failures) - limit] + FAILURE_WINDOW
    return max(1, math.ceil((lifts - now).total_seconds()))


def login(
    store: Store,
    secret: str,
    raw_username: str,
    raw_password: str,
    address: str,
    now: datetime,
    passwords: Passwords | None = None,
) -> LoggedIn | Refused | Throttled:
    """Checks a login; on success a new session (its id for the cookie), never one the client had.

    The failure is claimed before the password is checked: in one write transaction, serialised per
    username and per address (store_accounts.serialise_logins), the recent failures are counted and,
    below both limits, a failure is written and committed; a success takes it back. So parallel
    guesses cannot all pass the count before any of them is written: five wrong ones of a username
    are checked, the rest are throttled."""
    hasher = passwords or default_passwords()
    typed = " ".join(raw_username.split()).lower()[: USERNAME_CHARS * 2]
    username_key = keyed(secret, "login-username", typed)
    address_key = keyed(secret, "login-address", address)
    try:
        name: str | None = checked_username(typed)
    except InvalidAccount:
        name = None  # no account can have it: answered as an unknown one
    with store.reading() as conn:  # a locked key is answered without waiting for the write lock
        early = _failures(conn, username_key, address_key, now)
    if early.wait:
        return Throttled(early.wait)
    with store.writing() as conn:
        claim = _claim(conn, username_key, address_key, now)
        if isinstance(claim, Throttled):
            return claim
        found = store_accounts.with_hash(conn, name) if name is not None else None
    typed_password = unicodedata.normalize("NFC", raw_password[: PASSWORD_MAX * 4 + 1])
    if len(typed_password) > PASSWORD_MAX:  # no account has it: the dummy's work, and a failure
        matched = hasher.verify(None, "")
    else:
        matched = hasher.verify(found[1] if found is not None else None, typed_password)
    if found is None or not matched:
        _failed(store, found[0] if found is not None else None, claim, address, now)
        return Refused()
    account, hashed = found
    session_id = secrets.token_urlsafe(32)
    with store.writing() as conn:
        store_accounts.clear_failures(conn, username_key)  # the claimed failure with the earlier ones
        if hasher.needs_rehash(hashed):
            store_accounts.set_hash(conn, account.id, hasher.hash(typed_password), None)
        store_accounts.prune_sessions(conn, idle_before=now - IDLE, created_before=now - LIFETIME)
        store_accounts.start_session(conn, account.id, digest(session_id), now)
        store_audit.record(conn, AuditEntry(now, account.username, "login", None, None, address))
    return LoggedIn(account, session_id)


@dataclass(frozen=True, slots=True)
class _Claimed:
    """A failure written ahead of the password check, and which limits it reaches should it stand."""

    locks: tuple[str, ...]  # "username", "address": the keys this failure locks if the password is wrong


@dataclass(frozen=True, slots=True)
class _Failures:
    by_username: int
    by_address: int
    wait: int  # seconds until neither key is locked; 0 when neither is


def _failures(conn: Connection, username_key: str, address_key: str, now: datetime) -> _Failures:
    since = now - FAILURE_WINDOW
    by_username = store_accounts.failures_since(conn, since=since, username_key=username_key)
    by_address = store_accounts.failures_since(conn, since=since, address_key=address_key)
    wait = max(_wait(by_username, FAILURES_PER_USERNAME, now), _wait(by_address, FAILURES_PER_ADDRESS, now))
    return _Failures(len(by_username), len(by_address), wait)


def _claim(conn: Connection, username_key: str, address_key: str, now: datetime) -> _Claimed | Throttled:
    """Counts the failures of both keys and, below both limits, writes one now (in the caller's write
    transaction, serialised per key); Throttled when either key is at its limit."""
    store_accounts.serialise_logins(conn, [username_key, address_key])
    counted = _failures(conn, username_key, address_key, now)
    if counted.wait:
        return Throttled(counted.wait)
    store_accounts.record_failure(conn, username_key, address_key, now, keep_after=now - FAILURE_WINDOW)
    locks = (("username",) if counted.by_username + 1 == FAILURES_PER_USERNAME else ()) + (
        ("address",) if counted.by_address + 1 == FAILURES_PER_ADDRESS else ()
    )
    return _Claimed(locks)


def _failed(store: Store, found: Account | None, claim: _Claimed, address: str, now: datetime) -> None:
    """The audit of a refused login: its claimed failure stands. What was typed as a username is
    written only when it names an account (a password typed in the wrong field must not land in the
    log); one `login.throttled` entry when this failure locks the username or the address."""
    actor = found.username if found is not None else "?"
    with store.writing() as conn:
        store_audit.record(conn, AuditEntry(now, actor, "login.failed", None, None, address))
        if claim.locks:
            detail = f"locked={','.join(claim.locks)}"
            store_audit.record(conn, AuditEntry(now, actor, "login.throttled", None, detail, address))


def signed_in(store: Store, session_id: str | None, now: datetime) -> Signed | None:
    """The live session of this id, its last use noted; None when unknown, idle too long or too old
    (an expired session is ended on the server too)."""
    if not session_id or len(session_id) != SESSION_ID_CHARS or not session_id.isascii():
        return None
    key = digest(session_id)
    with store.reading() as conn:
        found = store_accounts.session(conn, key)
    if found is None:
        return None
    if now - found.last_seen_at >= IDLE or now - found.created_at >= LIFETIME:
        with store.writing() as conn:
            store_accounts.end_session(conn, key)
        return None
    if now - found.last_seen_at >= TOUCH_EVERY:
        with store.writing() as conn:
            store_accounts.touch(conn, key, now)
    return found


def logout(store: Store, who: Signed, now: datetime, address: str | None) -> None:
    with store.writing() as conn:
        store_accounts.end_session(conn, who.digest)
        store_audit.record(conn, AuditEntry(now, who.account.username, "logout", None, None, address))


def sessions_of(store: Store, raw_username: str) -> int:
    with store.reading() as conn:
        return store_accounts.sessions_of(conn, _existing(conn, raw_username).id)


# -- the audit log --------------------------------------------------------------------------------------


def audit(
    store: Store, *, limit: int, offset: int = 0, chosen: store_audit.Filter = store_audit.EVERY
) -> tuple[list[AuditEntry], int]:
    """A page of the audit log (the entries `chosen` matches), newest first, and how many match in all:
    the console's page and `syndicator admin audit` alike."""
    with store.reading() as conn:
        found = store_audit.entries(conn, limit=limit, offset=offset, chosen=chosen)
        return found, store_audit.count(conn, chosen)


def record(store: Store, entry: AuditEntry) -> None:
    """An entry of something done outside this module (a console or CLI action of another topic)."""
    with store.writing() as conn:
        store_audit.record(conn, entry)
