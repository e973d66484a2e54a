"""What a mail says: Jinja2 templates (templates/email/), dates and days (dates.py), CSS inlined, in the
language of its recipients (a catalogue of i18n.LANGUAGES): the words of the templates and subjects
come from the catalogue, category names from the settings (`category_display_name`); article titles
and summaries stay as published, marked as the site's language (`lang="{{ site_lang }}"`) so that a
screen reader reading an English mail says them in Vietnamese.

Rendering happens once per distinct content and language; the links that differ per recipient are
slots (mail/mime.py) filled at send time, and so is a digest's count (`counted`, in the body's language).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

import css_inline
from jinja2 import Environment

from syndicator import dates, i18n, links
from syndicator.config import Settings
from syndicator.i18n import _, ngettext
from syndicator.mail.mime import COUNT, COUNT_SLOT, PARTS_HTML_SLOT, PARTS_TEXT_SLOT, Content
from syndicator.model import Article, Category, Frequency, reading_key
from syndicator.templating import check_templates, environment

ANNOUNCEMENTS = "thong-bao"  # Thông báo: what officials and residents look for first
TEMPLATES = [
    "email/digest.html",
    "email/digest.txt",
    "email/article.html",
    "email/article.txt",
    "email/confirm.html",
    "email/confirm.txt",
    "email/_group.html",
    "email/_group.txt",
]
_ARTICLES = "{articles}"  # a preview's subject counts articles, not news: "(10 tin)"
_ARTICLES_SLOT = "@@ARTICLES@@"  # the same in its <title> (a preview is never sent: no sender fills it)
_INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


def category_order(
    groups: Mapping[str, Sequence[Article]], shown: Callable[[Category], str] = lambda c: c.name
) -> list[str]:
    """The slugs of a digest's sections, each with its articles under the name shown (`shown`: the
    name in the mail's language): announcements (Thông báo) first, then the rest as every list of
    categories is read (model.reading_key)."""

    def key(slug: str) -> tuple[bool, tuple[str, str, str]]:
        category = groups[slug][0].category
        return slug != ANNOUNCEMENTS, reading_key(category, shown(category))

    return sorted(groups, key=key)


@functools.lru_cache(maxsize=4096)
def news_count(total: int, lang: str) -> str:
    """A digest's count as its subject and first line say it, in `lang`: "3 tin mới", "1 new article"."""
    with i18n.using(lang):
        return ngettext("%(num)d tin mới", "%(num)d tin mới", total) % {"num": total}


@dataclass(frozen=True, slots=True)
class _Item:
    title: str
    when: str
    summary: str
    link: str
    category: str


@dataclass(frozen=True, slots=True)
class _Group:
    name: str
    articles: list[_Item]


class MailRenderer:
    """Renders mails in a language: every method takes `lang` (a catalogue of i18n.LANGUAGES; None:
    the site's)."""

    def __init__(self, settings: Settings, env: Environment | None = None) -> None:
        self.settings = settings
        self.env = env or environment(settings.tz, category_names=settings.category_display_name)
        check_templates(self.env, TEMPLATES)  # a typo fails the start, not the 06:30 run
        loader = self.env.loader
        assert loader is not None
        self._css = loader.get_source(self.env, "email/mail.css")[0]

    def language(self, lang: str | None) -> str:
        """`lang` checked; None: the site's (the catalogue of `site.language`)."""
        return self.settings.site.catalogue if lang is None else i18n.check(lang)

    def _when(self, moment: datetime, lang: str) -> str:
        return dates.when(moment, self.settings.tz, lang)

    def category_name(self, category: Category, lang: str) -> str:
        """The name a mail in `lang` shows for this category (the office's English name, if any)."""
        return self.settings.category_display_name(category.slug, category.name, lang)

    def _item(self, article: Article, lang: str) -> _Item:
        return _Item(
            title=article.title,
            when=self._when(article.published_at, lang),
            summary=article.summary,
            link=links.permalink(self.settings.base_url, article),
            category=self.category_name(article.category, lang),
        )

    def _render(self, name: str, subject: str, lang: str, **context: object) -> Content:
        shared = {
            "site": self.settings.site,
            "base_url": self.settings.base_url,
            "subject": subject,
            "lang": lang,
            "site_lang": self.settings.site.language,
        }
        with i18n.using(lang):
            html = self.env.get_template(f"email/{name}.html").render(**shared, **context)
            text = self.env.get_template(f"email/{name}.txt").render(**shared, **context)
        return Content(subject=subject, text=text.strip() + "\n", html=_INLINER.inline(html))

    def digest_frame(
        self, frequency: Frequency, window_start: datetime, window_end: datetime, lang: str | None = None
    ) -> Content:
        """Everything of a digest but its articles, in `lang`: slots @@COUNT@@ and
        @@PARTS_TEXT@@/@@PARTS_HTML@@, and a subject with "{count}" in it (mime.COUNT; both filled
        per recipient with `counted`). Shared by every recipient of the run who reads `lang`."""
        lang = self.language(lang)
        site = self.settings.site
        last_day = (window_end - timedelta(seconds=1)).astimezone(self.settings.tz)
        with i18n.using(lang):
            if frequency is Frequency.WEEKLY:
                first_day = window_start.astimezone(self.settings.tz)
                # a week across the new year says both years: "từ 29/12/2025 đến 04/01/2026"
                first, last = dates.span(first_day, last_day, lang)
                span = {"first": first, "last": last}
                subject = _("Bản tin tuần %(site)s từ %(first)s đến %(last)s: %(count)s") % {
                    "site": site.short_name,
                    "count": COUNT,
                    **span,
                }
                heading = _("Bản tin tuần từ %(first)s đến %(last)s") % span
                intro = _(
                    "Kính gửi quý độc giả, dưới đây là %(count)s được đăng trên %(site)s trong tuần "
                    "từ %(first)s đến %(last)s."
                ) % {"count": COUNT_SLOT, "site": site.name, **span}
            else:
                day = dates.day(last_day, lang)
                subject = _("Bản tin %(site)s ngày %(day)s: %(count)s") % {
                    "site": site.short_name,
                    "day": day,
                    "count": COUNT,
                }
                heading = _("Bản tin ngày %(day)s") % {"day": day}
                intro = _(
                    "Kính gửi quý độc giả, dưới đây là %(count)s được đăng trên %(site)s "
                    "từ %(start)s đến %(end)s."
                ) % {
                    "count": COUNT_SLOT,
                    "site": site.name,
                    "start": self._when(window_start, lang),
                    "end": self._when(window_end, lang),
                }
        return self._frame(subject, heading, intro, lang)

    def since_frame(self, since: datetime, lang: str | None = None) -> Content:
        """The frame of a preview of every article published since `since` (`digest preview --since`):
        no run's window, so it names no day or week, only where it starts, with its year."""
        lang = self.language(lang)
        local = since.astimezone(self.settings.tz)
        start = dates.day(local, lang) if local.time() == time(0) else self._when(since, lang)
        site = self.settings.site
        with i18n.using(lang):
            subject = _("Bản tin %(site)s: các tin từ %(start)s (%(count)s)") % {
                "site": site.short_name,
                "start": start,
                "count": _ARTICLES,  # "10 tin": no run's news, the articles at hand
            }
            heading = _("Các tin đăng từ %(start)s") % {"start": start}
            intro = _("Kính gửi quý độc giả, dưới đây là %(count)s được đăng trên %(site)s từ %(start)s.") % {
                "count": COUNT_SLOT,
                "site": site.name,
                "start": start,
            }
        return self._frame(subject, heading, intro, lang)

    def _frame(self, subject: str, heading: str, intro: str, lang: str) -> Content:
        # the page's <title> shows the subject: the count goes in by the same slot as the body's
        title = subject.replace(COUNT, COUNT_SLOT).replace(_ARTICLES, _ARTICLES_SLOT)
        frame = self._render("digest", title, lang, heading=heading, intro=intro)
        return replace(frame, subject=subject)

    def digest_part(self, articles: Sequence[Article], lang: str | None = None) -> tuple[str, str]:
        """(text, html) of one category's section in `lang`: rendered once per run and language, joined
        per recipient."""
        lang = self.language(lang)
        ordered = sorted(articles, key=lambda a: (a.published_at, a.id), reverse=True)
        items = [self._item(a, lang) for a in ordered]
        group = _Group(items[0].category, items)
        with i18n.using(lang):
            text = self.env.get_template("email/_group.txt").render(group=group)
            html = self.env.get_template("email/_group.html").render(
                group=group, site_lang=self.settings.site.language
            )
        return text, _INLINER.inline_fragment(html, self._css)

    def digest(
        self,
        frequency: Frequency,
        window_start: datetime,
        window_end: datetime,
        articles: Sequence[Article],
        lang: str | None = None,
    ) -> Content:
        """The whole digest for these articles (a preview; mails are joined from frame and parts)."""
        return self.filled(self.digest_frame(frequency, window_start, window_end, lang), articles, lang)

    def filled(self, frame: Content, articles: Sequence[Article], lang: str | None = None) -> Content:
        """A frame (in `lang`) with these articles in it, by category, as a recipient of all of them
        gets it."""
        lang = self.language(lang)
        by_slug: dict[str, list[Article]] = {}
        for article in articles:
            by_slug.setdefault(article.category.slug, []).append(article)
        order = category_order(by_slug, lambda c: self.category_name(c, lang))
        parts = [self.digest_part(by_slug[slug], lang) for slug in order]
        count = news_count(len(articles), lang)
        with i18n.using(lang):
            articles_count = ngettext("%(num)d tin", "%(num)d tin", len(articles)) % {"num": len(articles)}
        return Content(
            subject=frame.subject.replace(COUNT, count).replace(_ARTICLES, articles_count),
            text=frame.text.replace(COUNT_SLOT, count)
            .replace(_ARTICLES_SLOT, articles_count)
            .replace(PARTS_TEXT_SLOT, "".join(t for t, _ in parts)),
            html=frame.html.replace(COUNT_SLOT, count)
            .replace(_ARTICLES_SLOT, articles_count)
            .replace(PARTS_HTML_SLOT, "".join(h for _, h in parts)),
        )

    def article(self, article: Article, lang: str | None = None) -> Content:
        lang = self.language(lang)
        item = self._item(article, lang)
        return self._render("article", f"[{item.category}] {article.title}", lang, article=item)

    def confirmation(self, valid_days: int, lang: str | None = None) -> Content:
        lang = self.language(lang)
        with i18n.using(lang):
            subject = _("Xác nhận đăng ký nhận tin từ %(site)s") % {"site": self.settings.site.short_name}
        return self._render("confirm", subject, lang, valid_days=valid_days)
