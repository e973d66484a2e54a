"""Subscribers as CSV: import (bad rows reported, the others added) and export (read back by import;
values a spreadsheet would run as formulas written behind a quote)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from syndicator import i18n
from syndicator.mail.choices import Given, InvalidSubscription, add_many
from syndicator.model import Source, Subscriber
from syndicator.store import Store
from syndicator.store import subscribers as store_subscribers


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    reason: str


COLUMNS = ("email", "name", "categories", "frequency", "language")  # the order of a file with no header
_EMAIL_HEADERS = ("email", "e-mail", "địa chỉ email")


CHUNK = 10000  # rows per transaction: a few statements each (choices.add_many), memory bounded by it


def import_csv(
    store: Store,
    data: str | Iterable[str],
    now: datetime,
    *,
    confirmed: bool = True,
    known: Collection[str] = (),
    default_language: str = i18n.SOURCE,
    on_saved: Callable[[Subscriber], None] = lambda subscriber: None,
) -> tuple[int, int, list[RowProblem]]:
    """Columns email,name,categories,frequency,language: named by a header row (in any order; other
    columns, such as export's status and source, are skipped), or in that order without one.
    Returns (created, updated, problems).

    `data`: the file's text, or its lines as they are read (a file opened with newline=""): the file
    is read as it is imported, CHUNK rows at a time, each chunk saved in one transaction
    (`choices.add_many`), so memory does not grow with the file. The console's imports call this too.

    `known`: as for `choices.add` (a row naming an unknown category is a problem row). `language`:
    "vi" or "en" (an empty cell keeps an address's language; a new one gets `default_language`);
    any other value is a problem row, and the others are imported. `on_saved` is handed the subscriber
    each good row saved (created or updated, changed or not), as it is now: `subscribers import
    --pending` asks them to confirm."""
    created = updated = 0
    problems: list[RowProblem] = []
    lines = io.StringIO(data) if isinstance(data, str) else iter(data)
    reader = csv.reader(_without_bom(lines))
    where = {column: index for index, column in enumerate(COLUMNS)}
    chunk: list[tuple[int, Given]] = []

    def save(rows: list[tuple[int, Given]]) -> None:
        nonlocal created, updated
        results = add_many(
            store,
            [given for _, given in rows],
            now,
            confirmed=confirmed,
            source=Source.IMPORT,
            known=known,
            default_language=default_language,
        )
        for (number, _), result in zip(rows, results, strict=True):
            if isinstance(result, InvalidSubscription):
                problems.append(RowProblem(number, str(result)))
                continue
            person, was_created = result
            on_saved(person)
            created += was_created
            updated += not was_created

    for number, row in enumerate(reader, start=1):
        if not row or not "".join(row).strip():  # no cell but spaces
            continue
        if number == 1 and any(cell.strip().lower() in _EMAIL_HEADERS for cell in row):
            where = _header(row)
            continue
        given = Given(
            _cell(row, where.get("email")) or "",
            name=_cell(row, where.get("name")),
            categories=_cell(row, where.get("categories")) or None,
            frequency=_cell(row, where.get("frequency")) or None,
            language=(_cell(row, where.get("language")) or "").strip() or None,
        )
        chunk.append((number, given))
        if len(chunk) >= CHUNK:
            save(chunk)
            chunk = []
    if chunk:
        save(chunk)
    return created, updated, problems


def _cell(row: list[str], index: int | None) -> str | None:
    """The value of a row's cell (unguarded); "" for a cell the row lacks, None for a column the file
    has not."""
    if index is None:
        return None
    return unguarded(row[index]) if index < len(row) else ""


def _without_bom(lines: Iterator[str]) -> Iterator[str]:
    """The lines, the first without the byte order mark a spreadsheet may write."""
    first = next(lines, None)
    if first is not None:
        yield first.removeprefix("\ufeff")
        yield from lines


def _header(row: list[str]) -> dict[str, int]:
    """Where each column is, by the header's names; a header naming no column but the address (such
    as "Địa chỉ email" alone) leaves them in the order of COLUMNS."""
    named = {cell.strip().lower(): index for index, cell in reversed(list(enumerate(row)))}
    found = {column: named[column] for column in COLUMNS[1:] if column in named}
    if not found:
        return {column: index for index, column in enumerate(COLUMNS)}
    return {"email": min(named[h] for h in _EMAIL_HEADERS if h in named), **found}


# A spreadsheet runs a cell beginning with one of these as a formula (OWASP "CSV Injection"); an
# address like =cmd|'/Ccalc'!A0@example.org is valid, so export writes such values behind a quote.
FORMULA_START = re.compile(r"'*[=+\-@\t\r]")


def guarded(value: str) -> str:
    """The value as a spreadsheet shows it and never runs it ("'" before it; one more "'" before a value
    that already starts with quotes and then a formula character, so unguarded() gives it back)."""
    return "'" + value if FORMULA_START.match(value) else value


def unguarded(cell: str) -> str:
    """A cell of an exported file as the value it stands for (export's quote removed)."""
    return cell[1:] if cell.startswith("'") and FORMULA_START.match(cell) else cell


def export_csv(store: Store) -> Iterator[str]:
    """Columns email,name,categories,frequency,language,status,source: `import_csv` reads it back."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*COLUMNS, "status", "source"])
    yield out.getvalue()
    with store.reading() as conn:
        people = store_subscribers.listing(conn)
    for person in people:
        out.seek(0)
        out.truncate()
        cats = "all" if person.categories is None else ",".join(sorted(person.categories))
        values = [person.email, person.name or "", cats, person.frequency.value, person.language]
        writer.writerow([guarded(v) for v in [*values, person.status.value, person.source.value]])
        yield out.getvalue()
