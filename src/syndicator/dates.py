"""A time as a person reads it, in one style for pages and mails: "15:50, Thứ Sáu 18/12/2020".

Hour and minute, the weekday, the day; no seconds. Babel's locale data names the weekday, so a site
set to another `site.language` gets its own names. Machine formats (RFC 822, RFC 3339, the
`datetime` attribute of <time>) are written elsewhere and do not change with this.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import lru_cache

from babel import Locale
from babel.dates import format_datetime

# The weekday is put in as a quoted literal: Babel's own would spell Sunday "Chủ Nhật".
_PATTERN = "HH:mm, '{weekday}' dd/MM/yyyy"


def when(moment: datetime, tz: tzinfo, locale: str = "vi") -> str:
    """`moment` (aware) in `tz`: "15:50, Thứ Sáu 18/12/2020" for locale "vi"."""
    local = moment.astimezone(tz)
    weekday = weekday_names(locale)[local.weekday()].replace("'", "''")  # a quote ends an LDML literal
    return format_datetime(local, _PATTERN.format(weekday=weekday), locale=locale_of(locale))


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
