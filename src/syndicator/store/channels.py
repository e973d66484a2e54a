"""What the feed builder needs to know which channels changed (their entries and archive pages are in
archives.py). A channel is one category (by slug) or ALL of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from syndicator.model import Status
from syndicator.store.schema import articles, categories

ALL = "all"
# Rows committed late can carry a changed_at older than the last look; looking back this far
# (and comparing fingerprints, which makes a second look free) means no change is ever missed.
LOOKBACK = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Changes:
    """What may have changed since the last look: everything (the first look), or the categories
    touched lately with their change stamps, and those with a scheduled article that came due."""

    everything: bool
    stamps: dict[str, int]  # slug -> revision
    due: set[str]


def changes(
    conn: Connection, since: datetime | None, previous_now: datetime | None, now: datetime
) -> Changes:
    if since is None or previous_now is None:
        return Changes(True, {}, set())
    stamps = {
        slug: int(revision)
        for slug, revision in conn.execute(
            select(categories.c.slug, categories.c.revision).where(categories.c.changed_at > since - LOOKBACK)
        )
    }
    # Scheduled articles whose time came since the last look change their feeds with no write at all.
    due = set(
        conn.execute(
            select(articles.c.category_slug)
            .where(
                articles.c.status == Status.PUBLISHED.value,
                articles.c.published_at > previous_now,
                articles.c.published_at <= now,
            )
            .distinct()
        ).scalars()
    )
    return Changes(False, stamps, due)


def next_due(conn: Connection, now: datetime) -> datetime | None:
    """When the next scheduled article comes due (None: none is waiting): until then, and with no
    commit meanwhile, a look for changes would find nothing."""
    found: datetime | None = conn.execute(
        select(func.min(articles.c.published_at)).where(
            articles.c.status == Status.PUBLISHED.value, articles.c.published_at > now
        )
    ).scalar()
    return found


def names(conn: Connection) -> dict[str, str]:
    """Every category's stored name by slug (no counting: cheap at any size)."""
    return {slug: name for slug, name in conn.execute(select(categories.c.slug, categories.c.name))}
