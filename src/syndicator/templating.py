"""Jinja2 for pages and mails: one environment, Vietnamese formatting filters, autoescape.

Templates mark the words a person reads with `_()`/`ngettext()` (Jinja's i18n extension), answered
from i18n.py's catalogues in the language of `i18n.using`.
At the bottom of the layers (it imports only dates.py, links.py and i18n.py), so mail/ and web/ both
build on it."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from syndicator import dates, i18n, links

# templates/ sits at the project root (src/syndicator -> parents[2]); a packaged install points
# SYNDICATOR_TEMPLATES_DIR at its copy.
TEMPLATES = Path(
    os.environ.get("SYNDICATOR_TEMPLATES_DIR") or Path(__file__).resolve().parents[2] / "templates"
)


def environment(tz: ZoneInfo, locale: str = "vi", *, dates_follow_language: bool = False) -> Environment:
    """`dates_follow_language`: the `when` filter writes in the language of `i18n.using` (pages, whose
    language each request chooses) instead of `locale` (mails and feeds: the site's language)."""
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
        return dates.when(moment, tz, i18n.current() if dates_follow_language else locale)

    def iso(moment: datetime) -> str:
        return moment.astimezone(tz).isoformat(timespec="seconds")

    dates.weekday_names(locale)  # a language Babel does not know fails the start, not every page
    env.filters["when"] = when
    env.filters["iso"] = iso
    # a page links through links.py as the feeds and mails do, never by a path of its own
    env.globals.update(
        article_path=links.article_path,
        category_path=links.category_path,
        feed_path=links.feed_path,
        subscribe_path=links.subscribe_path,
        opml_path=links.OPML_PATH,
        current_language=i18n.current,
    )
    return env


def check_templates(env: Environment, names: list[str]) -> None:
    """Load every template at start, so a typo fails the start and not a page view later."""
    for name in names:
        env.get_template(name)
