"""Import files and folders into the store: one bad file or line never stops the rest.

Articles are parsed one file at a time and written in batches; each batch is one transaction, so an
article is either fully written or not at all. Memory stays flat whatever the number of files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from pathlib import Path

from sqlalchemy.exc import IntegrityError, StatementError

from syndicator.ingest.errors import InvalidArticle
from syndicator.ingest.files import Refused, Source, open_regular, read_capped
from syndicator.ingest.jsonl import LineTooLong, iter_lines, parse_line
from syndicator.ingest.portal import parse_export
from syndicator.model import ArticleInput, WriteOutcome
from syndicator.store import Store


class Format(StrEnum):
    PORTAL = "portal"
    JSONL = "jsonl"


EXTENSIONS = {".txt": Format.PORTAL, ".jsonl": Format.JSONL}


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


def iter_files(paths: Sequence[Path]) -> Iterator[Source]:
    """Files named directly (a link to one is followed), and what a walk takes under folders."""
    for path in paths:
        if path.is_dir():
            yield from walk(path)
        else:
            yield Source(path)


def walk(root: Path) -> Iterator[Source]:
    """The entries under `root` an import takes, in a stable order (a folder's files, then its
    subfolders), without following links. Links, FIFOs and devices with a candidate name, and links
    to folders, are taken too: opening refuses them, so each is reported instead of silently left
    out or, worse, read."""
    folders = [""]
    while folders:
        prefix = folders.pop()
        try:
            entries = sorted(os.scandir(root / prefix), key=lambda entry: entry.name)
        except OSError:  # removed while we looked, or unreadable: skipped, as os.walk does
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


def count_files(paths: Sequence[Path]) -> int:
    return sum(1 for _ in iter_files(paths))


def display(path: Path) -> str:
    """The path as text that can be stored (a file name need not be valid UTF-8). Printed, it goes
    through syndicator.printable first: a name may hold control characters."""
    return os.fsencode(path).decode("utf-8", "replace")


def parse_file(
    source: Source, fmt: Format | None, tz: tzinfo, max_bytes: int
) -> Iterator[ArticleInput | Failure]:
    """Articles of one file, or Failures naming the file (and line) and the reason. Only a regular
    file is read (see ingest.files), and never more than max_bytes of it (or of one JSON line) is
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
        on_failure: Callable[[Failure], None] = lambda failure: None,
        keep_changed_ids: bool = False,
    ) -> None:
        self.store = store
        self.now = now
        self.batch_size = batch_size
        self.on_failure = on_failure
        self.keep_changed_ids = keep_changed_ids
        self.report = ImportReport()
        self._batch: dict[str, ArticleInput] = {}

    def add(self, item: ArticleInput | Failure) -> None:
        if isinstance(item, Failure):
            self._fail(item)
            return
        if item.id in self._batch:
            self.flush()  # the later copy of an id must win, so it goes in a later transaction
        self._batch[item.id] = item
        if len(self._batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        batch = list(self._batch.values())
        self._batch = {}
        outcomes: list[WriteOutcome | None]
        try:
            outcomes = list(self._write(batch))
        except StatementError:  # a driver error, or a value the driver cannot take
            # One article the database refuses must not take its batch down: retry one at a time.
            outcomes = []
            for single in batch:
                try:
                    outcomes.extend(self._write([single]))
                except StatementError as error:
                    reason = " ".join(str(error.orig).split())  # one line, whatever the driver says
                    self._fail(Failure(single.source or single.id, f"database refused it: {reason}"))
                    outcomes.append(None)
        for article, outcome in zip(batch, outcomes, strict=True):
            if outcome is None:
                continue
            self.report.count(outcome)
            if self.keep_changed_ids and outcome is not WriteOutcome.UNCHANGED:
                self.report.changed_ids.append(article.id)

    def _write(self, batch: list[ArticleInput]) -> list[WriteOutcome]:
        try:
            return self.store.write(batch, self.now)
        except IntegrityError:
            # Another writer created one of these ids (or a category) meanwhile; now they exist.
            return self.store.write(batch, self.now)

    def _fail(self, failure: Failure) -> None:
        self.report.failed += 1
        self.on_failure(failure)


def import_paths(
    store: Store,
    paths: Sequence[Path],
    now: datetime,
    tz: tzinfo,
    *,
    fmt: Format | None = None,
    max_bytes: int = 5_000_000,
    batch_size: int = 500,
    on_failure: Callable[[Failure], None] = lambda failure: None,
    on_file: Callable[[Path], None] = lambda path: None,
    keep_changed_ids: bool = False,
) -> ImportReport:
    """The import behind `syndicator import`, the drop folder and the tests."""
    importer = Importer(
        store, now, batch_size=batch_size, on_failure=on_failure, keep_changed_ids=keep_changed_ids
    )
    for path in paths:
        if not path.exists():
            importer.add(Failure(display(path), "no such file or folder"))
    for source in iter_files([p for p in paths if p.exists()]):
        for item in parse_file(source, fmt, tz, max_bytes):
            importer.add(item)
        importer.report.files += 1
        on_file(source.path)
    importer.flush()
    return importer.report
