"""What a mail says: Jinja2 templates (templates/email/), Vietnamese dates (babel), CSS inlined.

Rendering happens once per distinct content; the links that differ per recipient are slots
(mail/mime.py) filled at send time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import css_inline
from babel.dates import format_datetime
from jinja2 import Environment

from syndicator import links
from syndicator.config import Settings
from syndicator.mail.mime import Content
from syndicator.model import Article, Frequency
from syndicator.web.templating import check_templates, environment

ANNOUNCEMENTS = "thong-bao"  # Thông báo: what officials and residents look for first
TEMPLATES = [
    "email/digest.html",
    "email/digest.txt",
    "email/article.html",
    "email/article.txt",
    "email/confirm.html",
    "email/confirm.txt",
]
_INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


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

    def _when(self, moment: datetime, pattern: str = "HH:mm, EEEE dd/MM/yyyy") -> str:
        return format_datetime(moment, pattern, tzinfo=self.settings.tz, locale=self.settings.site.language)

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

    def digest(
        self, frequency: Frequency, window_start: datetime, window_end: datetime, articles: Sequence[Article]
    ) -> Content:
        groups: dict[str, list[Article]] = {}
        for article in sorted(articles, key=lambda a: (a.published_at, a.id), reverse=True):
            groups.setdefault(article.category.slug, []).append(article)
        order = sorted(groups, key=lambda slug: (slug != ANNOUNCEMENTS, slug))
        rendered = [
            _Group(self._item(groups[slug][0]).category, [self._item(a) for a in groups[slug]])
            for slug in order
        ]
        site = self.settings.site.short_name
        last_day = (window_end - timedelta(seconds=1)).astimezone(self.settings.tz)
        count = f"{len(articles)} tin mới"
        if frequency is Frequency.WEEKLY:
            first_day = window_start.astimezone(self.settings.tz)
            span = f"từ {first_day:%d/%m} đến {last_day:%d/%m/%Y}"
            subject = f"Bản tin tuần {site} {span}: {count}"
            heading = f"Bản tin tuần {span}"
            period = f"trong tuần {span}"
        else:
            subject = f"Bản tin {site} ngày {last_day:%d/%m/%Y}: {count}"
            heading = f"Bản tin ngày {last_day:%d/%m/%Y}"
            since = self._when(window_start, "HH:mm dd/MM")
            period = f"từ {since} đến {self._when(window_end, 'HH:mm dd/MM/yyyy')}"
        return self._render(
            "digest", subject, heading=heading, period=period, groups=rendered, total=len(articles)
        )

    def article(self, article: Article) -> Content:
        item = self._item(article)
        return self._render("article", f"[{item.category}] {article.title}", article=item)

    def confirmation(self, valid_days: int) -> Content:
        subject = f"Xác nhận đăng ký nhận tin từ {self.settings.site.short_name}"
        return self._render("confirm", subject, valid_days=valid_days)
