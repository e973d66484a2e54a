"""Message catalogues: the words a person reads, in Vietnamese (the source) and English.

The catalogues are the `.po` files under `locale/` (`vi` is the source of truth: its msgids are the
Vietnamese wording, and an empty msgstr means the msgid itself; `en` translates every message).
They are compiled in memory with Babel the first time a language is used, and kept per language.
No compiled `.mo` is committed or built at install: there is no build step to forget, and no binary
that can fall behind its `.po` (tests/test_i18n.py checks the `.po` files against the sources).

The language of the text being made is a context variable, set with `using(lang)`: one request or
one mail renders in one language while another renders in another, on the same Jinja environment.
At the bottom of the layers: it imports only Babel and the standard library."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("vi", "en")
# each language named in itself (an endonym): what a reader of it looks for, on any page
ENDONYMS = {"vi": "Tiếng Việt", "en": "English"}
SOURCE = "vi"  # the language the msgids are written in
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_current: ContextVar[str] = ContextVar("syndicator_language", default=SOURCE)


def check(lang: str) -> str:
    """The language if we have a catalogue for it; a clear error naming the ones we have if not."""
    if lang not in LANGUAGES:
        raise ValueError(f"no message catalogue for language {lang!r}: one of {', '.join(LANGUAGES)}")
    return lang


def catalogue_of(tag: str) -> str:
    """The catalogue of a language tag (`site.language` "vi-VN" -> "vi"); the source language if we
    have none for it. Pages (web/language.py) and mails (a subscriber's default) start from it."""
    primary = tag.split("-", 1)[0].split("_", 1)[0].lower()
    return primary if primary in LANGUAGES else SOURCE


def catalogue_path(lang: str) -> Path:
    return LOCALE_DIR / check(lang) / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(lang: str) -> Catalog:
    with catalogue_path(lang).open("rb") as po:
        return read_po(po, locale=lang, domain=DOMAIN)


@cache
def translations(lang: str) -> Translations:
    """The compiled catalogue of `lang`, built from its `.po` once per process."""
    catalogue = read_catalogue(lang)
    # An empty msgstr means "the msgid as it is". write_mo drops an empty singular, but keeps an
    # empty plural (its strings are a tuple, which is truthy), and gettext would then answer "".
    for message in list(catalogue):
        if message.id and not any(_strings(message.string)):
            del catalogue[message.id]
    compiled = BytesIO()
    write_mo(compiled, catalogue)  # fuzzy messages stay out: a guess is not a translation
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def _strings(string: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if string is None:
        return ()
    return (string,) if isinstance(string, str) else tuple(string)


def current() -> str:
    return _current.get()


@contextmanager
def using(lang: str) -> Iterator[None]:
    """Make text in `lang` until the block ends (then the language before it is back)."""
    token = _current.set(check(lang))
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current()).ngettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Marks a msgid where it is defined (a module constant) for pybabel; `_()` translates it where
    it is shown, in the language of that moment."""
    return message
