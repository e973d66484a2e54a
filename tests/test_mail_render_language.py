"""What a mail says in each language, rendered (no database, no delivery): the days a digest names,
read through Babel's locale data (dates.day, dates.span); the site's titles marked with their language;
counts; the footer; and the Content-Language header of the composed mail."""

from __future__ import annotations

import email
from datetime import datetime, timedelta
from email import policy
from pathlib import Path

import lxml.html
import pytest

from syndicator.config import Settings
from syndicator.mail.composer import MailComposer
from syndicator.mail.render import MailRenderer
from syndicator.model import Frequency
from tests.factories import article
from tests.mailkit import local, make_settings


@pytest.fixture
def renderer(tmp_path: Path) -> MailRenderer:
    return MailRenderer(make_settings(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path))


@pytest.fixture
def settings(renderer: MailRenderer) -> Settings:
    return renderer.settings


def _heading(html: str) -> str:
    start = html.index("<h1")
    return html[html.index(">", start) + 1 : html.index("</h1>")]


# -- the days a digest names ---------------------------------------------------------------------------

DAILY_END = local(2026, 11, 29, 6, 30)  # the run of 29 November 2026 in Thọ Xuân


@pytest.mark.parametrize(
    ("lang", "subject", "heading"),
    [
        ("vi", "ngày 29/11/2026: {count}", "Bản tin ngày 29/11/2026"),
        ("en", "digest of 29 November 2026: {count}", "Digest of 29 November 2026"),
    ],
)
def test_a_daily_digest_names_its_day_in_the_mails_language(
    renderer: MailRenderer, lang: str, subject: str, heading: str
) -> None:
    frame = renderer.digest_frame(Frequency.DAILY, DAILY_END - timedelta(days=1), DAILY_END, lang)
    assert frame.subject.endswith(subject), frame.subject
    assert _heading(frame.html) == heading
    assert frame.text.startswith(heading + "\n")


@pytest.mark.parametrize(
    ("end", "lang", "heading"),
    [
        # a window from 06:30 to 06:30 a week later names the days it touches
        (local(2026, 11, 29, 6, 30), "vi", "Bản tin tuần từ 22/11 đến 29/11/2026"),
        (local(2026, 11, 29, 6, 30), "en", "Weekly digest, 22 to 29 November 2026"),
        (local(2026, 11, 1, 6, 30), "vi", "Bản tin tuần từ 25/10 đến 01/11/2026"),
        (local(2026, 11, 1, 6, 30), "en", "Weekly digest, 25 October to 1 November 2026"),
        # across a new year both days say their year
        (local(2026, 1, 4, 6, 30), "vi", "Bản tin tuần từ 28/12/2025 đến 04/01/2026"),
        (local(2026, 1, 4, 6, 30), "en", "Weekly digest, 28 December 2025 to 4 January 2026"),
    ],
)
def test_a_weekly_digest_names_its_days_in_the_mails_language(
    renderer: MailRenderer, end: datetime, lang: str, heading: str
) -> None:
    frame = renderer.digest_frame(Frequency.WEEKLY, end - timedelta(days=7), end, lang)
    assert _heading(frame.html) == heading
    days = heading.split("tuần ")[1] if lang == "vi" else heading.split(", ", 1)[1]
    assert days in frame.subject and days in frame.text


@pytest.mark.parametrize(
    ("since", "lang", "start", "heading"),
    [
        (local(2020, 12, 1), "vi", "01/12/2020", "Các tin đăng từ 01/12/2020"),
        (local(2020, 12, 1), "en", "1 December 2020", "Articles published since 1 December 2020"),
        # a start within a day is a moment, said with its time
        (
            local(2020, 12, 1, 15, 50),
            "en",
            "3:50 PM, Tuesday 1 December 2020",
            "Articles published since 3:50 PM, Tuesday 1 December 2020",
        ),
    ],
)
def test_a_preview_since_a_day_names_it_in_the_mails_language(
    renderer: MailRenderer, since: datetime, lang: str, start: str, heading: str
) -> None:
    preview = renderer.filled(renderer.since_frame(since, lang), [article(0)], lang)
    assert _heading(preview.html) == heading
    assert preview.subject.endswith(f"{start} (1 {'tin' if lang == 'vi' else 'article'})"), preview.subject


def test_no_english_mail_writes_a_day_in_numbers(renderer: MailRenderer) -> None:
    end = local(2026, 11, 30, 6, 30)
    frames = [
        renderer.digest_frame(Frequency.DAILY, end - timedelta(days=1), end, "en"),
        renderer.digest_frame(Frequency.WEEKLY, end - timedelta(days=7), end, "en"),
        renderer.since_frame(local(2020, 12, 1), "en"),
    ]
    for frame in frames:
        for text in (frame.subject, frame.text, frame.html):
            assert "/11/" not in text and "/12/" not in text, text


# -- the site's words inside a mail in another language -------------------------------------------------


def _marked(html: str) -> dict[str, str | None]:
    """The text of each title and summary element of a mail, with its lang attribute."""
    tree = lxml.html.fromstring(html)
    found = tree.xpath("//a[@class='title'] | //p[@class='summary'] | //h1 | //p[not(@class)]")
    return {" ".join(e.text_content().split()): e.get("lang") for e in found}


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_titles_and_summaries_say_they_are_in_the_sites_language(renderer: MailRenderer, lang: str) -> None:
    """An English mail's Vietnamese titles and summaries are marked lang="vi", so a screen reader says
    them in Vietnamese; the mail itself stays in its own language."""
    news = article(0)
    digest = renderer.filled(renderer.since_frame(local(2020, 12, 1), lang), [news], lang)
    single = renderer.article(news, lang)
    for html in (digest.html, single.html):
        assert lxml.html.fromstring(html).get("lang") == lang
        marked = _marked(html)
        assert marked[news.title] == "vi" and marked[news.summary] == "vi", marked
    assert _marked(digest.html)[_heading(digest.html)] is None  # the mail's own words: its language


def test_the_mark_is_the_configured_site_language(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path, site={"language": "vi-VN"})
    news = article(0)
    html = MailRenderer(settings).article(news, "en").html
    assert _marked(html)[news.title] == "vi-VN"


# -- counts ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "lang", "html", "text"),
    [
        (1, "en", "the link is valid for 1 day)", "(valid for 1 day)"),
        (7, "en", "the link is valid for 7 days)", "(valid for 7 days)"),
        (1, "vi", "có hiệu lực trong 1 ngày)", "có hiệu lực trong 1 ngày)"),
        (7, "vi", "có hiệu lực trong 7 ngày)", "có hiệu lực trong 7 ngày)"),
    ],
)
def test_a_confirmation_counts_the_days_its_link_lasts(
    renderer: MailRenderer, days: int, lang: str, html: str, text: str
) -> None:
    mail = renderer.confirmation(days, lang)
    assert html in " ".join(lxml.html.fromstring(mail.html).text_content().split())
    assert text in " ".join(mail.text.split())


# -- the footer ------------------------------------------------------------------------------------------

FOOTER = {
    "vi": "Thay đổi chuyên mục, tần suất hoặc ngôn ngữ nhận tin",
    "en": "Change categories, how often or in which language you get mail",
}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_footer_says_the_language_can_be_changed_there_too(renderer: MailRenderer, lang: str) -> None:
    end = local(2026, 11, 29, 6, 30)
    for mail in (
        renderer.digest_frame(Frequency.DAILY, end - timedelta(days=1), end, lang),
        renderer.article(article(0), lang),
    ):
        assert f"{FOOTER[lang]}: @@PREFERENCES_URL@@" in mail.text
        links = lxml.html.fromstring(mail.html).xpath("//a[@href='@@PREFERENCES_URL@@']")
        assert [a.text_content() for a in links] == [FOOTER[lang]]


# -- the header that says it -----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_composed_mail_says_its_language_in_content_language(renderer: MailRenderer, lang: str) -> None:
    content = renderer.article(article(0), lang)
    mime = MailComposer(renderer.settings, renderer).template(
        content.subject, content.text, content.html, list_what="Tin mới", lang=lang
    )
    parsed = email.message_from_bytes(mime, policy=policy.default)
    assert parsed.get_all("Content-Language") == [lang]
