"""Console accounts, their server-side sessions, and failed logins (for throttling), in the database so
that every instance shares them. A session is stored by the hash of its id (accounts.digest); failed
logins by keyed hashes of the username and the client's address (accounts.keyed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from syndicator.accounts import Account, Role, Signed
from syndicator.store.schema import accounts, console_sessions, login_failures


class AccountExists(Exception):
    """An account of that username is there already."""


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        created_at=row.created_at,
        password_changed_at=row.password_changed_at,
    )


_COLUMNS = (
    accounts.c.id,
    accounts.c.username,
    accounts.c.role,
    accounts.c.created_at,
    accounts.c.password_changed_at,
)


def add(conn: Connection, username: str, role: Role, password_hash: str, now: datetime) -> Account:
    """A new account (AccountExists when the username is taken, a race with another writer included)."""
    if by_username(conn, username) is not None:
        raise AccountExists(username)
    try:
        with conn.begin_nested():
            new_id = conn.execute(
                insert(accounts)
                .values(
                    username=username,
                    role=role.value,
                    password_hash=password_hash,
                    created_at=now,
                    password_changed_at=now,
                )
                .returning(accounts.c.id)
            ).scalar_one()
    except IntegrityError:
        raise AccountExists(username) from None
    return Account(new_id, username, role, now, now)


def by_username(conn: Connection, username: str) -> Account | None:
    row = conn.execute(select(*_COLUMNS).where(accounts.c.username == username)).first()
    return _account(row) if row else None


def with_hash(conn: Connection, username: str) -> tuple[Account, str] | None:
    """The account and its stored password hash (for a login only)."""
    row = conn.execute(
        select(*_COLUMNS, accounts.c.password_hash).where(accounts.c.username == username)
    ).first()
    return (_account(row), str(row.password_hash)) if row else None


def listing(conn: Connection) -> list[Account]:
    return [_account(row) for row in conn.execute(select(*_COLUMNS).order_by(accounts.c.username))]


def set_hash(conn: Connection, account_id: int, password_hash: str, now: datetime | None) -> None:
    """A new password hash; `now` when the password itself changed (None: a rehash of the same one)."""
    values: dict[str, Any] = {"password_hash": password_hash}
    if now is not None:
        values["password_changed_at"] = now
    conn.execute(update(accounts).where(accounts.c.id == account_id).values(**values))


def set_role(conn: Connection, account_id: int, role: Role) -> None:
    conn.execute(update(accounts).where(accounts.c.id == account_id).values(role=role.value))


def remove(conn: Connection, account_id: int) -> None:
    end_sessions(conn, account_id)
    conn.execute(delete(accounts).where(accounts.c.id == account_id))


# -- sessions -------------------------------------------------------------------------------------------


def start_session(conn: Connection, account_id: int, digest: str, now: datetime) -> None:
    conn.execute(
        insert(console_sessions).values(
            digest=digest, account_id=account_id, created_at=now, last_seen_at=now
        )
    )


def session(conn: Connection, digest: str) -> Signed | None:
    row = conn.execute(
        select(
            *_COLUMNS,
            console_sessions.c.digest,
            console_sessions.c.created_at.label("session_created_at"),
            console_sessions.c.last_seen_at,
        )
        .join_from(console_sessions, accounts, console_sessions.c.account_id == accounts.c.id)
        .where(console_sessions.c.digest == digest)
    ).first()
    if row is None:
        return None
    return Signed(_account(row), row.digest, row.session_created_at, row.last_seen_at)


def touch(conn: Connection, digest: str, now: datetime) -> None:
    conn.execute(update(console_sessions).where(console_sessions.c.digest == digest).values(last_seen_at=now))


def end_session(conn: Connection, digest: str) -> None:
    conn.execute(delete(console_sessions).where(console_sessions.c.digest == digest))


def end_sessions(conn: Connection, account_id: int) -> int:
    """Ends every session of the account; how many there were."""
    return conn.execute(delete(console_sessions).where(console_sessions.c.account_id == account_id)).rowcount


def sessions_of(conn: Connection, account_id: int) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(console_sessions)
            .where(console_sessions.c.account_id == account_id)
        ).scalar_one()
    )


def prune_sessions(conn: Connection, idle_before: datetime, created_before: datetime) -> int:
    return conn.execute(
        delete(console_sessions).where(
            (console_sessions.c.last_seen_at < idle_before) | (console_sessions.c.created_at < created_before)
        )
    ).rowcount


# -- failed logins --------------------------------------------------------------------------------------


def serialise_logins(conn: Connection, keys: list[str]) -> None:
    """Makes the rest of this write transaction the only one counting and claiming failures of these
    keys (a username's, an address's) until it commits: on PostgreSQL a transaction-scoped advisory
    lock per key (taken in one order, so two logins sharing a key never deadlock); on SQLite the write
    transaction already holds the database's write lock from its BEGIN IMMEDIATE (database.py)."""
    if conn.dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        # 63 bits of the keyed hash (hex): a bigint lock of its own, apart from newsgate's and the leader's
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int(key[:16], 16) >> 1})


def record_failure(
    conn: Connection, username_key: str, address_key: str, now: datetime, keep_after: datetime
) -> None:
    """One failed login; failures from before `keep_after` (out of every window) are pruned."""
    conn.execute(delete(login_failures).where(login_failures.c.at < keep_after))
    conn.execute(insert(login_failures).values(username_key=username_key, address_key=address_key, at=now))


def failures_since(
    conn: Connection, *, since: datetime, username_key: str | None = None, address_key: str | None = None
) -> list[datetime]:
    """The times of the failures since `since` for a username or an address, oldest first."""
    statement = select(login_failures.c.at).where(login_failures.c.at > since)
    if username_key is not None:
        statement = statement.where(login_failures.c.username_key == username_key)
    if address_key is not None:
        statement = statement.where(login_failures.c.address_key == address_key)
    return [row.at for row in conn.execute(statement.order_by(login_failures.c.at))]


def clear_failures(conn: Connection, username_key: str) -> None:
    """After a successful login, that username's failures are forgotten."""
    conn.execute(delete(login_failures).where(login_failures.c.username_key == username_key))
