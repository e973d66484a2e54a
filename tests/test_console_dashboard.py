"""The console's dashboard over real HTTP (uvicorn on loopback, SQLite and PostgreSQL): its charts are
SVG images with the seeded data in them and the same numbers in tables, ?ngay= is 7, 30 or 90 and
nothing else, /admin/api/summary and /admin/api/dashboard, and what a viewer may see; the store's
daily and weekly counts on the site's calendar."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syndicator import dates
from syndicator.accounts import Role
from syndicator.model import DropFile, OutboxEntry, OutboxKind
from syndicator.store import Store, dropfiles, jobruns, mailqueue
from syndicator.store import articles as store_articles
from syndicator.store.dashboard import by_week
from syndicator.store.jobruns import JobRun
from syndicator.web.charts import Chart, Series, svg
from tests.consolekit import make_account, signed_in_client
from tests.dashboardkit import CHART_NAMES, EVENTS, VALUE, seed
from tests.factories import VIETNAM, publish, subscribe
from tests.subscribekit import SECURITY_HEADERS, Site, running_site


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    with running_site(database_url, tmp_path) as running:
        make_account(running.store, "cuong", Role.VIEWER, running.clock())
        seed(running.store, running.clock())
        yield running


def _values(svg: str) -> list[int]:
    return [int(v) for v in VALUE.findall(svg) if v.strip().isdigit()]


def test_the_dashboard_shows_every_chart_as_an_svg_image_with_the_seeded_data(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    home = client.get("/admin/")
    assert home.status_code == 200
    for name in CHART_NAMES:
        assert f'src="/admin/charts/{name}.svg?ngay=30"' in home.text
    charts = {name: client.get(f"/admin/charts/{name}.svg") for name in CHART_NAMES}
    for name, answer in charts.items():
        assert answer.status_code == 200, name
        assert answer.headers["content-type"] == "image/svg+xml"
        assert answer.headers["cache-control"] == "no-store"
        assert all(h in answer.headers for h in SECURITY_HEADERS)
        assert answer.text.startswith("<?xml") and "<svg" in answer.text
        assert "<script" not in answer.text and "<!--" not in answer.text
        assert f'id="chart-{name}"' in answer.text  # not pygal's random id
    # today's points: 2 confirmed and 1 pending; 1 mail sent and 1 bounced; 3 polls in full and 4 304s;
    # the week's 2 articles of EVENTS
    assert {2, 1} <= set(_values(charts["subscribers"].text))
    assert 1 in _values(charts["mails"].text)
    assert "<dt>Thư đã gửi hôm nay</dt><dd>1</dd>" in home.text
    assert {3, 4} <= set(_values(charts["polls"].text))
    assert 2 in _values(charts["articles"].text)
    assert EVENTS in charts["articles"].text  # the series' name, in the legend
    assert "Người đăng ký theo trạng thái" in charts["subscribers"].text
    # the same numbers in the page's tables; today's figures
    assert home.text.count('<table class="numbers">') == 4
    assert '<th scope="row">10/03/2021</th>' in home.text  # the last day, in the site's calendar


def test_a_chart_is_the_same_bytes_each_time_and_speaks_the_pages_language(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    first = client.get("/admin/charts/mails.svg?ngay=7")
    assert first.content == client.get("/admin/charts/mails.svg?ngay=7").content
    english = client.get("/admin/charts/subscribers.svg?ngay=7&lang=en")
    assert english.headers["content-language"] == "en"
    assert "Subscribers by status" in english.text
    assert "Mar 10" in english.text  # an axis label: the month named, never 3/10


@pytest.mark.parametrize("days", ["7", "30", "90"])
def test_every_period_draws(site: Site, days: str) -> None:
    client = signed_in_client(site, "cuong")
    assert client.get(f"/admin/?ngay={days}").status_code == 200
    assert client.get(f"/admin/charts/polls.svg?ngay={days}").status_code == 200
    series = client.get(f"/admin/api/dashboard?ngay={days}").json()
    assert len(series["days"]) == int(days)
    assert series["days"][-1] == "2021-03-10"


@pytest.mark.parametrize("raw", ["8", "0", "-7", "30.0", " 30", "３０", "x" * 5000, "", "7&ngay=90000"])
def test_a_period_other_than_7_30_or_90_is_a_400_naming_it(site: Site, raw: str) -> None:
    client = signed_in_client(site, "cuong")
    page = client.get("/admin/", params={"ngay": raw})
    assert page.status_code == 400
    assert "Khoảng thời gian không hợp lệ" in page.text
    assert client.get("/admin/charts/mails.svg", params={"ngay": raw}).status_code == 400
    api = client.get("/admin/api/dashboard", params={"ngay": raw})
    assert (api.status_code, api.json()) == (400, {"error": "ngay must be 7, 30 or 90"})


@pytest.mark.parametrize("name", ["nope", "SUBSCRIBERS", "subscribers.svg", "..%2Fsubscribers", "a" * 300])
def test_an_unknown_chart_is_a_404(site: Site, name: str) -> None:
    client = signed_in_client(site, "cuong")
    assert client.get(f"/admin/charts/{name}.svg").status_code == 404


def test_the_summary_counts_by_state_with_every_state_a_key(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    summary = client.get("/admin/api/summary")
    assert summary.status_code == 200
    body = summary.json()
    assert set(body) == {"subscribers", "mails", "articles"}
    assert body["subscribers"] == {"pending": 1, "confirmed": 2, "unsubscribed": 0, "bounced": 0}
    assert set(body["mails"]) == {"pending", "sending", "sent", "failed", "cancelled"}
    assert (body["mails"]["sent"], body["mails"]["failed"]) == (1, 1)
    assert set(body["articles"]) == {"published", "scheduled", "withdrawn"}
    visible = len(site.store.articles(site.clock()))
    assert body["articles"]["published"] == visible


def test_the_attention_list_links_to_the_pages_that_deal_with_it(site: Site) -> None:
    now = site.clock()
    late = subscribe(site.store, "dung@example.org", at=now - timedelta(days=1))
    with site.store.writing() as conn:
        dropfiles.replace(conn, [DropFile("hong.jsonl", 1, 1, (), "dòng 1: thiếu tiêu đề")], [], now)
        body = mailqueue.body_id(conn, "kẹt", "Bản tin", b"x", now)
        entry = OutboxEntry(late.id, OutboxKind.IMMEDIATE, body, article_id="su-kien-2")
        mailqueue.enqueue(conn, [entry], now - timedelta(hours=1))  # due an hour ago, still pending
        failed = JobRun("deliver", "may-1", 3, 1, now, 0.5, False, "SMTP: connection refused", now, None, now)
        jobruns.record(conn, [failed])
    client = signed_in_client(site, "cuong")
    home = client.get("/admin/")
    assert "1 thư bị trả lại trong 7 ngày qua." in home.text
    assert "1 thư bị kẹt, chưa gửi được dù đã đến giờ." in home.text
    assert "1 tác vụ lỗi ở lần chạy gần nhất:" in home.text and "<code>deliver</code>" in home.text
    assert "connection refused" not in home.text  # the error itself is the jobs page's
    assert "hong.jsonl" in home.text
    listed = home.text.split('<ul class="attention">')[1].split("</section>")[0]
    assert listed.count('<a href="/admin/mail?status=failed">') == 1  # the bounced mails, listed
    assert listed.count('<a href="/admin/mail">') == 1 and listed.count('<a href="/admin/jobs">') == 2
    assert "thiếu tiêu đề" not in listed  # the importer's reason is an admin's
    attention = client.get("/admin/api/dashboard").json()["attention"]
    assert attention == {
        "bounces": 1,
        "stuck_mail": 1,
        "failing_jobs": ["deliver"],
        "failed_files": 1,
        "officials_file_broken": False,
    }


def test_nothing_to_attend_to_is_said(site: Site) -> None:
    site.clock.advance(days=8)  # the bounce is older than the week counted
    client = signed_in_client(site, "cuong")
    assert "Không có gì cần chú ý" in client.get("/admin/").text


def test_the_dashboard_and_the_articles_page_in_english(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    home = client.get("/admin/?lang=en")
    for words in (
        "Today",
        "Needs attention",
        "1 mail bounced in the last 7 days.",
        "Charts of the last 30 days",
        "Show the numbers as a table",
        "Mails sent today",
        "Subscribers: Confirmed",
    ):
        assert words in home.text, words
    assert (
        "Line chart: subscribers in each status at the end of each day, 9 February to 10 March 2021."
        in home.text
    )
    assert '<th scope="row">10 March 2021</th>' in home.text
    articles = client.get("/admin/articles?lang=en")
    assert "Search by title or article id" in articles.text and "All categories" in articles.text


def test_a_period_without_any_data_draws_empty_charts(site: Site) -> None:
    site.clock.advance(days=400)  # nothing published, mailed or polled in the last 7 days
    client = signed_in_client(site, "cuong")
    home = client.get("/admin/?ngay=7")
    assert home.status_code == 200
    assert home.text.count("Chưa có số liệu trong khoảng thời gian này.") == 3  # subscribers: still 2
    for name in CHART_NAMES:
        answer = client.get(f"/admin/charts/{name}.svg?ngay=7")
        assert answer.status_code == 200 and "<svg" in answer.text, name


@pytest.mark.parametrize(
    "series",
    [(), (Series("không", (0, 0)),), (Series("nhiều", (10**9, 1)), Series("ít", (0, 3)))],
)
@pytest.mark.parametrize("bars", [False, True])
def test_any_chart_draws_with_whole_numbers_up_its_axis(series: tuple[Series, ...], bars: bool) -> None:
    drawn = svg(Chart("x", "Tiêu đề", "alt", ("a", "b"), ("A", "B"), series, bars=bars)).decode()
    assert drawn.startswith("<?xml") and 'id="chart-x"' in drawn
    if series:  # else pygal's empty view: no axes
        y_axis = drawn.split('class="axis y')[1].split('class="axis x"')[0]
        labels = re.findall(r"<text[^>]*>([^<]*)</text>", y_axis)
        assert labels and all(label.isdigit() for label in labels), labels


def test_without_a_session_charts_and_api_are_refused(site: Site) -> None:
    client = site.client()
    assert client.get("/admin/charts/mails.svg").status_code == 303
    assert client.get("/admin/api/summary").status_code == 401
    assert client.get("/admin/api/dashboard").status_code == 401


# -- the store's counts on the site's calendar -----------------------------------------------------------


def test_articles_are_counted_on_the_day_of_the_sites_calendar_and_summed_per_week(
    store: Store, now: datetime
) -> None:
    # 2021-03-10 10:00 in Vietnam is a Wednesday; 2021-03-07 was a Sunday
    late = datetime(2021, 3, 7, 23, 30, tzinfo=VIETNAM)  # 16:30 UTC: still the 7th here
    publish(store, "khuya", EVENTS, late)
    publish(store, "sang", EVENTS, datetime(2021, 3, 8, 0, 30, tzinfo=VIETNAM))
    publish(store, "hen-gio", EVENTS, now + timedelta(hours=1))  # scheduled: counted nowhere
    publish(store, "da-go", EVENTS, now - timedelta(hours=1))
    store.withdraw("da-go", now)
    days = dates.days_ending(now, 7, VIETNAM)
    with store.reading() as conn:
        per_day = store_articles.published_by_day(conn, now, days)
    counted = {d.day.isoformat(): c.get("su-kien", 0) for d, c in zip(days, per_day, strict=True)}
    assert counted["2021-03-07"] == 1 and counted["2021-03-08"] == 1
    assert sum(counted.values()) == 2
    weeks = by_week(days, per_day)
    assert [(w.first.isoformat(), w.last.isoformat()) for w in weeks] == [
        ("2021-03-04", "2021-03-07"),
        ("2021-03-08", "2021-03-10"),
    ]
    assert [w.articles.get("su-kien", 0) for w in weeks] == [1, 1]


def test_no_article_is_counted_outside_the_days(store: Store, now: datetime) -> None:
    publish(store, "cu", EVENTS, now - timedelta(days=40))
    with store.reading() as conn:
        per_day = store_articles.published_by_day(conn, now, dates.days_ending(now, 30, UTC))
        assert store_articles.published_by_day(conn, now, []) == []
    assert all("su-kien" not in counts for counts in per_day)
