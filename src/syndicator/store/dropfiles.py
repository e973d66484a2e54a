"""What the drop folder last read of each file: its (mtime, size), the article ids it brought, its error."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select

from syndicator.model import DropFile
from syndicator.store.schema import drop_files


def load(conn: Connection) -> dict[str, DropFile]:
    return {row.path: _file(row) for row in conn.execute(select(drop_files))}


def _file(row: Any) -> DropFile:
    return DropFile(row.path, row.mtime_ns, row.size, tuple(json.loads(row.article_ids)), row.error)


def replace(conn: Connection, files: Sequence[DropFile], removed: Sequence[str], now: datetime) -> None:
    """Remember these files as read now, and forget the removed ones."""
    paths = [f.path for f in files] + list(removed)
    if not paths:
        return
    conn.execute(delete(drop_files).where(drop_files.c.path.in_(paths)))
    if files:
        rows = [
            {
                "path": f.path,
                "mtime_ns": f.mtime_ns,
                "size": f.size,
                "article_ids": json.dumps(list(f.article_ids)),
                "error": f.error,
                "seen_at": now,
            }
            for f in files
        ]
        conn.execute(drop_files.insert(), rows)


def failed(conn: Connection, limit: int) -> tuple[list[DropFile], int]:
    """The files whose last reading failed (by path, at most `limit`), and how many there are."""
    where = drop_files.c.error.is_not(None)
    total = conn.execute(select(func.count()).select_from(drop_files).where(where)).scalar_one()
    rows = conn.execute(select(drop_files).where(where).order_by(drop_files.c.path).limit(limit))
    return [_file(row) for row in rows], int(total)
