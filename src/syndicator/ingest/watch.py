"""Wakes the drop folder's scan when something changes in the folder (Linux inotify), so a file renamed
into place is published at once rather than at the next interval scan, which stays as the fallback.

inotify_simple, not watchfiles: watchfiles (Rust notify) reports a file renamed into place and one just
created alike ("added"), and batches events over a debounce period; inotify_simple gives the kernel's
own events, and IN_MOVED_TO is what tells that a file arrived whole (its writer renamed it into place,
as dropfolder.py asks writers to), so it need not wait out the settle time. Folders are watched with
IN_DONT_FOLLOW and IN_ONLYDIR and only as the scan finds them (scandir, links not followed): a link to
a folder elsewhere is never watched, as it is never read.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from inotify_simple import INotify, flags

log = logging.getLogger(__name__)

_FOLDER_EVENTS = (
    flags.CREATE
    | flags.MOVED_TO
    | flags.MOVED_FROM
    | flags.DELETE
    | flags.CLOSE_WRITE
    | flags.MODIFY
    | flags.ATTRIB
    | flags.DELETE_SELF
)
_WATCH = _FOLDER_EVENTS | flags.DONT_FOLLOW | flags.ONLYDIR
READ_MS = 1000  # the thread looks whether to stop this often


class FolderWatch:
    """A thread reading inotify events of `folder` and the folders below it that `watch_folders` names.

    `arrived()` hands over the files renamed into place since the last call (relative paths), and
    `on_change` is called after each batch of events (from the watch's thread)."""

    def __init__(self, folder: Path, on_change: Callable[[], object]) -> None:
        self.folder = folder
        self.on_change = on_change
        self._inotify = INotify()  # OSError where inotify is unavailable (or out of instances)
        self._lock = threading.Lock()
        self._folders: dict[int, str] = {}  # watch descriptor -> relative prefix ("" or "a/b/")
        self._prefixes: dict[str, int] = {}
        self._arrived: set[str] = set()
        self._stop = threading.Event()
        self.alive = True
        self.on_lost: Callable[[], object] | None = None  # called if the watch ends before `stop`
        self._add("")
        self._thread = threading.Thread(target=self._run, name="drop-folder-watch", daemon=True)
        self._thread.start()

    def arrived(self) -> set[str]:
        with self._lock:
            arrived, self._arrived = self._arrived, set()
        return arrived

    def watch_folders(self, prefixes: Iterable[str]) -> None:
        """Watch these folders too (found by the scan): a file renamed into one of them wakes it."""
        with self._lock:
            new = set(prefixes) - set(self._prefixes)
            for prefix in new:
                self._add(prefix)
        if new:
            # a file that came into a new folder between the scan's listing and its watch sent no event
            self.on_change()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(READ_MS / 1000 + 1)
        self._inotify.close()

    def _add(self, prefix: str) -> None:
        try:
            wd = self._inotify.add_watch(os.path.join(self.folder, prefix), _WATCH)
        except OSError as error:  # gone meanwhile, a link, or out of watches: the interval scan finds it
            if prefix == "":
                raise
            log.debug("drop folder: %s not watched: %s", prefix, error)
            return
        self._folders[wd] = prefix
        self._prefixes[prefix] = wd

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                events = self._inotify.read(timeout=READ_MS)
                if events and self._handle(events):
                    self.on_change()
        except Exception as error:  # noqa: BLE001 - the interval scan goes on without it
            log.warning("drop folder: no longer watched (%s); scanning every interval", error)
        finally:
            self.alive = False
            if not self._stop.is_set() and self.on_lost is not None:
                self.on_lost()

    def _handle(self, events: Iterable[object]) -> bool:
        changed = False
        with self._lock:
            for event in events:
                wd, mask, name = event.wd, event.mask, event.name  # type: ignore[attr-defined]
                if mask & flags.Q_OVERFLOW:
                    changed = True  # events were lost: the scan compares everything anyway
                    continue
                prefix = self._folders.get(wd)
                if mask & flags.IGNORED:
                    if prefix is not None:
                        self._folders.pop(wd, None)
                        self._prefixes.pop(prefix, None)
                        if prefix == "":
                            raise OSError("the drop folder itself was removed or moved")
                    continue
                if prefix is None:
                    continue
                changed = True
                rel = prefix + name
                if mask & flags.ISDIR:
                    continue  # the scan lists it and its files, and then watches it
                if mask & flags.MOVED_TO:
                    self._arrived.add(rel)
                elif mask & (flags.MODIFY | flags.CLOSE_WRITE | flags.CREATE):
                    self._arrived.discard(rel)  # written in place after all: the settle time holds
        return changed
