"""Summaries derived from a body before block boundaries counted: "(Chủ nhật).Khu vực: ..." becomes a
line per paragraph or list item, as an import by this version derives it.

Only summaries the old derivation made are touched: a stored summary equal to what the old code
(frozen below) gives from the article's body was derived by it; one given with the article, or a
portal export's first paragraph, differs from it (or, for a one-paragraph body, is the same text in
either version) and stays. The new summary is the live derivation
(syndicator.text.summary_of_html), not a frozen copy: what matters is that a stored summary equals what
an import by the running version derives.

A rewritten article gets `changed_at` = now and its category a new revision and `changed_at`, the
feed builder's cue (store/channels.py `changes`): a running builder re-renders those feeds at its next
look, a starting one because the articles' change times are part of each feed's fingerprint. Its
content hash is recomputed too when the stored one is provably the hash of the old summary, so that
importing the same file again stays a no-op rather than an edit dated today.

Downgrade: nothing. The old summaries are not kept, and the new ones are as true to the body under
the old code (which shows them as it shows a summary given with the article).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import nh3
import sqlalchemy as sa
from alembic import op

from syndicator.clock import utcnow
from syndicator.model import ArticleInput, Status
from syndicator.store.schema import UTCDateTime
from syndicator.text import summary_of_html

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SUMMARY_CHARS = 300  # ingest/jsonl.py's, then and now
BATCH = 500  # articles read (bodies included) and written at once

_articles = sa.table(
    "articles",
    sa.column("id", sa.String),
    sa.column("category_slug", sa.String),
    sa.column("category_name", sa.String),
    sa.column("title", sa.Text),
    sa.column("published_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
    sa.column("author", sa.Text),
    sa.column("office", sa.Text),
    sa.column("summary", sa.Text),
    sa.column("body_html", sa.Text),
    sa.column("url", sa.Text),
    sa.column("status", sa.String),
    sa.column("content_hash", sa.String),
    sa.column("changed_at", UTCDateTime()),
)
_categories = sa.table(
    "categories",
    sa.column("slug", sa.String),
    sa.column("changed_at", UTCDateTime()),
    sa.column("revision", sa.Integer),
)


def upgrade() -> None:
    conn = op.get_bind()
    now = utcnow()
    touched: set[str] = set()
    for rows in _batches(conn):
        changed = [(row, change) for row in rows if (change := _change(row)) is not None]
        if changed:
            conn.execute(
                sa.update(_articles)
                .where(_articles.c.id == sa.bindparam("b_id"))
                .values(
                    summary=sa.bindparam("b_summary"), content_hash=sa.bindparam("b_hash"), changed_at=now
                ),
                [change for _, change in changed],
            )
            touched.update(row.category_slug for row, _ in changed)
    if touched:
        conn.execute(
            sa.update(_categories)
            .where(_categories.c.slug.in_(sorted(touched)))
            .values(changed_at=now, revision=_categories.c.revision + 1)
        )


def downgrade() -> None:
    """Nothing to undo: see the module's note."""


def _batches(conn: sa.Connection) -> Iterator[list[Any]]:
    """Every article with a body, BATCH at a time in id order (a key to resume from, not an offset)."""
    last = ""
    while True:
        rows = list(
            conn.execute(
                sa.select(_articles)
                .where(_articles.c.id > last, _articles.c.body_html != "")
                .order_by(_articles.c.id)
                .limit(BATCH)
            )
        )
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _change(row: Any) -> dict[str, str] | None:
    """The new summary and content hash of an article whose summary the old code derived, else None."""
    if row.summary != old_summary(row.body_html):
        return None
    summary = summary_of_html(row.body_html, SUMMARY_CHARS)
    if summary == row.summary:
        return None
    return {"b_id": row.id, "b_summary": summary, "b_hash": _new_hash(row, summary)}


def _new_hash(row: Any, summary: str) -> str:
    """The hash an import of the same article computes now, if the stored one is that of the old
    summary for one way of reading the row; else the stored one (a re-import then updates it)."""
    if row.status == Status.WITHDRAWN.value:
        return str(row.content_hash)  # reset on withdrawal, so that the same content publishes again
    # the source's own edit time, or none (stored updated_at is then the publication or import time)
    for updated_at in (None, row.updated_at):
        if _input(row, row.summary, updated_at).content_hash() == row.content_hash:
            return _input(row, summary, updated_at).content_hash()
    return str(row.content_hash)


def _input(row: Any, summary: str, updated_at: Any) -> ArticleInput:
    return ArticleInput(
        id=row.id,
        title=row.title,
        category_name=row.category_name,
        published_at=row.published_at,
        body_html=row.body_html,
        summary=summary,
        author=row.author,
        office=row.office,
        url=row.url,
        status=Status(row.status),
        updated_at=updated_at,
    )


# --- the derivation before this revision, frozen -------------------------------------------------

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_SPACES = re.compile(r"[\s\u00a0\u200b\ufeff]+")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def old_summary(body_html: str) -> str:
    """ingest/jsonl.py's summary of a body before 0011: its text with only </p> and <br> as breaks,
    on one line, cut to SUMMARY_CHARS. Public: tests store with it what an import before 0011 stored."""
    stripped = nh3.clean(body_html.replace("</p>", "</p>\n\n").replace("<br>", "\n"), tags=set())
    text = html.unescape(stripped).strip()
    line = _SPACES.sub(" ", _BIDI.sub("", _FORBIDDEN.sub("", unicodedata.normalize("NFC", text)))).strip()
    if len(line) <= SUMMARY_CHARS:
        return line
    cut = line[: SUMMARY_CHARS - 1]
    space = cut.rfind(" ")
    if space > SUMMARY_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"
