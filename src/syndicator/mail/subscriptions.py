"""Subscriber management shared by the CLI, the officials file and the web: one copy of each rule."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
import tomllib
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from syndicator import tokens
from syndicator.addresses import InvalidAddress, normalise
from syndicator.addresses import key as address_key
from syndicator.files import Refused, read_whole
from syndicator.files import Source as FileSource
from syndicator.mail.composer import MailComposer
from syndicator.mail.linktokens import email_check, subscriber_from_token
from syndicator.model import (
    Frequency,
    OutboxEntry,
    OutboxKind,
    OwnChoice,
    Source,
    Subscriber,
    SubscriberStatus,
)
from syndicator.store import Store, mailqueue
from syndicator.store import subscribers as store_subscribers
from syndicator.text import category_slug, clean_line

log = logging.getLogger(__name__)


class InvalidSubscription(ValueError):
    """What is wrong, naming the field."""


def parse_categories(value: str | Iterable[str] | None) -> frozenset[str] | None:
    """'all' (or nothing) -> None (every category); names or slugs -> slugs."""
    if value is None:
        return None
    items = [v for v in (value.split(",") if isinstance(value, str) else value)]
    cleaned = [v.strip() for v in items if v and v.strip()]
    if not cleaned or any(v.lower() in ("all", "*", "tất cả") for v in cleaned):
        return None
    slugs = frozenset(category_slug(v) for v in cleaned)
    if "" in slugs:
        raise InvalidSubscription("categories: a category has no letters or digits")
    return slugs


def parse_frequency(value: str | None) -> Frequency:
    try:
        return Frequency((value or "daily").strip().lower())
    except ValueError:
        raise InvalidSubscription(f"frequency: {value!r} is not immediate, daily or weekly") from None


def clean_name(value: str | None) -> str | None:
    # names reach mail headers: no control characters, one line, bounded
    name = clean_line(value or "")[:200]
    return name or None


def add(
    store: Store,
    email: str,
    now: datetime,
    *,
    name: str | None = None,
    categories: str | Iterable[str] | None = None,
    frequency: str | None = None,
    confirmed: bool = False,
    source: Source = Source.CLI,
    ip: str | None = None,
) -> tuple[Subscriber, bool]:
    try:
        address = normalise(email)
    except InvalidAddress as error:
        raise InvalidSubscription(f"email: {email!r}: {error}") from None
    status = SubscriberStatus.CONFIRMED if confirmed else SubscriberStatus.PENDING
    with store.writing() as conn:
        return store_subscribers.save(
            conn,
            address,
            name=clean_name(name),
            categories=parse_categories(categories),
            frequency=parse_frequency(frequency),
            status=status,
            source=source,
            now=now,
            confirmed_ip=ip,
        )


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    reason: str


def import_csv(
    store: Store, data: str, now: datetime, *, confirmed: bool = True
) -> tuple[int, int, list[RowProblem]]:
    """Columns email,name,categories,frequency (header optional). Returns (created, updated, problems)."""
    created = updated = 0
    problems: list[RowProblem] = []
    reader = csv.reader(io.StringIO(data.removeprefix("\ufeff")))
    for number, row in enumerate(reader, start=1):
        if not row or not any(cell.strip() for cell in row):
            continue
        if number == 1 and row[0].strip().lower() in ("email", "e-mail", "địa chỉ email"):
            continue
        email, name, cats, freq = (unguarded(cell) for cell in [*row, "", "", "", ""][:4])
        try:
            _, was_created = add(
                store,
                email,
                now,
                name=name,
                categories=cats or None,
                frequency=freq or None,
                confirmed=confirmed,
                source=Source.IMPORT,
            )
        except InvalidSubscription as error:
            problems.append(RowProblem(number, str(error)))
            continue
        created += was_created
        updated += not was_created
    return created, updated, problems


# A spreadsheet runs a cell beginning with one of these as a formula (OWASP "CSV Injection"); an
# address like =cmd|'/Ccalc'!A0@example.org is valid, so export writes such values behind a quote.
FORMULA_START = re.compile(r"'*[=+\-@\t\r]")


def guarded(value: str) -> str:
    """The value as a spreadsheet shows it and never runs it ("'" before it; one more "'" before a value
    that already starts with quotes and then a formula character, so unguarded() gives it back)."""
    return "'" + value if FORMULA_START.match(value) else value


def unguarded(cell: str) -> str:
    """A cell of an exported file as the value it stands for (export's quote removed)."""
    return cell[1:] if cell.startswith("'") and FORMULA_START.match(cell) else cell


def export_csv(store: Store) -> Iterator[str]:
    """Columns email,name,categories,frequency,status,source: `import_csv` reads it back."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "name", "categories", "frequency", "status", "source"])
    yield out.getvalue()
    with store.reading() as conn:
        people = store_subscribers.listing(conn)
    for person in people:
        out.seek(0)
        out.truncate()
        cats = "all" if person.categories is None else ",".join(sorted(person.categories))
        values = [person.email, person.name or "", cats, person.frequency.value]
        writer.writerow([guarded(v) for v in [*values, person.status.value, person.source.value]])
        yield out.getvalue()


def remove(store: Store, email: str) -> bool:
    """Forget an address entirely: the subscriber and the mails queued or sent to it."""
    with store.writing() as conn:
        found = store_subscribers.by_email(conn, email)
        if found is None:
            return False
        store_subscribers.forget(conn, [found.id])
        return True


def unsubscribe(store: Store, subscriber_id: int, now: datetime) -> bool:
    with store.writing() as conn:
        found = store_subscribers.by_id(conn, subscriber_id)
        if found is None:
            return False
        if found.status is not SubscriberStatus.UNSUBSCRIBED:
            store_subscribers.unsubscribe(conn, subscriber_id, now)
        return True


# -- officials: the office's own list, no confirmation, leaving the file ends what it brought ------


@dataclass(frozen=True, slots=True)
class Official:
    email: str
    name: str | None
    categories: frozenset[str] | None
    frequency: Frequency


OFFICIAL_FIELDS = frozenset({"name", "email", "categories", "frequency"})
# About 10,000 officials; a larger file is refused rather than read (it may be a device or a log).
OFFICIALS_MAX_BYTES = 1_000_000
LIST_NONE = "to list no officials, keep the file with a comment line and no [[official]]"


class OfficialsFileMissing(InvalidSubscription):
    """There is no file at the configured path. Never read as an empty list: a deleted file or a wrong
    path would end every official's subscription."""


def read_officials(path: Path, known: Collection[str] = ()) -> list[Official]:
    """Parse config/officials.toml; InvalidSubscription names the file, the entry and the field.

    `known`: the category slugs there are (none known: not checked, as on a first start); a category
    outside them is an error, as is any top-level key but [[official]]: a typo must not empty the list.
    A file with nothing but blanks is an error too (a file cut to zero bytes by an interrupted write
    looks just like it): an empty list is a file holding at least a comment line.
    """
    text = _officials_text(path)
    if not text.strip():
        raise InvalidSubscription(f"{path}: the file is empty ({len(text)} bytes); {LIST_NONE}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidSubscription(f"{path}: {error}") from None
    unknown = sorted(set(data) - {"official"})
    if unknown:
        raise InvalidSubscription(
            f"{path}: unknown key(s) or table(s) {', '.join(unknown)} (use [[official]])"
        )
    entries = data.get("official", [])
    if not isinstance(entries, list):
        raise InvalidSubscription(f"{path}: use [[official]] tables")
    found: list[Official] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        where = f"{path}: official #{index}"
        try:
            official = _official(entry, known)
        except InvalidSubscription as error:
            raise InvalidSubscription(f"{where}: {error}") from None
        if official.email.casefold() in seen:
            raise InvalidSubscription(f"{where}: {official.email} is listed twice")
        seen.add(official.email.casefold())
        found.append(official)
    return found


def _officials_text(path: Path) -> str:
    """The file's text: only a regular file (a link the operator made is followed), read bounded, so
    that a folder, a FIFO or a device at that path is an error naming it, and never blocks the job."""
    try:
        data = read_whole(FileSource(path), OFFICIALS_MAX_BYTES)
    except FileNotFoundError:
        raise OfficialsFileMissing(f"{path}: no such file") from None
    except Refused as refused:
        raise InvalidSubscription(f"{path}: {refused.reason}") from None
    except OSError as error:
        raise InvalidSubscription(f"{path}: cannot read it: {error.strerror or error}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidSubscription(f"{path}: not UTF-8 text (byte {error.start})") from None


def _official(entry: object, known: Collection[str]) -> Official:
    if not isinstance(entry, dict):
        raise InvalidSubscription("not a table")
    unknown = set(entry) - OFFICIAL_FIELDS
    if unknown:
        raise InvalidSubscription(f"unknown field(s) {', '.join(sorted(unknown))}")
    for field in ("email", "name", "frequency"):
        if not isinstance(entry.get(field, ""), str):
            raise InvalidSubscription(f"{field}: {entry[field]!r} is not a string")
    try:
        address = normalise(entry.get("email", ""))
    except InvalidAddress as error:
        raise InvalidSubscription(f"email {entry.get('email')!r}: {error}") from None
    given = entry.get("categories", "all")
    names = [given] if isinstance(given, str) else given
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidSubscription(f'categories: {given!r} is neither "all" nor a list of category names')
    categories = parse_categories(names)
    strangers = [n for n in names if categories is not None and known and category_slug(n) not in known]
    if strangers:
        raise InvalidSubscription(f"categories: {', '.join(map(repr, strangers))}: no such category")
    return Official(
        address, clean_name(entry.get("name")), categories, parse_frequency(entry.get("frequency"))
    )


def sync_officials(store: Store, officials: list[Official], now: datetime) -> tuple[int, int]:
    """Make the stored officials match the file. Returns (added or changed, ended).

    An address that leaves the file gets back the subscription its resident had chosen, if any."""
    changed = ended = 0
    listed = {address_key(o.email) for o in officials}
    with store.writing() as conn:
        for official in officials:
            changed += store_subscribers.list_official(
                conn,
                official.email,
                name=official.name,
                categories=official.categories,
                frequency=official.frequency,
                now=now,
            )
        for key, subscriber_id in store_subscribers.listed_officials(conn).items():
            if key not in listed:
                store_subscribers.unlist_official(conn, subscriber_id, now)
                ended += 1
    if changed or ended:
        log.info("officials: %d added or changed, %d ended", changed, ended)
    return changed, ended


Signature = tuple[int, ...] | None  # what the path is now (None: nothing there)


class OfficialsWatcher:
    """Applies the officials file when it changes, and again at each leadership term.

    Only the instance that runs the jobs applies it (instances serving the web may have another copy
    of the file, or none). A file that cannot be applied leaves the officials as stored, logged once
    per change of the file. A missing file is one of those while any official is stored; with none
    stored there is nothing to keep (an instance without officials needs no file: one info line).
    """

    def __init__(self, store: Store, path: Path, configured: Collection[str] = ()) -> None:
        self.store = store
        self.path = path
        self.configured = frozenset(configured)  # slugs given display names in the settings
        self._applied: Signature | bool = False  # the signature last applied
        self._reported: Signature | bool = False  # the signature last reported broken

    def check(self, now: datetime) -> None:
        """Apply the file if it changed since it was last applied."""
        signature = self._signature()
        if signature in (self._applied, self._reported):
            return
        try:
            officials = read_officials(self.path, self._known())
        except OfficialsFileMissing as missing:
            listed = self._listed()
            if listed:
                self._report(signature, f"{missing} ({listed} listed; {LIST_NONE})")
                return
            log.info("officials: none listed (%s)", missing)
            self._applied, self._reported = signature, False
            return
        except InvalidSubscription as error:
            self._report(signature, str(error))
            return
        sync_officials(self.store, officials, now)
        # applied: a later fault is reported again, even one that looks like an earlier (a 2nd removal)
        self._applied, self._reported = signature, False

    def reapply(self, now: datetime) -> None:
        """A new leadership term: another instance may have changed the officials meanwhile."""
        self._applied = False
        self.check(now)

    def validate(self) -> bool:
        """At start, on every instance: a file that cannot be applied is logged (once), and the service
        runs all the same. A missing file is left to the instance running the jobs (check): one
        serving the web only needs no copy of it."""
        signature = self._signature()
        try:
            read_officials(self.path, self._known())
        except OfficialsFileMissing:
            return True
        except InvalidSubscription as error:
            self._report(signature, str(error))
            return False
        return True

    def _signature(self) -> Signature:
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as error:  # e.g. a folder on the way not searchable: reported by the read
            return (-(error.errno or 1),)
        # the inode too: a file renamed over the old one with the same size within one mtime tick
        return (found.st_ino, found.st_mode, found.st_mtime_ns, found.st_size)

    def _report(self, signature: Signature, problem: str) -> None:
        if signature != self._reported:
            log.error("officials file not applied, the officials stay as stored: %s", problem)
            self._reported = signature

    def _listed(self) -> int:
        with self.store.reading() as conn:
            return len(store_subscribers.listed_officials(conn))

    def _known(self) -> frozenset[str]:
        return frozenset(self.store.category_names()) | self.configured


# -- the web flow: double opt-in, preferences, one-click unsubscribe -----------------------------


class TooManyRequests(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


CONFIRM_PURPOSE = "confirm"


def request_subscription(
    store: Store,
    composer: MailComposer,
    email: str,
    categories: str | Iterable[str] | None,
    frequency: str | None,
    now: datetime,
) -> None:
    """Queue a confirmation mail holding the address and the choices; nothing changes until confirmed.

    Raises InvalidSubscription (bad input) or TooManyRequests (too many mails to one address).
    Whether the address is known is never revealed: the same happens (and is shown) either way.
    """
    try:
        address = normalise(email)
    except InvalidAddress as error:
        raise InvalidSubscription(str(error)) from None
    chosen = parse_categories(categories)
    cadence = parse_frequency(frequency)
    settings = composer.settings
    token = tokens.sign(
        settings.resolved_secret_key(),
        CONFIRM_PURPOSE,
        {"e": address, "c": store_subscribers.encode_categories(chosen), "f": cadence.value},
        expires=now + timedelta(days=settings.subscribe.confirm_days),
    )
    if len(token) > mailqueue.TOKEN_CHARS:
        # the token is kept in outbox.token (VARCHAR(512)): PostgreSQL would refuse it (a 500)
        raise InvalidSubscription(
            "Địa chỉ email quá dài để chọn nhiều chuyên mục như vậy: vui lòng chọn ít chuyên mục hơn "
            "hoặc chọn Tất cả chuyên mục."
        )
    content = composer.renderer.confirmation(settings.subscribe.confirm_days)
    with store.writing() as conn:
        person = store_subscribers.by_email(conn, address)
        if person is None:
            person, _ = store_subscribers.save(
                conn,
                address,
                name=None,
                categories=chosen,
                frequency=cadence,
                status=SubscriberStatus.PENDING,
                source=Source.WEB,
                now=now,
            )
        hour_ago = now - timedelta(hours=1)
        recent = mailqueue.recent_confirmations(conn, person.id, hour_ago)
        limit = settings.subscribe.per_address_per_hour
        if len(recent) >= limit:
            wait = (recent[-limit] + timedelta(hours=1) - now).total_seconds()
            raise TooManyRequests(max(1, int(wait) + 1))
        mime = composer.template(
            content.subject, content.text, content.html, list_what="Xác nhận đăng ký", one_click=False
        )
        body = mailqueue.body_id(
            conn, f"confirm:{hash_text(content.html + content.text)}", content.subject, mime, now
        )
        mailqueue.enqueue(conn, [OutboxEntry(person.id, OutboxKind.CONFIRM, body, token=token)], now)


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Request:
    """What a confirmation link asks for: this address, these categories (None: all), this pace."""

    email: str
    categories: frozenset[str] | None
    frequency: Frequency


def requested(secret: str, token: str, now: datetime) -> Request:
    """Read a confirmation link without acting on it. Raises tokens.BadToken (expired: "expired")."""
    data = tokens.verify(secret, CONFIRM_PURPOSE, token, now=now)
    try:
        return Request(
            normalise(str(data["e"])),
            store_subscribers.decode_categories(str(data["c"])),
            Frequency(str(data["f"])),
        )
    except (KeyError, ValueError):
        raise tokens.BadToken("invalid token") from None


def confirm(store: Store, secret: str, token: str, now: datetime, ip: str | None) -> Subscriber:
    """Apply a confirmation link (twice is harmless). Raises tokens.BadToken."""
    wanted = requested(secret, token, now)
    with store.writing() as conn:
        person, _ = store_subscribers.save(
            conn,
            wanted.email,
            name=None,
            categories=wanted.categories,
            frequency=wanted.frequency,
            status=SubscriberStatus.CONFIRMED,
            source=Source.WEB,
            now=now,
            confirmed_ip=ip,
        )
    return person


def from_link(store: Store, secret: str, purpose: str, token: str) -> Subscriber:
    """The subscriber a preferences/unsubscribe link stands for. Raises tokens.BadToken."""
    subscriber_id, check = subscriber_from_token(secret, purpose, token)
    with store.reading() as conn:
        person = store_subscribers.by_id(conn, subscriber_id)
    if person is None or email_check(person.email) != check:
        raise tokens.BadToken("unknown subscriber")
    return person


def own_choice(store: Store, person: Subscriber) -> OwnChoice | None:
    """What the preferences page edits for an address the office lists (None: not listed)."""
    with store.reading() as conn:
        return store_subscribers.own_choice(conn, person.id)


def update_preferences(
    store: Store,
    person: Subscriber,
    categories: str | Iterable[str] | None,
    frequency: str | None,
    now: datetime,
) -> Subscriber:
    chosen = parse_categories(categories)
    cadence = parse_frequency(frequency)
    with store.writing() as conn:
        store_subscribers.set_choice(conn, person.id, chosen, cadence, now)
        found = store_subscribers.by_id(conn, person.id)
    assert found is not None
    return found


def purge_unconfirmed(store: Store, now: datetime, days: int) -> int:
    """Addresses typed on the web but never confirmed are personal data with no purpose: forget
    them once their confirmation link has expired."""
    cutoff = now - timedelta(days=days)
    with store.writing() as conn:
        stale = store_subscribers.unconfirmed_from_web(conn, cutoff)
        store_subscribers.forget(conn, stale)
    if stale:
        log.info("forgot %d addresses never confirmed within %d days", len(stale), days)
    return len(stale)
