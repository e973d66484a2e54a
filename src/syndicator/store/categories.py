"""Categories: created on first sight under their slug, shown under the best spelling their articles
carry (best_spelling), kept in categories.name as articles arrive, move or are withdrawn."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, select, update

from syndicator.model import Category, CategoryCount
from syndicator.store.database import _dialect_insert, insert_ignore
from syndicator.store.query import visible
from syndicator.store.schema import articles, categories, category_spellings

# (slug, spelling) -> change in the number of articles spelling the category so
SpellingChanges = Mapping[tuple[str, str], int]


def ensure_categories(conn: Connection, names: Mapping[str, str], now: datetime) -> None:
    if not names:
        return
    known = set(conn.execute(select(categories.c.slug).where(categories.c.slug.in_(list(names)))).scalars())
    missing = [
        {"slug": slug, "name": name, "created_at": now, "changed_at": now}
        for slug, name in sorted(names.items())
        if slug not in known
    ]
    # Two writers may bring the same new categories at once (PostgreSQL): the second waits for the
    # first and keeps its rows; taken in one order (by slug), two such waits never form a cycle.
    insert_ignore(conn, categories, missing)


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
    """Every category with its number of visible articles, by slug (Store.categories orders them by
    the name shown, which a [categories] entry may change)."""
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


def best_spelling(spellings: Mapping[str, tuple[int, int]]) -> str | None:
    """The spelling to show, of spelling -> (articles, order first seen); None when no article carries
    any. Not all capitals over all capitals ("TIN TỨC" is how an export shouts, not how the office
    writes), then the most articles (an import's order must not decide), then the first seen.

    Counting the articles that carry a spelling now, not every one ever seen, lets a corrected
    re-import or a withdrawal undo a spelling's weight."""
    current = [(name, count, order) for name, (count, order) in spellings.items() if count > 0]
    if not current:
        return None
    return min(current, key=lambda s: (s[0].isupper(), -s[1], s[2]))[0]


def count_spellings(conn: Connection, changes: SpellingChanges) -> set[str]:
    """Apply a batch's changes to the spelling counts and rename the categories whose best spelling
    changed; returns those slugs (their feeds show the name). A few statements per batch, whatever
    its size."""
    changes = {key: delta for key, delta in changes.items() if delta}
    if not changes:
        return set()
    slugs = sorted({slug for slug, _ in changes})
    # Locking the categories first makes concurrent writers of one category take turns (PostgreSQL),
    # so each chooses from counts that include the other's; the feed stamp (touch) takes them anyway.
    shown = {
        slug: name
        for slug, name in conn.execute(
            select(categories.c.slug, categories.c.name)
            .where(categories.c.slug.in_(slugs))
            .order_by(categories.c.slug)
            .with_for_update(key_share=True)
        )
    }
    _add_counts(conn, changes)
    spellings: dict[str, dict[str, tuple[int, int]]] = {slug: {} for slug in slugs}
    for row in conn.execute(
        select(
            category_spellings.c.slug,
            category_spellings.c.name,
            category_spellings.c.articles,
            category_spellings.c.id,
        ).where(category_spellings.c.slug.in_(slugs))
    ):
        spellings[row.slug][row.name] = (int(row.articles), int(row.id))
    renamed = [
        {"b_slug": slug, "name": best}
        for slug in slugs
        if (best := best_spelling(spellings[slug])) is not None and best != shown.get(slug)
    ]
    if renamed:
        conn.execute(
            update(categories).where(categories.c.slug == bindparam("b_slug")).values(name=bindparam("name")),
            renamed,
        )
    return {row["b_slug"] for row in renamed}


def _add_counts(conn: Connection, changes: SpellingChanges) -> None:
    """Increments in the database, not values computed here: a count is never overwritten."""
    insert = _dialect_insert(conn)(category_spellings)
    # in the order the batch brought them: a new spelling's id is when it was first seen
    rows = [{"slug": slug, "name": name, "articles": delta} for (slug, name), delta in changes.items()]
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=[category_spellings.c.slug, category_spellings.c.name],
            set_={"articles": category_spellings.c.articles + insert.excluded.articles},
        ),
        rows,
    )
