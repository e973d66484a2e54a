"""Import files and folders into the store: one bad file or line never stops the rest.

Articles are parsed one file at a time and written in batches; each batch is one transaction, so an
article is either fully written or not at all. A batch is written once it holds `batch_size`
articles or `batch_chars` characters of them, so memory stays flat whatever the number and the size
of the articles. Each failure is counted, but only the first SHOWN_PER_FILE of a file are reported
one by one, then one line says how many more that file had: 2.4 M bad lines made 2.4 M log lines.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from pathlib import Path

from syndicator.files import Refused, Source, open_regular, read_capped
from syndicator.ingest.errors import InvalidArticle
from syndicator.ingest.jsonl import LineTooLong, iter_lines, parse_line
from syndicator.ingest.portal import parse_export
from syndicator.model import ArticleInput, WriteOutcome
from syndicator.store import Store, WriteRefused


class Format(StrEnum):
    PORTAL = "portal"
    JSONL = "jsonl"


EXTENSIONS = {".txt": Format.PORTAL, ".jsonl": Format.JSONL}
SHOWN_PER_FILE = 20  # failures of one file reported one by one; the rest are counted
BATCH_CHARS = 8_000_000  # a batch is written once its articles hold this many characters
SHOWN_PATH_CHARS = 240  # a longer path is shown by its start and end


def is_candidate(name: str) -> bool:
    """Files a folder scan takes: known extension, not hidden, not a temporary name being written."""
    _, dot, extension = name.rpartition(".")  # not Path(name).suffix: a folder scan asks per file
    return (
        bool(dot)
        and not name.startswith((".", "~"))
        and not name.endswith((".tmp", ".part", ".partial", "~"))
        and f".{extension.lower()}" in EXTENSIONS
    )


@dataclass(frozen=True, slots=True)
class Failure:
    where: str  # "path" or "path:line"
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Omitted:
    """The failures of one file past the first SHOWN_PER_FILE: counted, not reported one by one."""

    where: str  # the file
    count: int

    def __str__(self) -> str:
        return f"…and {self.count:,} more failures in {self.where}"


Reported = Failure | Omitted


@dataclass(slots=True)
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    files: int = 0
    changed_ids: list[str] = field(default_factory=list)

    def count(self, outcome: WriteOutcome) -> None:
        if outcome is WriteOutcome.CREATED:
            self.created += 1
        elif outcome is WriteOutcome.UPDATED:
            self.updated += 1
        else:
            self.unchanged += 1


def iter_files(paths: Sequence[Path]) -> Iterator[Source | Failure]:
    """Files named directly (a link to one is followed), and what a walk takes under folders (or a
    Failure naming a folder that cannot be listed)."""
    for path in paths:
        if path.is_dir():
            yield from walk(path)
        else:
            yield Source(path)


def walk(root: Path) -> Iterator[Source | Failure]:
    """The entries under `root` an import takes, in a stable order (a folder's files, then its
    subfolders), without following links. Links, FIFOs and devices with a candidate name, and links
    to folders, are taken too: opening refuses them, so each is reported instead of silently left
    out or, worse, read. A folder that cannot be listed (unreadable, or nested past the system's path
    limit) is a Failure naming it: its files would otherwise be left out without a word."""
    folders = [""]
    while folders:
        prefix = folders.pop()
        try:
            entries = sorted(os.scandir(root / prefix), key=lambda entry: entry.name)
        except OSError as error:
            reason = unlistable(error)
            if reason is not None:
                yield Failure(shortened(display(root / prefix)), reason)
            continue
        inner: list[str] = []
        for entry in entries:
            if is_taken(entry):
                yield Source(root, prefix + entry.name)
            elif entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                inner.append(f"{prefix}{entry.name}/")
        folders.extend(reversed(inner))


def is_taken(entry: os.DirEntry[str]) -> bool:
    """A folder walk's choice: a candidate name that is not a folder, or a link to a folder."""
    try:
        if entry.is_symlink():
            return is_candidate(entry.name) or (not entry.name.startswith(".") and entry.is_dir())
        return is_candidate(entry.name) and not entry.is_dir(follow_symlinks=False)
    except OSError:  # removed while we looked
        return False


def unlistable(error: OSError) -> str | None:
    """Why a folder's files are not read, or None when it went away while we looked."""
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return None
    if error.errno == errno.ENAMETOOLONG:
        return "folder nested too deep: its path is longer than the system opens; its files are not read"
    return f"cannot list folder: {error.strerror or error}; its files are not read"


def shortened(text: str, limit: int = SHOWN_PATH_CHARS) -> str:
    """`text`, or its start and end around "…" when longer than `limit` characters (a path nested
    5,000 characters deep makes an unreadable report line)."""
    if len(text) <= limit:
        return text
    head = limit // 3
    return f"{text[:head]}…({len(text):,} characters)…{text[-(limit - head) :]}"


def count_files(paths: Sequence[Path]) -> int:
    return sum(1 for item in iter_files(paths) if isinstance(item, Source))


def display(path: Path) -> str:
    """The path as text that can be stored (a file name need not be valid UTF-8). Printed, it goes
    through syndicator.printable first: a name may hold control characters."""
    return os.fsencode(path).decode("utf-8", "replace")


def parse_file(
    source: Source, fmt: Format | None, tz: tzinfo, max_bytes: int
) -> Iterator[ArticleInput | Failure]:
    """Articles of one file, or Failures naming the file (and line) and the reason. Only a regular
    file is read (see syndicator/files.py), and never more than max_bytes of it (or of one JSON line) is
    held in memory."""
    path = source.path
    shown = display(path)
    try:
        fd = open_regular(source)
    except Refused as refused:
        yield Failure(shown, refused.reason)
        return
    except OSError as error:
        yield Failure(shown, f"cannot read: {error.strerror or error}")
        return
    with open(fd, "rb", buffering=0) as handle:
        kind = fmt or EXTENSIONS.get(path.suffix.lower())
        if kind is None:
            yield Failure(shown, f"unknown format {path.suffix or '(no extension)'!r}: use --format")
            return
        try:
            if kind is Format.PORTAL:
                yield _portal(handle.fileno(), path.stem, shown, max_bytes)
                return
            for number, line in iter_lines(handle, max_bytes):
                where = f"{shown}:{number}"
                if isinstance(line, LineTooLong):
                    yield Failure(where, f"line too long ({line.length} bytes, limit {max_bytes})")
                    continue
                try:
                    yield parse_line(line, tz, source=where)
                except InvalidArticle as error:
                    yield Failure(where, error.message)
        except OSError as error:
            yield Failure(shown, f"cannot read: {error.strerror or error}")


def _portal(fd: int, stem: str, shown: str, max_bytes: int) -> ArticleInput | Failure:
    try:
        return parse_export(read_capped(fd, max_bytes), stem, source=shown)
    except Refused as refused:
        return Failure(shown, refused.reason)
    except InvalidArticle as error:
        return Failure(shown, error.message)


class Importer:
    """Feeds parsed articles to the store in batches; reports outcomes and failures as they happen."""

    def __init__(
        self,
        store: Store,
        now: datetime,
        *,
        batch_size: int = 500,
        batch_chars: int = BATCH_CHARS,
        shown_per_file: int = SHOWN_PER_FILE,
        on_failure: Callable[[Reported], None] = lambda failure: None,
        keep_changed_ids: bool = False,
    ) -> None:
        self.store = store
        self.now = now
        self.batch_size = batch_size
        self.batch_chars = batch_chars
        self.shown_per_file = shown_per_file
        self.on_failure = on_failure
        self.keep_changed_ids = keep_changed_ids
        self.report = ImportReport()
        self._batch: dict[str, tuple[ArticleInput, str]] = {}  # by id: the article and its file
        self._batch_chars = 0
        self._file = ""  # the file being read ("" between files)
        self._failures: dict[str, int] = {}  # by file: failures so far

    def begin_file(self, where: str) -> None:
        """The items added from now on come from this file (its failures are counted together)."""
        self._file = where

    def end_file(self) -> None:
        """The current file is done: say how many of its failures were not reported one by one."""
        self._omitted(self._file)
        self._file = ""

    def finish(self) -> None:
        """Write what is left, and account for every failure not reported one by one."""
        self.flush()
        for where in list(self._failures):
            self._omitted(where)

    def add(self, item: ArticleInput | Failure) -> None:
        if isinstance(item, Failure):
            self._fail(item, self._file or item.where)
            return
        if item.id in self._batch:
            self.flush()  # the later copy of an id must win, so it goes in a later transaction
        self._batch[item.id] = (item, self._file)
        self._batch_chars += _chars(item)
        if len(self._batch) >= self.batch_size or self._batch_chars >= self.batch_chars:
            self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        files = [where for _, where in self._batch.values()]
        batch = [article for article, _ in self._batch.values()]
        self._batch, self._batch_chars = {}, 0
        outcomes: list[WriteOutcome | None]
        try:
            outcomes = list(self.store.write(batch, self.now))
        except WriteRefused:
            # One article the database refuses must not take its batch down: retry one at a time.
            outcomes = []
            for single, where in zip(batch, files, strict=True):
                try:
                    outcomes.extend(self.store.write([single], self.now))
                except WriteRefused as refused:
                    failure = Failure(single.source or single.id, f"database refused it: {refused.reason}")
                    self._fail(failure, where or failure.where)
                    outcomes.append(None)
        for article, outcome in zip(batch, outcomes, strict=True):
            if outcome is None:
                continue
            self.report.count(outcome)
            if self.keep_changed_ids and outcome is not WriteOutcome.UNCHANGED:
                self.report.changed_ids.append(article.id)

    def _fail(self, failure: Failure, where: str) -> None:
        self.report.failed += 1
        count = self._failures[where] = self._failures.get(where, 0) + 1
        if count <= self.shown_per_file:
            self.on_failure(failure)

    def _omitted(self, where: str) -> None:
        count = self._failures.pop(where, 0)
        if count > self.shown_per_file:
            self.on_failure(Omitted(where, count - self.shown_per_file))


def _chars(article: ArticleInput) -> int:
    """What an article holds in memory, roughly: its body and summary dwarf the rest."""
    return len(article.body_html) + len(article.summary) + len(article.title)


def import_paths(
    store: Store,
    paths: Sequence[Path],
    now: datetime,
    tz: tzinfo,
    *,
    fmt: Format | None = None,
    max_bytes: int = 5_000_000,
    batch_size: int = 500,
    batch_chars: int = BATCH_CHARS,
    on_failure: Callable[[Reported], None] = lambda failure: None,
    on_file: Callable[[Path], None] = lambda path: None,
    keep_changed_ids: bool = False,
) -> ImportReport:
    """The import behind `syndicator import` and the tests."""
    importer = Importer(
        store,
        now,
        batch_size=batch_size,
        batch_chars=batch_chars,
        on_failure=on_failure,
        keep_changed_ids=keep_changed_ids,
    )
    for path in paths:
        if not path.exists():
            importer.add(Failure(display(path), "no such file or folder"))
    for source in iter_files([p for p in paths if p.exists()]):
        if isinstance(source, Failure):  # a folder that cannot be listed
            importer.add(source)
            continue
        importer.begin_file(display(source.path))
        for item in parse_file(source, fmt, tz, max_bytes):
            importer.add(item)
        importer.end_file()
        importer.report.files += 1
        on_file(source.path)
    importer.finish()
    return importer.report
