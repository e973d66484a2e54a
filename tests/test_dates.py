"""One Vietnamese style wherever a person reads a time: "15:50, Thứ Sáu 18/12/2020" in the site's zone,
on pages and in mails; machine formats (RFC 3339 in <time datetime>) unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import lxml.html
import pytest

from syndicator.config import Settings
from syndicator.dates import day, span, weekday_names, when
from syndicator.mail.render import MailRenderer
from syndicator.model import Frequency
from syndicator.service import assemble
from syndicator.store import Store
from syndicator.web.app import create_app
from tests.factories import article, article_input
from tests.live import live_server
from tests.mailkit import make_settings

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
FRIDAY = datetime(2020, 12, 18, 8, 50, 13, tzinfo=UTC)  # 15:50:13 in Thọ Xuân


@pytest.mark.parametrize(
    ("days", "shown"),
    [
        (-4, "15:50, Thứ Hai 14/12/2020"),
        (-3, "15:50, Thứ Ba 15/12/2020"),
        (-2, "15:50, Thứ Tư 16/12/2020"),
        (-1, "15:50, Thứ Năm 17/12/2020"),
        (0, "15:50, Thứ Sáu 18/12/2020"),
        (1, "15:50, Thứ Bảy 19/12/2020"),
        (2, "15:50, Chủ nhật 20/12/2020"),  # not Babel's "Chủ Nhật"
    ],
)
def test_every_weekday_as_vietnamese_write_it(days: int, shown: str) -> None:
    assert when(FRIDAY + timedelta(days=days), VIETNAM) == shown


def test_the_local_date_near_midnight() -> None:
    """Thọ Xuân is UTC+7 all year (no summer time): 17:00 UTC is already the next day there."""
    assert when(datetime(2020, 12, 19, 16, 59, 59, tzinfo=UTC), VIETNAM) == "23:59, Thứ Bảy 19/12/2020"
    assert when(datetime(2020, 12, 19, 17, 0, tzinfo=UTC), VIETNAM) == "00:00, Chủ nhật 20/12/2020"
    assert when(datetime(2020, 12, 31, 17, 30, tzinfo=UTC), VIETNAM) == "00:30, Thứ Sáu 01/01/2021"
    summer = datetime(2021, 7, 4, 16, 59, tzinfo=UTC)  # a zone with no DST keeps +7 in July too
    assert when(summer, VIETNAM) == "23:59, Chủ nhật 04/07/2021"


def test_a_time_given_in_another_zone_is_shown_in_the_sites() -> None:
    paris = datetime(2020, 12, 18, 9, 50, 13, tzinfo=ZoneInfo("Europe/Paris"))
    assert when(paris, VIETNAM) == "15:50, Thứ Sáu 18/12/2020"


def test_other_languages_keep_their_own_weekday_names() -> None:
    assert weekday_names("vi-VN")[6] == "Chủ nhật"
    assert when(FRIDAY + timedelta(days=2), VIETNAM, "en") == "3:50 PM, Sunday 20 December 2020"


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (FRIDAY, "3:50 PM, Friday 18 December 2020"),
        (datetime(2020, 12, 18, 17, 5, tzinfo=UTC), "12:05 AM, Saturday 19 December 2020"),  # midnight
        (datetime(2020, 12, 18, 5, 0, tzinfo=UTC), "12:00 PM, Friday 18 December 2020"),  # noon
        (datetime(2021, 1, 3, 2, 7, tzinfo=UTC), "9:07 AM, Sunday 3 January 2021"),  # no leading zeros
    ],
)
def test_english_reads_a_twelve_hour_clock_and_the_month_in_words(moment: datetime, shown: str) -> None:
    assert when(moment, VIETNAM, "en") == shown
    assert when(moment, VIETNAM, "en-US") == shown  # Babel's AM/PM of the locale, same parts


# --- days and weeks, as digests name them ----------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "shown"),
    [
        ("vi", "29/11/2026"),
        ("vi-VN", "29/11/2026"),
        ("en", "29 November 2026"),
        ("en-US", "29 November 2026"),
    ],
)
def test_a_day_in_each_language(lang: str, shown: str) -> None:
    assert day(date(2026, 11, 29), lang) == shown


def test_a_day_has_no_leading_zero_in_english_and_two_digits_in_vietnamese() -> None:
    assert day(date(2021, 1, 4), "vi") == "04/01/2021"
    assert day(date(2021, 1, 4), "en") == "4 January 2021"


def test_a_day_of_a_datetime_is_the_day_it_shows() -> None:
    late = datetime(2020, 12, 19, 17, 0, tzinfo=UTC).astimezone(VIETNAM)  # 00:00 on the 20th there
    assert day(late, "vi") == "20/12/2020" and day(late, "en") == "20 December 2020"


@pytest.mark.parametrize(
    ("first", "last", "vietnamese", "english"),
    [
        (date(2026, 11, 22), date(2026, 11, 29), ("22/11", "29/11/2026"), ("22", "29 November 2026")),
        (date(2026, 10, 27), date(2026, 11, 2), ("27/10", "02/11/2026"), ("27 October", "2 November 2026")),
        # across a new year both days say their year
        (
            date(2025, 12, 29),
            date(2026, 1, 4),
            ("29/12/2025", "04/01/2026"),
            ("29 December 2025", "4 January 2026"),
        ),
    ],
)
def test_a_span_leaves_out_of_its_first_day_what_the_last_says(
    first: date, last: date, vietnamese: tuple[str, str], english: tuple[str, str]
) -> None:
    assert span(first, last, "vi") == vietnamese
    assert span(first, last) == vietnamese  # Vietnamese unless told
    assert span(first, last, "en") == english


# --- where people read it ------------------------------------------------------------------------


@pytest.fixture
def date_settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
def site(date_settings: Settings) -> Iterator[str]:
    store = Store.open(date_settings.database_url, date_settings.categories)
    edited = FRIDAY + timedelta(days=2, hours=8, minutes=30)  # 00:20 on Monday in Thọ Xuân
    try:
        store.write(
            [
                article_input(
                    "hoi-nghi", "Tin tức - Sự kiện", FRIDAY, title="Hội nghị tổng kết", updated_at=edited
                )
            ],
            FRIDAY,
        )
        service = assemble(date_settings, store, lambda: edited)
        with live_server(create_app(service.services)) as url:
            yield url
    finally:
        store.close()


def _times(page: str) -> list[tuple[str, str]]:
    return [(t.get("datetime"), t.text_content()) for t in lxml.html.fromstring(page).iter("time")]


def test_the_article_page_shows_the_style_without_seconds(site: str) -> None:
    page = httpx.get(f"{site}/a/hoi-nghi").text
    assert _times(page) == [
        ("2020-12-18T15:50:13+07:00", "15:50, Thứ Sáu 18/12/2020"),  # the machine form keeps its seconds
        ("2020-12-21T00:20:13+07:00", "00:20, Thứ Hai 21/12/2020"),
    ]
    assert "15:50:13 18/12/2020" not in page


@pytest.mark.parametrize("path", ["/", "/c/tin-tuc-su-kien"])
def test_list_pages_show_the_style(site: str, path: str) -> None:
    assert _times(httpx.get(site + path).text) == [("2020-12-18T15:50:13+07:00", "15:50, Thứ Sáu 18/12/2020")]


def test_a_digest_shows_the_style_for_its_articles_and_its_window(date_settings: Settings) -> None:
    renderer = MailRenderer(date_settings)
    start = datetime(2020, 12, 19, 6, 30, tzinfo=VIETNAM)
    sunday = article(0, published_at=datetime(2020, 12, 19, 17, 5, tzinfo=UTC))  # 00:05 on Sunday there
    mail = renderer.digest(Frequency.DAILY, start, start + timedelta(days=1), [sunday])
    assert "từ 06:30, Thứ Bảy 19/12/2020 đến 06:30, Chủ nhật 20/12/2020" in mail.text
    assert "00:05, Chủ nhật 20/12/2020" in mail.text
    assert "00:05, Chủ nhật 20/12/2020" in mail.html
    assert "Chủ Nhật" not in mail.text + mail.html
    single = renderer.article(sunday)
    assert "00:05, Chủ nhật 20/12/2020" in single.text and "00:05, Chủ nhật 20/12/2020" in single.html
