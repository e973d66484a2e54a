"""The static tree for nginx or a CDN: every feed, archive page and the OPML, each with a .gz twin.

Files are replaced atomically and only when their bytes change, so the web server's ETag and
Last-Modified (from size and mtime) stay put for unchanged feeds; files of feeds gone are removed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from syndicator.publish.cache import RenderedFeed


@dataclass(frozen=True, slots=True)
class TreeReport:
    written: int
    unchanged: int
    removed: int


def write_tree(out: Path, docs: Iterable[RenderedFeed]) -> TreeReport:
    written = unchanged = 0
    keep: set[Path] = set()
    for doc in docs:
        target = out / doc.path.lstrip("/")
        for path, data in ((target, doc.body), (target.with_name(target.name + ".gz"), doc.body_gzip)):
            keep.add(path)
            if _write_if_changed(path, data, doc.last_modified):
                written += 1
            else:
                unchanged += 1
    removed = 0
    feeds_dir = out / "feeds"
    if feeds_dir.is_dir():
        for path in sorted(feeds_dir.rglob("*"), reverse=True):
            if path.is_file() and path not in keep:
                path.unlink()
                removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return TreeReport(written, unchanged, removed)


def _write_if_changed(path: Path, data: bytes, modified: datetime | None) -> bool:
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    if modified is not None:
        # nginx derives Last-Modified from the mtime: make it the feed's own time, not the build's
        stamp = modified.timestamp()
        os.utime(temporary, (stamp, stamp))
    os.replace(temporary, path)
    return True
