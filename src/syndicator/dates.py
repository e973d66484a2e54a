"""A time as a person reads it, in one style for pages and mails: "15:50, Thứ Sáu 18/12/2020", and
in English "3:50 PM, Friday 18 December 2020"; a day ("29/11/2026", "29 November 2026") and the days
of a week ("22/11" to "29/11/2026", "22" to "29 November 2026") in the same style.

Hour and minute, the weekday, the day; no seconds. Babel's locale data names the weekday, the month
and the AM/PM marker, so a site set to another `site.language` gets its own names (in the Vietnamese
order of parts, the one written for it). Machine formats (RFC 822, RFC 3339, the `datetime` attribute
of <time>) are written elsewhere and do not change with this.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

from babel import Locale
from babel.dates import format_date, format_datetime

from syndicator.model import Day

# The weekday is put in as a quoted literal: Babel's own would spell Sunday "Chủ Nhật".
_PATTERN = "HH:mm, '{weekday}' dd/MM/yyyy"
# by language: English as British and American readers both read it ("3:50 PM, Friday 18 December
# 2020": a 12-hour clock, and the month in words, so 18/12 and 12/18 are never mistaken)
_PATTERNS = {"en": "h:mm a, '{weekday}' d MMMM yyyy"}

# a day alone, and the first day of a span by what it shares with the last (which is written as a
# day): (same month, same year, neither). Vietnamese keeps the month of the first day as numbers
# always read ("từ 22/11 đến 29/11/2026"); English leaves out what the last day says ("22 to 29
# November 2026", "27 October to 2 November 2026").
_DAY = "dd/MM/yyyy"
_DAYS = {"en": "d MMMM yyyy"}
_FIRST = ("dd/MM", "dd/MM", _DAY)
_FIRSTS = {"en": ("d", "d MMMM", "d MMMM yyyy")}


def when(moment: datetime, tz: tzinfo, locale: str = "vi") -> str:
    """`moment` (aware) in `tz`: "15:50, Thứ Sáu 18/12/2020" for locale "vi", "3:50 PM, Friday
    18 December 2020" for "en"."""
    local = moment.astimezone(tz)
    parsed = locale_of(locale)
    weekday = weekday_names(locale)[local.weekday()].replace("'", "''")  # a quote ends an LDML literal
    pattern = _PATTERNS.get(parsed.language, _PATTERN)
    return format_datetime(local, pattern.format(weekday=weekday), locale=parsed)


def day(moment: date, locale: str = "vi") -> str:
    """A day as running text writes it: "29/11/2026" for locale "vi", "29 November 2026" for "en"
    (Babel's month names). A datetime is taken as the day it shows: put it in the site's zone first."""
    parsed = locale_of(locale)
    return format_date(moment, _DAYS.get(parsed.language, _DAY), locale=parsed)


def span(first: date, last: date, locale: str = "vi") -> tuple[str, str]:
    """The first and last days of a span, to go in a sentence that joins them ("từ %(first)s đến
    %(last)s", "%(first)s to %(last)s"): the last as `day` writes it, the first without what the
    last already says. ("22/11", "29/11/2026") and ("22", "29 November 2026"); across a new year
    both say their year: ("29/12/2025", "04/01/2026"), ("29 December 2025", "4 January 2026")."""
    parsed = locale_of(locale)
    shape = 0 if (first.year, first.month) == (last.year, last.month) else 1 if first.year == last.year else 2
    pattern = _FIRSTS.get(parsed.language, _FIRST)[shape]
    return format_date(first, pattern, locale=parsed), day(last, locale)


@lru_cache(maxsize=8)
def weekday_names(locale: str) -> tuple[str, ...]:
    """Monday first, as written in running text of `locale`.

    CLDR capitalises both syllables of Sunday in Vietnamese ("Chủ Nhật") while the portal and its
    readers write "Chủ nhật", as the other days keep "Thứ" capital and the rest small ("Thứ Hai"
    reads as a name: "Thứ" plus a numeral); both spellings on one site read as a mistake.
    """
    parsed = locale_of(locale)
    names = [parsed.days["format"]["wide"][day] for day in range(7)]
    if parsed.language == "vi":
        names[6] = "Chủ nhật"
    return tuple(names)


@lru_cache(maxsize=8)
def locale_of(tag: str) -> Locale:
    """`site.language` is a BCP 47 tag ("vi", "vi-VN"); Babel's parser wants "vi_VN"."""
    return Locale.parse(tag.replace("-", "_"))


def days_ending(now: datetime, count: int, tz: tzinfo) -> list[Day]:
    """The `count` days of the site's calendar up to and including the one `now` falls in, oldest
    first, each as its UTC interval (a day across a change of offset is as long as it really is)."""
    today = now.astimezone(tz).date()
    days = []
    for back in range(count - 1, -1, -1):
        first = today - timedelta(days=back)
        start = datetime.combine(first, time(), tz).astimezone(UTC)
        end = datetime.combine(first + timedelta(days=1), time(), tz).astimezone(UTC)
        days.append(Day(first, start, end))
    return days
