"""Articles for the feed benchmark, written straight into a store (no export files, no import parsing).

The text comes from bench/generate.py (the import benchmark's generator), turned into ArticleInput the
way the portal importer would (paragraphs as <p>, a 300-character summary), and written with
Store.write in batches of 1000. A 100,000-article SQLite database takes a minute or more to fill, so
`template` keeps the filled file under bench/out/feeds/ (with a manifest) and later runs copy it.
"""

from __future__ import annotations

import html
import json
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from generate import make_article, themes_for  # noqa: E402
from syndicator.model import ArticleInput  # noqa: E402
from syndicator.store import Store  # noqa: E402
from syndicator.store.database import head_revision  # noqa: E402
from syndicator.text import clean_line, truncate  # noqa: E402

SEED = 1
BATCH = 1000
SUMMARY_CHARS = 300
FORMAT = 1  # bump when the articles written change, so that kept templates are filled anew
# The store's own clock while filling: after every generated posting date (2016-2024), so that all
# articles are visible at any later `now`, and fixed, so that a kept template is the same file.
FILLED_AT = datetime(2025, 1, 1, tzinfo=UTC)
TEMPLATES = BENCH / "out" / "feeds"


def article_input(index: int, count: int, categories: int, seed: int = SEED) -> ArticleInput:
    """Article `index` of a `count`-article corpus, as the portal importer would store it."""
    made = make_article(seed, index, count, themes_for(categories), 1000)
    paragraphs = [p for p in (clean_line(text) for text in made.paragraphs) if p]
    return ArticleInput(
        id=made.stem,
        title=clean_line(made.title),
        category_name=made.category,
        published_at=made.published_at,
        body_html="".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs),
        summary=truncate(paragraphs[0], SUMMARY_CHARS),
        author=made.author,
        office=made.office,
        source="bench",
    )


def batches(count: int, categories: int, size: int = BATCH) -> Iterator[list[ArticleInput]]:
    for start in range(0, count, size):
        yield [article_input(i, count, categories) for i in range(start, min(start + size, count))]


def fill(store: Store, count: int, categories: int, *, label: str = "") -> float:
    """Write the corpus into `store`; returns the seconds taken."""
    started = time.perf_counter()
    for number, batch in enumerate(batches(count, categories), 1):
        store.write(batch, FILLED_AT)
        if label and number % 20 == 0:
            done = min(number * BATCH, count)
            print(f"  {label}: {done}/{count} articles written", file=sys.stderr, flush=True)
    return time.perf_counter() - started


def template(count: int, categories: int) -> Path:
    """A filled SQLite file (no rendered feeds in it): reused when its manifest matches, else made."""
    TEMPLATES.mkdir(parents=True, exist_ok=True)
    path = TEMPLATES / f"articles-{count}-{categories}.sqlite"
    manifest = path.with_suffix(".json")
    # a schema change (a new migration) means a new template, written by the code of that revision
    wanted = {
        "format": FORMAT,
        "count": count,
        "categories": categories,
        "seed": SEED,
        "schema": head_revision(),
    }
    try:
        if json.loads(manifest.read_text()) == wanted and path.is_file():
            print(f"data: reusing {path.relative_to(BENCH.parent)}", file=sys.stderr)
            return path
    except (OSError, ValueError):
        pass
    manifest.unlink(missing_ok=True)
    partial = path.with_suffix(".partial")
    for leftover in TEMPLATES.glob(partial.name + "*"):
        leftover.unlink()
    print(f"data: writing {count} articles in {categories} categories into SQLite ...", file=sys.stderr)
    store = Store.open(f"sqlite:///{partial}")
    try:
        seconds = fill(store, count, categories, label="SQLite")
    finally:
        store.close()
    with sqlite3.connect(partial) as conn:  # one self-contained file, so that a copy is complete
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for leftover in TEMPLATES.glob(partial.name + "-*"):  # -wal / -shm, empty after the checkpoint
        leftover.unlink()
    partial.replace(path)
    manifest.write_text(json.dumps(wanted) + "\n")
    print(f"data: {count} articles written in {seconds:.0f} s ({count / seconds:.0f}/s)", file=sys.stderr)
    return path


def copy_of(source: Path, target: Path) -> str:
    """Copy a template database file; returns its SQLAlchemy URL."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return f"sqlite:///{target}"
