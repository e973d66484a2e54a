"""Console accounts below the web: the rules (usernames, roles, passwords), the store (SQLite and
PostgreSQL: accounts, sessions, failed logins shared by instances and pruned, the audit log), migration
0013 up and down, and the `syndicator admin` commands run as real processes (a terminal's prompt too)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import subprocess
import sys
import termios
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect
from sqlalchemy import select as sql_select

from syndicator import access
from syndicator.accounts import (
    PASSWORD_MAX,
    InvalidAccount,
    Role,
    masked_address,
    password,
    role,
    username,
)
from syndicator.store import Store
from syndicator.store.database import alembic_config, create_store_engine, upgrade
from syndicator.store.schema import login_failures, metadata
from tests.consolekit import CHEAP, PASSWORD, make_account

SECRET = "test-secret-key-0123456789"
OURS = ("accounts", "console_sessions", "login_failures", "audit_log")


# -- rules ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("an", "an"), ("  Nguyen.Van_A-2 ", "nguyen.van_a-2"), ("9x", "9x"), ("a" * 64, "a" * 64)],
)
def test_a_username_is_trimmed_and_lower_cased(typed: str, stored: str) -> None:
    assert username(typed) == stored


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a" * 65, "longer than 64"),
        ("nguyễn", "ASCII letters"),
        ("an an", "ASCII letters"),
        ("-an", "starting with a letter or digit"),
        ("an@xa", "ASCII letters"),
        ("an\x1b[2J", "ASCII letters"),
    ],
)
def test_a_bad_username_says_which_rule(typed: str, says: str) -> None:
    with pytest.raises(InvalidAccount, match=says):
        username(typed)


def test_passwords_are_12_to_128_characters_of_anything() -> None:
    assert password("x" * 12) == "x" * 12
    assert password("mật khẩu dài") == "mật khẩu dài"  # 12 characters, not bytes
    with pytest.raises(InvalidAccount, match="shorter than 12"):
        password("e\u0301" * 6)  # twelve code points typed, six characters once composed
    with pytest.raises(InvalidAccount, match="shorter than 12"):
        password("x" * 11)
    assert password("x" * PASSWORD_MAX) == "x" * PASSWORD_MAX
    with pytest.raises(InvalidAccount, match="longer than 128"):
        password("x" * (PASSWORD_MAX + 1))


def test_roles_rise_from_viewer_to_admin() -> None:
    assert (
        Role.ADMIN.allows(Role.EDITOR) and Role.EDITOR.allows(Role.VIEWER) and Role.VIEWER.allows(Role.VIEWER)
    )
    assert not Role.VIEWER.allows(Role.EDITOR) and not Role.EDITOR.allows(Role.ADMIN)
    assert role(" Admin ") is Role.ADMIN
    with pytest.raises(InvalidAccount, match="one of viewer, editor, admin"):
        role("root")


@pytest.mark.parametrize(
    ("email", "shown"),
    [
        ("nguyenvan@gmail.com", "ng***@gmail.com"),
        ("ngvan@gmail.com", "n***@gmail.com"),
        ("an@xa.vn", "a***@xa.vn"),
        ("a@xa.vn", "***@xa.vn"),  # never the whole local part
        ('"a@b"@xa.vn', '"***@xa.vn'),
        ("khong-phai-dia-chi", "***"),
    ],
)
def test_an_address_is_masked_for_roles_without_personal_data(email: str, shown: str) -> None:
    assert masked_address(email) == shown
    assert Role.ADMIN.sees_personal_data
    assert not Role.EDITOR.sees_personal_data and not Role.VIEWER.sees_personal_data


# -- the store ------------------------------------------------------------------------------------------


def test_accounts_are_stored_once_per_username_and_listed(store: Store, now: datetime) -> None:
    make_account(store, "Bich", Role.EDITOR, now, passwords=CHEAP)
    make_account(store, "an", Role.ADMIN, now, passwords=CHEAP)
    with pytest.raises(access.AccountExists):
        make_account(store, "BICH", Role.VIEWER, now, passwords=CHEAP)
    assert [(a.username, a.role) for a in access.accounts(store)] == [
        ("an", Role.ADMIN),
        ("bich", Role.EDITOR),
    ]
    with pytest.raises(access.UnknownAccount):
        access.remove_account(store, "khong-co", now, "cli:root")
    access.remove_account(store, "an", now, "cli:root")
    assert [a.username for a in access.accounts(store)] == ["bich"]
    entries, total = access.audit(store, limit=10)
    assert total == 3
    assert [(e.actor, e.action, e.target, e.detail) for e in entries] == [
        ("cli:root", "account.remove", "an", None),
        ("test", "account.add", "an", "role=admin"),
        ("test", "account.add", "bich", "role=editor"),
    ]


def test_a_login_checks_the_password_and_starts_a_session_whose_id_is_not_stored(
    store: Store, now: datetime
) -> None:
    make_account(store, "an", Role.ADMIN, now, passwords=CHEAP)
    result = access.login(store, SECRET, " AN ", PASSWORD, "192.0.2.1", now, CHEAP)
    assert isinstance(result, access.LoggedIn)
    with store.reading() as conn:
        stored = conn.exec_driver_sql("SELECT digest FROM console_sessions").scalars().all()
    assert len(stored) == 1 and result.session_id not in stored[0]
    who = access.signed_in(store, result.session_id, now + timedelta(minutes=5))
    assert who is not None and who.account.username == "an"
    assert access.signed_in(store, result.session_id[:-1] + "x", now) is None
    assert access.signed_in(store, "x" * 10_000, now) is None
    assert isinstance(
        access.login(store, SECRET, "an", PASSWORD + "!", "192.0.2.1", now, CHEAP), access.Refused
    )
    assert isinstance(
        access.login(store, SECRET, "an", "x" * 100_000, "192.0.2.1", now, CHEAP), access.Refused
    )


def test_failed_logins_are_shared_by_instances_and_pruned(settings_url: str, now: datetime) -> None:
    one, two = Store.open(settings_url), Store.open(settings_url)
    try:
        for minute in range(access.FAILURES_PER_USERNAME):
            store = (one, two)[minute % 2]  # two instances behind one proxy, answering in turn
            answer = access.login(
                store, SECRET, "an", "sai", "192.0.2.1", now + timedelta(minutes=minute), CHEAP
            )
            assert isinstance(answer, access.Refused)
        later = now + timedelta(minutes=access.FAILURES_PER_USERNAME)
        locked = access.login(one, SECRET, "an", "sai", "192.0.2.1", later, CHEAP)
        assert locked == access.Throttled(10 * 60)  # the first failure leaves the window in 10 minutes
        assert access.login(two, SECRET, "an", "sai", "192.0.2.1", later, CHEAP) == locked
        # a failure long after: the old ones are pruned as it is written
        access.login(two, SECRET, "binh", "sai", "192.0.2.9", now + timedelta(hours=1), CHEAP)
        with one.reading() as conn:
            kept = conn.execute(sql_select(login_failures.c.username_key)).scalars().all()
            count = conn.execute(sql_select(func.count()).select_from(login_failures)).scalar_one()
        assert count == 1
        assert "binh" not in kept[0]  # keyed hashes, never the name
    finally:
        one.close()
        two.close()


@pytest.fixture
def settings_url(database_url: str) -> str:
    Store.open(database_url).close()  # the schema, once
    return database_url


def test_a_successful_login_forgets_that_username_s_failures(store: Store, now: datetime) -> None:
    make_account(store, "an", Role.ADMIN, now, passwords=CHEAP)
    for _ in range(access.FAILURES_PER_USERNAME - 1):
        access.login(store, SECRET, "an", "sai", "192.0.2.1", now, CHEAP)
    assert isinstance(access.login(store, SECRET, "an", PASSWORD, "192.0.2.1", now, CHEAP), access.LoggedIn)
    for _ in range(access.FAILURES_PER_USERNAME - 1):
        assert isinstance(access.login(store, SECRET, "an", "sai", "192.0.2.1", now, CHEAP), access.Refused)


def test_expired_sessions_are_ended_on_the_server(store: Store, now: datetime) -> None:
    make_account(store, "an", Role.ADMIN, now, passwords=CHEAP)
    first = access.login(store, SECRET, "an", PASSWORD, "192.0.2.1", now, CHEAP)
    assert isinstance(first, access.LoggedIn)
    assert access.signed_in(store, first.session_id, now + access.IDLE) is None
    assert access.sessions_of(store, "an") == 0


# -- migration 0013 -------------------------------------------------------------------------------------


def test_migration_0013_creates_the_console_tables_as_the_schema_says_and_goes_back(
    database_url: str,
) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_store_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0012")
        assert not set(OURS) & set(inspect(engine).get_table_names())
        upgrade(engine)
        assert set(OURS) <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
        assert [d for d in differences if any(f"'{t}'" in repr(d) or f"{t}." in repr(d) for t in OURS)] == []
        command.downgrade(alembic_config(engine), "0012")
        assert not set(OURS) & set(inspect(engine).get_table_names())
        upgrade(engine)
        assert set(OURS) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


# -- the commands ---------------------------------------------------------------------------------------


def _environment(database_url: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATOR_")}
    environ.update(
        PYTHONIOENCODING="utf-8", SYNDICATOR_DATABASE_URL=database_url, LOGNAME="tuan", USER="tuan"
    )
    return environ


def admin_cli(database_url: str, cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syndicator", "admin", *args],
        cwd=cwd,
        env=_environment(database_url),
        input=stdin,
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def test_the_admin_commands_manage_accounts_and_are_audited(database_url: str, tmp_path: Path) -> None:
    added = admin_cli(database_url, tmp_path, "add-user", "An", "--role", "admin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added an (admin)"
    assert (
        admin_cli(database_url, tmp_path, "add-user", "cuong", "--role", "viewer", stdin=PASSWORD).returncode
        == 0
    )
    listed = json.loads(admin_cli(database_url, tmp_path, "list-users", "--json").stdout)
    assert [(a["username"], a["role"]) for a in listed] == [("an", "admin"), ("cuong", "viewer")]
    table = admin_cli(database_url, tmp_path, "list-users").stdout
    assert "an" in table and "viewer" in table
    assert "+07:00" in table and listed[0]["created_at"].endswith("+07:00")  # the site's zone, as the CLI
    changed = admin_cli(database_url, tmp_path, "set-password", "cuong", stdin="một mật khẩu mới hẳn\n")
    assert changed.returncode == 0, changed.stderr
    assert "0 sessions ended" in changed.stdout
    promoted = admin_cli(database_url, tmp_path, "set-role", "Cuong", "--role", "editor")
    assert promoted.stdout.strip() == "cuong is now editor", promoted.stderr
    assert admin_cli(database_url, tmp_path, "remove-user", "cuong").returncode == 0
    audit = json.loads(admin_cli(database_url, tmp_path, "audit", "--json").stdout)
    assert [(e["actor"], e["action"], e["target"], e["address"]) for e in audit] == [
        ("cli:tuan", "account.remove", "cuong", None),
        ("cli:tuan", "account.role", "cuong", None),
        ("cli:tuan", "account.password", "cuong", None),
        ("cli:tuan", "account.add", "cuong", None),
        ("cli:tuan", "account.add", "an", None),
    ]
    assert "account.add" in admin_cli(database_url, tmp_path, "audit").stdout
    store = Store.open(database_url)
    try:
        logged = access.login(store, SECRET, "an", PASSWORD, "192.0.2.1", datetime.now().astimezone())
        assert isinstance(logged, access.LoggedIn)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("args", "stdin", "code", "says"),
    [
        (("add-user", "an an", "--role", "admin"), PASSWORD, 2, "a username is ASCII letters"),
        (("add-user", "an", "--role", "admin"), "ngắn quá", 2, "shorter than 12 characters"),
        (("add-user", "an", "--role", "admin"), "", 2, "no password on standard input"),
        (("add-user", "an", "--role", "root"), PASSWORD, 2, "'root' is not one of"),
        (("set-password", "khong-co"), PASSWORD, 1, "no account khong-co"),
        (("remove-user", "khong-co"), "", 1, "no account khong-co"),
        (("set-role", "khong-co", "--role", "admin"), "", 1, "no account khong-co"),
    ],
)
def test_a_refused_command_says_why_in_one_line(
    database_url: str, tmp_path: Path, args: tuple[str, ...], stdin: str, code: int, says: str
) -> None:
    result = admin_cli(database_url, tmp_path, *args, stdin=stdin)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert says in result.stderr
    assert admin_cli(database_url, tmp_path, "list-users", "--json").stdout.strip() == "[]"


def test_an_existing_username_is_refused(database_url: str, tmp_path: Path) -> None:
    assert (
        admin_cli(database_url, tmp_path, "add-user", "an", "--role", "admin", stdin=PASSWORD).returncode == 0
    )
    again = admin_cli(database_url, tmp_path, "add-user", "AN", "--role", "viewer", stdin=PASSWORD)
    assert again.returncode == 1
    assert again.stderr.strip() == "error: an account AN exists already"


def _expect(master: int, text: str, seen: bytearray) -> None:
    deadline = time.monotonic() + 60
    while text.encode() not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {text!r} in {seen.decode(errors='replace')!r}"
        ready, _, _ = select.select([master], [], [], remaining)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            seen.extend(chunk)


def _controlling_terminal() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_on_a_terminal_the_password_is_asked_twice_and_not_echoed(database_url: str, tmp_path: Path) -> None:
    Store.open(database_url).close()
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "syndicator", "admin", "add-user", "an", "--role", "editor"],
        cwd=tmp_path,
        env=_environment(database_url),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        preexec_fn=_controlling_terminal,  # the child's own terminal, before exec
    )
    os.close(slave)
    seen = bytearray()
    try:
        # click writes "Password:", then getpass turns echo off (dropping what was typed before) and
        # writes its own " ": only then is the terminal ready for the password
        _expect(master, "Password: ", seen)
        os.write(master, f"{PASSWORD}\n".encode())
        _expect(master, "Repeat for confirmation: ", seen)
        os.write(master, f"{PASSWORD}\n".encode())
        _expect(master, "added an (editor)", seen)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    assert PASSWORD.encode() not in seen  # never echoed


def test_two_instances_adding_the_same_username_at_once_make_one_account(
    pg_store: Store, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL (SQLite runs one writer at a time): all pass the lookup (made to, here: the race's
    worst case), one insert wins, the others are told the account exists, not a database error."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from syndicator.store import accounts as store_accounts

    monkeypatch.setattr(store_accounts, "by_username", lambda conn, name: None)
    hashed = CHEAP.hash(PASSWORD)
    barrier = Barrier(4)

    def add(number: int) -> str:
        barrier.wait()
        try:
            with pg_store.writing() as conn:
                store_accounts.add(conn, "an", Role.ADMIN, hashed, now)
        except access.AccountExists:
            return "exists"
        return "added"

    with ThreadPoolExecutor(4) as pool:
        results = sorted(pool.map(add, range(4)))
    assert results == ["added", "exists", "exists", "exists"]
    monkeypatch.undo()
    assert [a.username for a in access.accounts(pg_store)] == ["an"]


def test_a_bad_setting_stops_the_command_before_the_password_is_read(
    database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("[feeds]\nmax_entries = 0\n", encoding="utf-8")
    environ = _environment(database_url) | {"SYNDICATOR_CONFIG": str(path)}
    result = subprocess.run(
        [sys.executable, "-m", "syndicator", "admin", "add-user", "an", "--role", "admin"],
        cwd=tmp_path, env=environ, input="", capture_output=True, encoding="utf-8", timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "feeds.max_entries" in result.stderr
    assert "no password" not in result.stderr
