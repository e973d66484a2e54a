"""Jinja2 for pages and mails: one environment, Vietnamese formatting filters, autoescape.

Templates mark the words a person reads with `_()`/`ngettext()` (Jinja's i18n extension), answered
from i18n.py's catalogues in the language of `i18n.using`. A category's name is data, not a message:
templates show it with `category_name(category)` and list categories with `| in_reading_order`, both
in the language of `i18n.using` (the English names of `[categories.en]`, through `category_names`).
At the bottom of the layers (it imports only dates.py, links.py, model.py and i18n.py), so mail/ and
web/ both build on it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar, cast
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from syndicator import dates, i18n, links
from syndicator.model import Category, reading_key

# templates/ sits at the project root (src/syndicator -> parents[2]); a packaged install points
# SYNDICATOR_TEMPLATES_DIR at its copy.
TEMPLATES = Path(
    os.environ.get("SYNDICATOR_TEMPLATES_DIR") or Path(__file__).resolve().parents[2] / "templates"
)


# (slug, name as given, language) -> the name a person reads: Settings.category_display_name
CategoryNames = Callable[[str, str, str | None], str]

# "(in Vietnamese)": what the directory of a page in another language says of the feeds' language
LANGUAGE_NOTES = {"vi": i18n.N_("(tiếng Việt)"), "en": i18n.N_("(tiếng Anh)")}


class _Named(Protocol):
    @property
    def slug(self) -> str: ...
    @property
    def name(self) -> str: ...


_Listed = TypeVar("_Listed")  # a Category, or a CategoryCount (what has a .category)


def _as_given(slug: str, name: str, lang: str | None) -> str:
    return name


def environment(tz: ZoneInfo, *, category_names: CategoryNames = _as_given) -> Environment:
    """The `when` filter writes in the language of `i18n.using`, as the words do (pages use it; mails
    write their dates in render.py). `site.language` is checked against Babel by config.py.
    `category_names`: a category's name in a language (`Settings.category_display_name`); without it,
    templates show the name they are given."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(
            enabled_extensions=("html", "xml"),
            disabled_extensions=("txt",),
            default_for_string=True,
            default=True,
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # newstyle: Jinja fills %(name)s placeholders and escapes their values (the catalogue is trusted)
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the i18n extension
        i18n.gettext, i18n.ngettext, newstyle=True
    )

    def when(moment: datetime) -> str:  # one style on every page and in every mail
        return dates.when(moment, tz, i18n.current())

    def iso(moment: datetime) -> str:
        return moment.astimezone(tz).isoformat(timespec="seconds")

    def category_name(category: _Named) -> str:
        return category_names(category.slug, category.name, i18n.current())

    def in_reading_order(items: Iterable[_Listed]) -> list[_Listed]:
        """Categories (or their counts) in the order of the names this language shows."""

        def key(item: _Listed) -> tuple[str, str, str]:
            category = cast(Category, getattr(item, "category", item))
            return reading_key(category, category_name(category))

        return sorted(items, key=key)

    def language_note(tag: str) -> str:
        """ "(in Vietnamese)" for feeds in `tag` on a page in English; "" in their own language."""
        feeds = i18n.catalogue_of(tag)
        note = LANGUAGE_NOTES[feeds]
        return "" if feeds == i18n.current() else i18n.gettext(note)

    env.filters["when"] = when
    env.filters["iso"] = iso
    env.filters["in_reading_order"] = in_reading_order
    # a page links through links.py as the feeds and mails do, never by a path of its own
    env.globals.update(
        article_path=links.article_path,
        category_path=links.category_path,
        feed_path=links.feed_path,
        subscribe_path=links.subscribe_path,
        opml_path=links.OPML_PATH,
        in_language=links.in_language,
        current_language=i18n.current,
        category_name=category_name,
        language_note=language_note,
    )
    return env


def check_templates(env: Environment, names: list[str]) -> None:
    """Load every template at start, so a typo fails the start and not a page view later."""
    for name in names:
        env.get_template(name)
