"""Subscribers as CSV: import (bad rows reported, the others added) and export (read back by import;
values a spreadsheet would run as formulas written behind a quote)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime

from syndicator.mail.choices import InvalidSubscription, add
from syndicator.model import Source
from syndicator.store import Store
from syndicator.store import subscribers as store_subscribers


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    reason: str


def import_csv(
    store: Store, data: str, now: datetime, *, confirmed: bool = True, known: Collection[str] = ()
) -> tuple[int, int, list[RowProblem]]:
    """Columns email,name,categories,frequency (header optional). Returns (created, updated, problems).

    `known`: as for `choices.add` (a row naming an unknown category is a problem row)."""
    created = updated = 0
    problems: list[RowProblem] = []
    reader = csv.reader(io.StringIO(data.removeprefix("\ufeff")))
    for number, row in enumerate(reader, start=1):
        if not row or not any(cell.strip() for cell in row):
            continue
        if number == 1 and row[0].strip().lower() in ("email", "e-mail", "địa chỉ email"):
            continue
        email, name, cats, freq = (unguarded(cell) for cell in [*row, "", "", "", ""][:4])
        try:
            _, was_created = add(
                store,
                email,
                now,
                name=name,
                categories=cats or None,
                frequency=freq or None,
                confirmed=confirmed,
                source=Source.IMPORT,
                known=known,
            )
        except InvalidSubscription as error:
            problems.append(RowProblem(number, str(error)))
            continue
        created += was_created
        updated += not was_created
    return created, updated, problems


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
    """Columns email,name,categories,frequency,status,source: `import_csv` reads it back."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "name", "categories", "frequency", "status", "source"])
    yield out.getvalue()
    with store.reading() as conn:
        people = store_subscribers.listing(conn)
    for person in people:
        out.seek(0)
        out.truncate()
        cats = "all" if person.categories is None else ",".join(sorted(person.categories))
        values = [person.email, person.name or "", cats, person.frequency.value]
        writer.writerow([guarded(v) for v in [*values, person.status.value, person.source.value]])
        yield out.getvalue()
