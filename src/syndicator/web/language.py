"""The language of a page request: chosen (`?lang=`, remembered in a cookie), negotiated
(`Accept-Language`) or the site's; and the headers that say it, so a cache keeps each apart.

Feeds, OPML and the poll path never come here: a feed stays in the site's language."""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from syndicator import i18n

QUERY = "lang"
COOKIE = "lang"
COOKIE_SECONDS = 365 * 24 * 3600
VARY = ("Accept-Language", "Cookie")
# RFC 9110 section 12.4.2: a weight is 0 to 1 with at most three decimals; anything else (q=1.5) is invalid
_Q = re.compile(r"q=(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)\Z")


def site_language(tag: str) -> str:
    """The catalogue of a site language tag (`vi-VN` -> `vi`); the source language if we have none."""
    return i18n.catalogue_of(tag)


def accepted(header: str, default: str) -> str:
    """The catalogue the `Accept-Language` header likes best (RFC 9110: highest q first, then the
    order written; `q=0` refuses; `*` is any, so the site's default); `default` if none fits."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            found = _Q.match(param.replace(" ", "").lower())
            if param.lower().startswith("q"):
                quality = float(found.group(1)) if found else 0.0  # a bad q is not a preference
        if tag and quality > 0:
            ranked.append((-quality, position, tag.lower()))
    for _, _, tag in sorted(ranked):
        if tag == "*":
            return default
        primary = tag.split("-", 1)[0]
        if primary in i18n.LANGUAGES:
            return primary
    return default


def explicit(value: str | None) -> str | None:
    """A language named by `?lang=` or the cookie, in any case (`EN` is `en`, as `--language EN` is);
    None for anything we have no catalogue of."""
    if value is None:
        return None
    lowered = value.strip().lower()
    return lowered if lowered in i18n.LANGUAGES else None


def chosen(query: str | None, cookie: str | None, header: str | None, default: str) -> str:
    """Query, then cookie, then `Accept-Language`, then the site's language; an unknown value of
    any of them is passed over, never an error."""
    for named in (query, cookie):
        found = explicit(named)
        if found is not None:
            return found
    return accepted(header, default) if header else default


def of(request: Request, site_tag: str) -> str:
    return chosen(
        request.query_params.get(QUERY),
        request.cookies.get(COOKIE),
        request.headers.get("accept-language"),
        site_language(site_tag),
    )


def said(request: Request, response: Response, lang: str, *, secure: bool) -> None:
    """Content-Language and Vary on the page; the cookie when `?lang=` chose a language."""
    response.headers["content-language"] = lang
    response.headers["vary"] = merged_vary(response.headers)
    if explicit(request.query_params.get(QUERY)) is not None:
        response.set_cookie(
            COOKIE, lang, max_age=COOKIE_SECONDS, path="/", samesite="lax", secure=secure, httponly=True
        )


def merged_vary(headers: Mapping[str, str]) -> str:
    present = [v.strip() for v in headers.get("vary", "").split(",") if v.strip()]
    known = {v.lower() for v in present}
    return ", ".join([*present, *(v for v in VARY if v.lower() not in known)])
