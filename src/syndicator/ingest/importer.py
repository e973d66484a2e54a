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
from syndicator.ingest.jsonl import iter_lines, parse_line
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


def iter_files(paths: Sequence[Path]) -> Iterator[Path]:
    """Files named directly, and candidates found recursively (in a stable order) under folders."""
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if is_candidate(name):
                        yield Path(root) / name
        else:
            yield path


def count_files(paths: Sequence[Path]) -> int:
    return sum(1 for _ in iter_files(paths))


def display(path: Path) -> str:
    """The path as text that can be stored and printed (a file name need not be valid UTF-8)."""
    return os.fsencode(path).decode("utf-8", "replace")


def parse_file(
    path: Path, fmt: Format | None, tz: tzinfo, max_bytes: int
) -> Iterator[ArticleInput | Failure]:
    """Articles of one file, or Failures naming the file (and line) and the reason."""
    shown = display(path)
    kind = fmt or EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        yield Failure(shown, f"unknown format {path.suffix or '(no extension)'!r}: use --format")
        return
    try:
        size = path.stat().st_size
        if kind is Format.PORTAL:
            if size > max_bytes:
                yield Failure(shown, f"file too large ({size} bytes, limit {max_bytes})")
                return
            yield parse_export(path.read_bytes(), path.stem, source=shown)
            return
        with path.open("rb") as handle:
            for number, line in iter_lines(handle):
                if len(line) > max_bytes:
                    too_long = f"line too long ({len(line)} bytes, limit {max_bytes})"
                    yield Failure(f"{shown}:{number}", too_long)
                    continue
                try:
                    yield parse_line(line, tz, source=f"{shown}:{number}")
                except InvalidArticle as error:
                    yield Failure(f"{shown}:{number}", error.message)
    except InvalidArticle as error:
        yield Failure(shown, error.message)
    except OSError as error:
        yield Failure(shown, f"cannot read: {error.strerror or error}")


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
    for path in iter_files([p for p in paths if p.exists()]):
        for item in parse_file(path, fmt, tz, max_bytes):
            importer.add(item)
        importer.report.files += 1
        on_file(path)
    importer.flush()
    return importer.report
