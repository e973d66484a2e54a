"""What a mail says: Jinja2 templates (templates/email/), Vietnamese dates (dates.py), CSS inlined.

Rendering happens once per distinct content; the links that differ per recipient are slots
(mail/mime.py) filled at send time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

import css_inline
from jinja2 import Environment

from syndicator import dates, links
from syndicator.config import Settings
from syndicator.mail.mime import PARTS_HTML_SLOT, PARTS_TEXT_SLOT, TOTAL_SLOT, Content
from syndicator.model import Article, Frequency, reading_key
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
_INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


def category_order(groups: Mapping[str, Sequence[Article]]) -> list[str]:
    """The slugs of a digest's sections, each with its articles under the name shown: announcements
    (Thông báo) first, then the rest as every list of categories is read (model.reading_key)."""
    return sorted(groups, key=lambda slug: (slug != ANNOUNCEMENTS, reading_key(groups[slug][0].category)))


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
    def __init__(self, settings: Settings, env: Environment | None = None) -> None:
        self.settings = settings
        self.env = env or environment(settings.tz, settings.site.language)
        check_templates(self.env, TEMPLATES)  # a typo fails the start, not the 06:30 run
        loader = self.env.loader
        assert loader is not None
        self._css = loader.get_source(self.env, "email/mail.css")[0]

    def _when(self, moment: datetime) -> str:
        return dates.when(moment, self.settings.tz, self.settings.site.language)

    def _item(self, article: Article) -> _Item:
        return _Item(
            title=article.title,
            when=self._when(article.published_at),
            summary=article.summary,
            link=links.permalink(self.settings.base_url, article),
            category=self.settings.category_display_name(article.category.slug, article.category.name),
        )

    def _render(self, name: str, subject: str, **context: object) -> Content:
        shared = {"site": self.settings.site, "base_url": self.settings.base_url, "subject": subject}
        html = self.env.get_template(f"email/{name}.html").render(**shared, **context)
        text = self.env.get_template(f"email/{name}.txt").render(**shared, **context)
        return Content(subject=subject, text=text.strip() + "\n", html=_INLINER.inline(html))

    def digest_frame(self, frequency: Frequency, window_start: datetime, window_end: datetime) -> Content:
        """Everything of a digest but its articles: slots @@TOTAL@@ and @@PARTS_TEXT@@/@@PARTS_HTML@@,
        and a subject with "{total}" in it. Shared by every recipient of the run."""
        site = self.settings.site.short_name
        last_day = (window_end - timedelta(seconds=1)).astimezone(self.settings.tz)
        count = "{total} tin mới"
        if frequency is Frequency.WEEKLY:
            first_day = window_start.astimezone(self.settings.tz)
            # a week across the new year says both years: "từ 29/12/2025 đến 04/01/2026"
            first = f"{first_day:%d/%m}" if first_day.year == last_day.year else f"{first_day:%d/%m/%Y}"
            span = f"từ {first} đến {last_day:%d/%m/%Y}"
            subject = f"Bản tin tuần {site} {span}: {count}"
            heading = f"Bản tin tuần {span}"
            period = f"trong tuần {span}"
        else:
            subject = f"Bản tin {site} ngày {last_day:%d/%m/%Y}: {count}"
            heading = f"Bản tin ngày {last_day:%d/%m/%Y}"
            period = f"từ {self._when(window_start)} đến {self._when(window_end)}"
        return self._frame(subject, heading, period)

    def since_frame(self, since: datetime) -> Content:
        """The frame of a preview of every article published since `since` (`digest preview --since`):
        no run's window, so it names no day or week, only where it starts, with its year."""
        local = since.astimezone(self.settings.tz)
        start = f"{local:%d/%m/%Y}" if local.time() == time(0) else self._when(since)
        subject = f"Bản tin {self.settings.site.short_name}: các tin từ {start} ({{total}} tin)"
        return self._frame(subject, f"Các tin đăng từ {start}", f"từ {start}")

    def _frame(self, subject: str, heading: str, period: str) -> Content:
        # the page's <title> shows the subject: the count goes in by the same slot as the body's
        frame = self._render("digest", subject.replace("{total}", TOTAL_SLOT), heading=heading, period=period)
        return replace(frame, subject=subject)

    def digest_part(self, articles: Sequence[Article]) -> tuple[str, str]:
        """(text, html) of one category's section: rendered once per run, joined per recipient."""
        ordered = sorted(articles, key=lambda a: (a.published_at, a.id), reverse=True)
        items = [self._item(a) for a in ordered]
        group = _Group(items[0].category, items)
        text = self.env.get_template("email/_group.txt").render(group=group)
        html = self.env.get_template("email/_group.html").render(group=group)
        return text, _INLINER.inline_fragment(html, self._css)

    def digest(
        self, frequency: Frequency, window_start: datetime, window_end: datetime, articles: Sequence[Article]
    ) -> Content:
        """The whole digest for these articles (a preview; mails are joined from frame and parts)."""
        return self.filled(self.digest_frame(frequency, window_start, window_end), articles)

    def filled(self, frame: Content, articles: Sequence[Article]) -> Content:
        """A frame with these articles in it, by category, as a recipient of all of them gets it."""
        by_slug: dict[str, list[Article]] = {}
        for article in articles:
            by_slug.setdefault(article.category.slug, []).append(article)
        parts = [self.digest_part(by_slug[slug]) for slug in category_order(by_slug)]
        total = str(len(articles))
        return Content(
            subject=frame.subject.replace("{total}", total),
            text=frame.text.replace(TOTAL_SLOT, total).replace(PARTS_TEXT_SLOT, "".join(t for t, _ in parts)),
            html=frame.html.replace(TOTAL_SLOT, total).replace(PARTS_HTML_SLOT, "".join(h for _, h in parts)),
        )

    def article(self, article: Article) -> Content:
        item = self._item(article)
        return self._render("article", f"[{item.category}] {article.title}", article=item)

    def confirmation(self, valid_days: int) -> Content:
        subject = f"Xác nhận đăng ký nhận tin từ {self.settings.site.short_name}"
        return self._render("confirm", subject, valid_days=valid_days)
