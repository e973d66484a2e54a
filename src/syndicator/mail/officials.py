"""The officials file (config/officials.toml): the office's own list of addresses, subscribed without
confirmation; leaving the file ends what it brought, and gives back the resident's own choice."""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from syndicator import i18n
from syndicator.addresses import InvalidAddress, normalise
from syndicator.addresses import key as address_key
from syndicator.files import Refused, read_whole
from syndicator.files import Source as FileSource
from syndicator.mail.choices import (
    InvalidSubscription,
    clean_name,
    known_categories,
    parse_categories,
    parse_frequency,
    parse_language,
    strangers,
)
from syndicator.model import Frequency
from syndicator.store import Store
from syndicator.store import subscribers as store_subscribers

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Official:
    email: str
    name: str | None
    categories: frozenset[str] | None
    frequency: Frequency
    language: str | None = None  # of their mail; None: the person's stays (the site's for a new address)


OFFICIAL_FIELDS = frozenset({"name", "email", "categories", "frequency", "language"})
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
    for field in ("email", "name", "frequency", "language"):
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
    outside = strangers(names, known) if categories is not None else []
    if outside:
        raise InvalidSubscription(f"categories: {', '.join(map(repr, outside))}: no such category")
    language = parse_language(entry["language"]) if "language" in entry else None
    return Official(
        address, clean_name(entry.get("name")), categories, parse_frequency(entry.get("frequency")), language
    )


def sync_officials(
    store: Store, officials: list[Official], now: datetime, default_language: str = i18n.SOURCE
) -> tuple[int, int]:
    """Make the stored officials match the file. Returns (added or changed, ended).

    An address that leaves the file gets back the subscription its resident had chosen, if any.
    An entry's `language` is the language of that address's mail while listed (the office's word, as
    its other fields); with none, an address keeps its own, and a new one gets `default_language`."""
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
                language=official.language,
                default_language=default_language,
            )
        for key, subscriber_id in store_subscribers.listed_officials(conn).items():
            if key not in listed:
                store_subscribers.unlist_official(conn, subscriber_id, now)
                ended += 1
    if changed or ended:
        log.info("officials: %d added or changed, %d ended", changed, ended)
    return changed, ended


def file_problem(store: Store, path: Path, configured: Collection[str] = ()) -> str | None:
    """Why the file cannot be applied as it is now (the reason, in English, naming the path), or None
    when it reads well: what OfficialsWatcher.check would log. A missing file is a problem only while
    officials are stored (they stay listed); with none stored there is nothing to keep."""
    try:
        read_officials(path, known_categories(store, configured))
    except OfficialsFileMissing as missing:
        with store.reading() as conn:
            listed = len(store_subscribers.listed_officials(conn))
        return f"{missing} ({listed} listed; {LIST_NONE})" if listed else None
    except InvalidSubscription as error:
        return str(error)
    return None


Signature = tuple[int, ...] | None  # what the path is now (None: nothing there)


class OfficialsWatcher:
    """Applies the officials file when it changes, and again at each leadership term.

    Only the instance that runs the jobs applies it (instances serving the web may have another copy
    of the file, or none). A file that cannot be applied leaves the officials as stored, logged once
    per change of the file. A missing file is one of those while any official is stored; with none
    stored there is nothing to keep (an instance without officials needs no file: one info line).
    """

    def __init__(
        self,
        store: Store,
        path: Path,
        configured: Collection[str] = (),
        default_language: str = i18n.SOURCE,
    ) -> None:
        self.store = store
        self.path = path
        self.default_language = default_language  # a new address's, with no `language` key
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
        sync_officials(self.store, officials, now, self.default_language)
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
        return known_categories(self.store, self.configured)
