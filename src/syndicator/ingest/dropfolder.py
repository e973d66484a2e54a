"""The drop folder: exports written into it are imported; a removed file withdraws its articles, and
so does an edit that leaves an article out of its file (unless another file still brings it).

A file is read only once it has settled: its mtime at least `settle` seconds old (every write moves
it), so a file still being copied in is not read half-way. A file whose mtime lies in the future
(an exporter setting it to the publication time, clock skew, `rsync -t`) would never be that old: it
is read once this scanner has seen its (mtime, size) unchanged for `settle` seconds of its own clock,
and that is logged once. Writers that can should write under a temporary name (ending in .tmp or
.part, or starting with ".") and rename it into place; such names are never read. A file that fails
is reported once per change of that file: its first SHOWN_PER_FILE failures one by one, then how
many more, and drop_files.error keeps the first few reasons and the count.

Only regular files in the folder are read: a link (to a file elsewhere, to a folder, to /dev/zero),
a FIFO or a device is reported once, by its name, and skipped (see syndicator/files.py). So is a folder
that cannot be listed (unreadable, or nested deeper than the system's path limit). A hard link is a
regular file and is read: only a file its maker could already read and write can be linked
(fs.protected_hardlinks), so it brings in nothing that person could not have copied in.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from syndicator.files import Source
from syndicator.ingest.importer import (
    Failure,
    Importer,
    Omitted,
    Reported,
    display,
    is_taken,
    parse_file,
    shortened,
    unlistable,
)
from syndicator.ingest.watch import FolderWatch
from syndicator.model import ArticleInput, DropFile
from syndicator.printable import printable
from syndicator.store import Store, dropfiles

log = logging.getLogger(__name__)
MAX_PATH = 1000  # characters of drop_files.path
STORED_REASONS = 5  # reasons of a failed file kept in drop_files.error, before a count of the rest
STORED_REASON_CHARS = 300


@dataclass(slots=True)
class DropReport:
    imported: list[str] = field(default_factory=list)  # files read this scan
    failed: list[Failure] = field(default_factory=list)  # reported one by one (a few per file)
    omitted: list[Omitted] = field(default_factory=list)  # and per file, how many more
    withdrawn: list[str] = field(default_factory=list)  # article ids
    waiting: int = 0  # files seen but not settled yet

    @property
    def failures(self) -> int:
        return len(self.failed) + sum(o.count for o in self.omitted)

    def add(self, reported: Reported) -> None:
        if isinstance(reported, Omitted):
            self.omitted.append(reported)
        else:
            self.failed.append(reported)


@dataclass(frozen=True, slots=True)
class _Unsettled:
    stat: tuple[int, int]
    since: float  # scanner clock when first seen with this stat


class DropFolder:
    def __init__(
        self,
        store: Store,
        folder: Path,
        tz: tzinfo,
        *,
        max_bytes: int = 5_000_000,
        settle: float = 0.5,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.folder = folder
        self.tz = tz
        self.max_bytes = max_bytes
        self.settle = settle
        # mtimes are POSIX seconds stamped by the file system: they are compared with time.time, not
        # with clock.utcnow's datetimes (tests inject their own)
        self.wall_clock = wall_clock or time.time
        self._cache: dict[str, DropFile] | None = None  # the drop_files table, read once per leadership
        self._unstorable: dict[str, tuple[int, int]] = {}  # names reported as such, and their stat
        self._unlistable: set[str] = set()  # folders reported as such
        self._unsettled: dict[str, _Unsettled] = {}  # files waiting, since when unchanged
        self._folders: list[str] = []  # the folders the last listing went through ("" and "a/b/")
        # set by whoever runs the scans (jobs.py): files renamed into place are whole, read at once
        self.watch: FolderWatch | None = None

    def reset(self) -> None:
        """Forget what was read from the database (another instance may have scanned meanwhile)."""
        self._cache = None

    def scan(self, now: datetime) -> DropReport:
        report = DropReport()
        self.folder.mkdir(parents=True, exist_ok=True)
        # taken before listing: a file renamed in after this is in the next scan's, which its event wakes
        arrived = self.watch.arrived() if self.watch is not None else set()
        present, unstorable, unlistable = self._listing()
        self._report_unstorable(unstorable, report)
        self._report_unlistable(unlistable, report)
        known = self._known()
        if self.watch is not None:
            self.watch.watch_folders(self._folders)

        changed: list[str] = []
        clock = self.wall_clock()
        unsettled: dict[str, _Unsettled] = {}
        for rel, stat in present.items():
            old = known.get(rel)
            if old is not None and (old.mtime_ns, old.size) == stat:
                continue
            # renamed into place (inotify's IN_MOVED_TO, and not written since): its writer is done
            if rel in arrived or self._settled(rel, stat, clock, unsettled):
                changed.append(rel)
            else:
                report.waiting += 1
        self._unsettled = unsettled
        changed.sort()  # read in name order

        kept_ids = {
            i for rel, k in known.items() if rel in present and rel not in changed for i in k.article_ids
        }
        importer = Importer(self.store, now, on_failure=report.add)
        rows: list[DropFile] = []
        left_out: list[str] = []
        for rel in changed:
            ids, errors = self._read(rel, importer)
            before = known[rel].article_ids if rel in known else ()
            missing = [i for i in before if i not in ids]
            if errors:
                # a record that now fails to read is not a record taken out: its article stays, and
                # stays on this file's list, until the file reads cleanly or goes
                ids += missing
            else:
                left_out += missing
            kept_ids.update(ids)
            mtime_ns, size = present[rel]
            rows.append(DropFile(rel, mtime_ns, size, tuple(ids), errors))
            report.imported.append(rel)
        importer.finish()

        removed = [rel for rel in known if rel not in present]
        gone = [i for rel in removed for i in known[rel].article_ids] + left_out
        for article_id in dict.fromkeys(gone):
            # an id still brought by another file (a file moved, or two copies) stays published
            if article_id not in kept_ids and self.store.withdraw(article_id, now):
                report.withdrawn.append(article_id)
        self._remember(rows, removed, now)
        for reported in [*report.failed, *report.omitted]:
            log.error("drop folder: %s", printable(str(reported)))
        return report

    def _read(self, rel: str, importer: Importer) -> tuple[list[str], str | None]:
        """The ids the file brings, and what drop_files.error keeps of its failures: the first
        STORED_REASONS and a count (all of 2.4 M bad lines made a 250 MB column)."""
        ids: list[str] = []
        reasons: list[str] = []
        failures = 0
        shown = display(self.folder / rel)
        importer.begin_file(shown)
        for item in parse_file(Source(self.folder, rel), None, self.tz, self.max_bytes):
            if isinstance(item, ArticleInput):
                ids.append(item.id)
            else:
                failures += 1
                if failures <= STORED_REASONS:
                    reason = item.reason if item.where == shown else str(item)
                    reasons.append(shortened(reason, STORED_REASON_CHARS))
            importer.add(item)
        importer.end_file()
        if failures > STORED_REASONS:
            reasons.append(f"…and {failures - STORED_REASONS:,} more")
        return ids, "; ".join(reasons) or None

    def _settled(
        self, rel: str, stat: tuple[int, int], clock: float, unsettled: dict[str, _Unsettled]
    ) -> bool:
        # Every write moves the mtime, so an mtime this old means nobody is writing the file now.
        if clock - stat[0] / 1e9 >= self.settle:
            return True
        # A future mtime never gets old: then (mtime, size) unchanged for `settle` by our own clock
        # says the same, as long as we have seen it.
        seen = self._unsettled.get(rel)
        if seen is None or seen.stat != stat:
            seen = _Unsettled(stat, clock)
            if stat[0] / 1e9 > clock:
                log.warning(
                    "drop folder: %s has a modification time in the future (%s); it is read once unchanged "
                    "for %s s",
                    printable(shortened(display(self.folder / rel))),
                    datetime.fromtimestamp(stat[0] / 1e9, self.tz).isoformat(timespec="seconds"),
                    self.settle,
                )
        if clock - seen.since >= self.settle:
            return True
        unsettled[rel] = seen
        return False

    def _report_unstorable(self, found: dict[str, tuple[tuple[int, int], str]], report: DropReport) -> None:
        """Names the drop_files table cannot hold are skipped (storing one would fail every scan),
        and reported once while they stay the same."""
        for rel, (stat, reason) in found.items():
            if self._unstorable.get(rel) != stat:
                report.failed.append(Failure(display(self.folder / rel), reason))
        self._unstorable = {rel: stat for rel, (stat, _) in found.items()}

    def _report_unlistable(self, found: dict[str, str], report: DropReport) -> None:
        """Folders whose files cannot be listed, reported once while they stay so."""
        for rel, reason in found.items():
            if rel not in self._unlistable:
                report.failed.append(Failure(shortened(display(self.folder / rel)), reason))
        self._unlistable = set(found)

    def _listing(
        self,
    ) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[tuple[int, int], str]], dict[str, str]]:
        """Every candidate file's (mtime, size) by relative path, and those of the links, FIFOs and
        devices a walk takes (reading them fails, so each is reported once per change like a bad
        file), and the folders that cannot be listed, with why. scandir, not os.walk and Path
        objects: a scan of 2,000 files twice a second took 27 ms of CPU that way, 11 ms this way."""
        found: dict[str, tuple[int, int]] = {}
        unstorable: dict[str, tuple[tuple[int, int], str]] = {}
        unlisted: dict[str, str] = {}
        folders = [(str(self.folder), "")]
        self._folders = []
        while folders:
            path, prefix = folders.pop()
            self._folders.append(prefix)
            try:
                entries = list(os.scandir(path))
            except OSError as error:
                reason = unlistable(error)  # None: removed while we looked
                if reason is not None:
                    unlisted[prefix] = reason
                continue
            for entry in entries:
                if is_taken(entry):
                    try:
                        stat = entry.stat(follow_symlinks=False)  # of a link, not of what it points at
                    except OSError:  # removed between listing and stat
                        continue
                    rel = prefix + entry.name
                    reason = _unstorable(rel)
                    if reason is None:
                        found[rel] = (stat.st_mtime_ns, stat.st_size)
                    else:
                        unstorable[rel] = ((stat.st_mtime_ns, stat.st_size), reason)
                elif entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                    folders.append((entry.path, f"{prefix}{entry.name}/"))
        return found, unstorable, unlisted

    def _known(self) -> dict[str, DropFile]:
        if self._cache is None:
            with self.store.reading() as conn:
                self._cache = dropfiles.load(conn)
        return self._cache

    def _remember(self, files: list[DropFile], removed: list[str], now: datetime) -> None:
        if not files and not removed:
            return
        with self.store.writing() as conn:
            dropfiles.replace(conn, files, removed, now)
        cache = self._known()
        for rel in removed:
            cache.pop(rel, None)
        cache.update((f.path, f) for f in files)


def _unstorable(rel: str) -> str | None:
    """Why drop_files cannot remember this path, if it cannot."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:  # os.scandir gives undecodable bytes as lone surrogates
        return "file name is not valid UTF-8: rename it"
    if len(rel) > MAX_PATH:
        return f"path longer than {MAX_PATH} characters: move it up"
    return None
