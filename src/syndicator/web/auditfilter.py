"""The audit page's filters (/admin/audit?thao_tac=&nguoi=&tu=&den=): each checked before any query, the
days read in the site's zone, and kept in the page's links and form."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from urllib.parse import urlencode

from syndicator.store.audit import ACTOR_CHARS, Filter

FIELDS = ("thao_tac", "nguoi", "tu", "den")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
FIRST_YEAR, LAST_YEAR = 2000, 9998  # a day outside them is a typo; 9999-12-31's next day overflows


@dataclass(frozen=True, slots=True)
class Asked:
    chosen: Filter
    kept: dict[str, str]  # the filters as given (checked), for the form and the page links

    def link(self, base: str, number: int) -> str:
        """The page `number` of the same filters."""
        query = {k: v for k, v in self.kept.items() if v}
        if number > 1:
            query["trang"] = str(number)
        return f"{base}?{urlencode(query)}" if query else base


def _day(raw: str) -> date | None:
    if not _DAY.fullmatch(raw):
        return None
    try:
        found = date.fromisoformat(raw)
    except ValueError:
        return None
    return found if FIRST_YEAR <= found.year <= LAST_YEAR else None


def _start(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tz).astimezone(UTC)


def parse(query: Mapping[str, str], tz: tzinfo, actions: Collection[str]) -> Asked | None:
    """The filters of a query string; None when one is not valid (an unknown action, an actor too long
    or with control characters, a day not YYYY-MM-DD or a range that ends before it starts)."""
    kept = {field: query.get(field, "").strip() for field in FIELDS}
    action, actor = kept["thao_tac"], kept["nguoi"]
    if action and action not in actions:
        return None
    if len(actor) > ACTOR_CHARS or not actor.isprintable():
        return None
    since = until = None
    if kept["tu"]:
        first = _day(kept["tu"])
        if first is None:
            return None
        since = _start(first, tz)
    if kept["den"]:
        last = _day(kept["den"])
        if last is None:
            return None
        until = _start(last + timedelta(days=1), tz)  # the whole last day, in the site's zone
    if since is not None and until is not None and until <= since:
        return None
    return Asked(Filter(action or None, actor or None, since, until), kept)
