"""Categories: created on first sight under their slug; the first name seen is kept for display."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, func, select, update

from syndicator.model import Category, CategoryCount
from syndicator.store.schema import articles, categories


def ensure_categories(conn: Connection, names: Mapping[str, str], now: datetime) -> None:
    if not names:
        return
    known = set(conn.execute(select(categories.c.slug).where(categories.c.slug.in_(list(names)))).scalars())
    missing = [
        {"slug": slug, "name": name, "created_at": now, "changed_at": now}
        for slug, name in names.items()
        if slug not in known
    ]
    if missing:
        conn.execute(categories.insert(), missing)


def get(conn: Connection, slug: str) -> Category | None:
    row = conn.execute(select(categories.c.slug, categories.c.name).where(categories.c.slug == slug)).first()
    return Category(row.slug, row.name) if row else None


def counts_key(conn: Connection, now: datetime) -> tuple[object, ...]:
    """Changes whenever the counts of with_counts(now) may have: every write or withdrawal bumps a
    category's revision (touch), a new category adds a row, and an article coming due moves the
    newest published_at up to now. Cheap, where the counts read every visible article."""
    revisions = conn.execute(select(func.count(), func.coalesce(func.sum(categories.c.revision), 0))).one()
    newest_due = conn.execute(select(func.max(articles.c.published_at)).where(articles.c.published_at <= now))
    return revisions[0], revisions[1], newest_due.scalar()


def with_counts(conn: Connection, now: datetime) -> list[CategoryCount]:
    """Every category with its number of visible articles, by slug (a stable, accent-free order)."""
    from syndicator.store.articles import visible

    counts = {
        slug: int(number)
        for slug, number in conn.execute(
            select(articles.c.category_slug, func.count())
            .where(visible(now))
            .group_by(articles.c.category_slug)
        )
    }
    rows = conn.execute(select(categories.c.slug, categories.c.name).order_by(categories.c.slug))
    return [CategoryCount(Category(r.slug, r.name), int(counts.get(r.slug, 0))) for r in rows]


def touch(conn: Connection, slugs: set[str], now: datetime) -> None:
    """Record that the content of these categories changed (their feeds must be looked at)."""
    if slugs:
        conn.execute(
            update(categories)
            .where(categories.c.slug.in_(sorted(slugs)))
            .values(changed_at=now, revision=categories.c.revision + 1)
        )
