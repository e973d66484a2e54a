"""Double opt-in, preferences and unsubscribing over real HTTP (uvicorn on loopback, httpx), with the
mails delivered to a real SMTP server (aiosmtpd) and read back from there. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from syndicator import tokens
from syndicator.mail import choices, officials
from syndicator.mail.linktokens import email_check, subscriber_token, subscriber_tokens
from syndicator.model import Frequency, Subscriber, SubscriberStatus
from tests.smtp_server import SmtpServer, smtp_server
from tests.subscribekit import (
    SECRET,
    Site,
    csrf_field,
    header_block,
    link,
    list_unsubscribe,
    running_site,
    text_part,
)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def site(database_url: str, tmp_path: Path, smtp: SmtpServer) -> Iterator[Site]:
    with running_site(database_url, tmp_path, smtp=smtp) as running:
        yield running


@pytest.fixture
def sqlite_site(tmp_path: Path, smtp: SmtpServer) -> Iterator[Site]:
    with running_site(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, smtp=smtp) as running:
        yield running


def confirmed_via_web(site: Site, email: str, **choices: object) -> Subscriber:
    """The whole double opt-in: the form, the mail through SMTP, its link opened."""
    sent_before = site.mails_accepted()
    with site.client() as client:
        assert site.subscribe(client, email, **choices).status_code == 200  # type: ignore[arg-type]
    assert site.deliver().sent == 1
    mail = site.received(sent_before + 1)[-1].message()
    assert httpx.get(link(mail, "/confirm/")).status_code == 200  # the page with the button
    assert httpx.post(link(mail, "/confirm/")).status_code == 200  # the button
    person = site.person(email)
    assert person is not None and person.status is SubscriberStatus.CONFIRMED
    return person


# -- subscribing: reachable, double opt-in ----------------------------------------------------------


def test_the_form_is_reachable_from_the_home_and_category_pages(sqlite_site: Site) -> None:
    site = sqlite_site
    home = httpx.get(site.url + "/")
    assert home.status_code == 200
    assert 'href="/subscribe"' in home.text
    category = httpx.get(site.url + "/c/thong-bao")
    assert category.status_code == 200
    assert 'href="/subscribe?c=thong-bao"' in category.text

    form = httpx.get(site.url + "/subscribe?c=thong-bao")
    assert form.status_code == 200
    assert form.headers["cache-control"] == "no-store"
    assert re.search(r'name="categories" value="thong-bao" checked', form.text)
    assert not re.search(r'name="all" value="1" checked', form.text)  # only the category chosen
    assert re.search(r'name="frequency" value="daily" checked', form.text)
    everything = httpx.get(site.url + "/subscribe")
    assert re.search(r'name="all" value="1" checked', everything.text)
    for value in ("immediate", "daily", "weekly"):
        assert f'name="frequency" value="{value}"' in everything.text


def _the_confirmation_mail_link(site: Site) -> str:
    """The one queued confirmation mail, delivered and checked: its link to the confirmation page."""
    assert site.deliver().sent == 1
    (received,) = site.received(1)
    assert received.recipients == ("Nguoi.Dan@example.vn",)  # the domain lowercased, the rest kept
    assert received.mail_from == site.settings.mail.from_address
    mail = received.message()
    assert mail["Subject"].startswith("Xác nhận đăng ký nhận tin")
    assert mail["List-Unsubscribe"] is None  # nothing to unsubscribe from yet
    assert b"List-Unsubscribe-Post" not in header_block(received.data)
    assert "có hiệu lực trong 7 ngày" in text_part(mail)
    confirm_url = link(mail, "/confirm/")
    assert confirm_url.startswith(site.url + "/confirm/")
    return confirm_url


def test_double_opt_in_confirms_once_and_records_time_and_ip(site: Site) -> None:
    client = site.client()
    asked_at = site.clock()
    response = site.subscribe(
        client, "Nguoi.Dan@Example.VN", categories=["thong-bao", "y-te"], frequency="weekly"
    )
    assert response.status_code == 200
    assert "Vui lòng kiểm tra hộp thư" in response.text

    # nothing is subscribed before the link is opened: a pending row, one queued confirmation mail
    pending = site.person("nguoi.dan@example.vn")
    assert pending is not None and pending.status is SubscriberStatus.PENDING
    assert pending.confirmed_at is None
    assert [(row.kind, row.status) for row in site.outbox()] == [("confirm", "pending")]

    site.clock.advance(timedelta(minutes=3))
    confirm_url = _the_confirmation_mail_link(site)

    site.clock.advance(timedelta(hours=2))
    confirmed_at = site.clock()
    # opening the link, as a mail security gateway does with every link of a mail, changes nothing
    opened = httpx.get(confirm_url)  # from the mail program: no cookie, no session
    assert opened.status_code == 200
    assert "Xác nhận đăng ký nhận tin" in opened.text and '<form method="post">' in opened.text
    assert "Nguoi.Dan@example.vn" in opened.text
    assert "hằng tuần" in opened.text and "Thông báo" in opened.text and "Y tế" in opened.text
    waiting = site.person("nguoi.dan@example.vn")
    assert waiting is not None and waiting.status is SubscriberStatus.PENDING
    # the button
    confirmed = httpx.post(confirm_url)
    assert confirmed.status_code == 200
    assert "Đăng ký thành công" in confirmed.text
    assert "Nguoi.Dan@example.vn" in confirmed.text
    assert "hằng tuần" in confirmed.text and "Thông báo" in confirmed.text and "Y tế" in confirmed.text
    person = site.person("nguoi.dan@example.vn")
    assert person is not None
    assert person.status is SubscriberStatus.CONFIRMED
    assert person.confirmed_at == confirmed_at
    assert person.confirmed_ip == "127.0.0.1"
    assert person.categories == frozenset({"thong-bao", "y-te"})
    assert person.frequency is Frequency.WEEKLY
    assert person.created_at == asked_at

    # the same link again, later: harmless; the first confirmation stays on record, nothing is sent
    site.clock.advance(timedelta(days=1))
    again = httpx.post(confirm_url, headers={"x-forwarded-for": "198.51.100.7"})
    assert again.status_code == 200
    assert "Đăng ký thành công" in again.text
    twice = site.person("nguoi.dan@example.vn")
    assert twice is not None
    assert (twice.status, twice.confirmed_at, twice.confirmed_ip) == (
        SubscriberStatus.CONFIRMED,
        confirmed_at,
        "127.0.0.1",
    )
    assert [(row.kind, row.status) for row in site.outbox()] == [("confirm", "sent")]
    assert site.deliver().sent == 0
    assert site.mails_accepted() == 1


def test_the_confirmation_link_works_for_confirm_days_then_expires(site: Site) -> None:
    client = site.client()
    for email in ("som@example.vn", "muon@example.vn"):
        assert site.subscribe(client, email).status_code == 200
    token_of = {row.subscriber_id: row.token for row in site.outbox()}
    early, late = (site.person(e) for e in ("som@example.vn", "muon@example.vn"))
    assert early is not None and late is not None
    assert site.settings.subscribe.confirm_days == 7

    site.clock.advance(timedelta(days=7))  # the last moment it is valid
    assert httpx.post(f"{site.url}/confirm/{token_of[early.id]}").status_code == 200
    site.clock.advance(timedelta(seconds=1))
    for method in ("GET", "POST"):
        expired = httpx.request(method, f"{site.url}/confirm/{token_of[late.id]}")
        assert expired.status_code == 410
        assert "Liên kết xác nhận đã hết hạn" in expired.text
        assert "đăng ký lại" in expired.text

    now_confirmed, still_pending = (site.person(e) for e in ("som@example.vn", "muon@example.vn"))
    assert now_confirmed is not None and now_confirmed.status is SubscriberStatus.CONFIRMED
    assert still_pending is not None and still_pending.status is SubscriberStatus.PENDING
    assert still_pending.confirmed_at is None


def test_subscribing_again_with_new_choices_changes_them_only_when_confirmed(site: Site) -> None:
    first = confirmed_via_web(site, "ong.ba@example.vn", categories=["thong-bao"], frequency="daily")
    site.clock.advance(timedelta(days=3))
    with site.client() as client:
        assert site.subscribe(client, "ong.ba@example.vn", frequency="immediate").status_code == 200
    unchanged = site.person("ong.ba@example.vn")
    assert unchanged is not None
    assert (unchanged.categories, unchanged.frequency) == (frozenset({"thong-bao"}), Frequency.DAILY)

    assert site.deliver().sent == 1
    url = link(site.received(2)[1].message(), "/confirm/")
    assert httpx.post(url).status_code == 200
    changed = site.person("ong.ba@example.vn")
    assert changed is not None
    assert (changed.categories, changed.frequency) == (None, Frequency.IMMEDIATE)
    assert changed.confirmed_at == first.confirmed_at  # the first confirmation stays on record


# -- RFC 8058 one-click, as Gmail sends it ----------------------------------------------------------

ONE_CLICK_MULTIPART = (
    b'--xYzZY\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--xYzZY--\r\n'
)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click"),
        ("multipart/form-data; boundary=xYzZY", ONE_CLICK_MULTIPART),
    ],
    ids=["urlencoded", "multipart"],
)
def test_one_click_unsubscribe_from_a_delivered_digest(site: Site, content_type: str, body: bytes) -> None:
    person = confirmed_via_web(site, "ba.con@example.vn", categories=["thong-bao"])
    assert site.queue_daily_digest("tin-1") == 1
    assert site.deliver().sent == 1
    received = site.received(2)[1]
    digest = received.message()
    assert digest["Subject"].startswith("Bản tin")
    assert str(digest["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    url = list_unsubscribe(digest)
    assert url.startswith(site.url + "/unsubscribe/")
    assert link(digest, "/unsubscribe/") == url + "?lang=vi"  # the footer's: its page in the mail's language
    # each digest carries the preferences link of its recipient
    preferences = httpx.get(link(digest, "/preferences/"))
    assert preferences.status_code == 200 and "ba.con@example.vn" in preferences.text

    # the next digest is queued, not sent yet: one-click must stop it too
    assert site.queue_daily_digest("tin-2") == 1
    assert site.statuses(subscriber_id=person.id, kind="digest") == ["sent", "pending"]
    site.clock.advance(timedelta(minutes=1))
    ended_at = site.clock()

    # exactly what the mail provider sends: POST, the header's URL, that body; no cookie, no
    # Referer or Origin, no page fetched before
    with httpx.Client(follow_redirects=False) as provider:
        response = provider.post(url, content=body, headers={"content-type": content_type})
    sent = response.request.headers
    assert "cookie" not in sent and "referer" not in sent and "origin" not in sent
    assert response.status_code == 200
    assert not response.is_redirect and "location" not in response.headers
    assert "Đã hủy đăng ký" in response.text

    ended = site.person("ba.con@example.vn")
    assert ended is not None
    assert ended.status is SubscriberStatus.UNSUBSCRIBED
    assert ended.unsubscribed_at == ended_at
    assert site.statuses(subscriber_id=person.id, kind="digest") == ["sent", "cancelled"]
    site.clock.advance(timedelta(days=1))
    assert site.deliver().sent == 0
    assert site.mails_accepted() == 2

    # providers retry: the same POST again is still a 200 and changes nothing
    again = httpx.post(url, content=body, headers={"content-type": content_type})
    assert again.status_code == 200
    still = site.person("ba.con@example.vn")
    assert still is not None and still.unsubscribed_at == ended_at


# -- the unsubscribe and preferences pages ----------------------------------------------------------


def test_the_unsubscribe_page_changes_nothing_until_its_button_is_pressed(sqlite_site: Site) -> None:
    site = sqlite_site
    person = site.add_confirmed("chi.hai@example.vn")
    assert site.queue_daily_digest("tin-1") == 1
    url = f"{site.url}/unsubscribe/{site.link_token('unsubscribe', person)}"
    client = site.client()

    shown = client.get(url)
    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    assert "chi.hai@example.vn" in shown.text
    assert shown.text.count("<form") == 1 and shown.text.count("<button") == 1
    assert client.get(url).status_code == 200  # a link scanner opening it twice: still nothing
    unchanged = site.person("chi.hai@example.vn")
    assert unchanged is not None and unchanged.status is SubscriberStatus.CONFIRMED
    assert site.statuses(kind="digest") == ["pending"]

    pressed = client.post(url, data={"csrf_token": csrf_field(shown)})
    assert pressed.status_code == 200
    assert "Đã hủy đăng ký" in pressed.text
    ended = site.person("chi.hai@example.vn")
    assert ended is not None and ended.status is SubscriberStatus.UNSUBSCRIBED
    assert site.statuses(kind="digest") == ["cancelled"]


def test_preferences_change_choices_or_end_everything(sqlite_site: Site) -> None:
    site = sqlite_site
    person = site.add_confirmed("co.ba@example.vn", categories=["thong-bao"], frequency="daily")
    url = f"{site.url}/preferences/{site.link_token('preferences', person)}"
    client = site.client()

    shown = client.get(url)
    assert shown.status_code == 200
    assert "co.ba@example.vn" in shown.text
    assert re.search(r'name="categories" value="thong-bao" checked', shown.text)
    assert re.search(r'name="frequency" value="daily" checked', shown.text)
    assert "Đã lưu" not in shown.text

    saved = client.post(
        url,
        data={
            "csrf_token": csrf_field(shown),
            "categories": ["y-te", "kinh-te"],
            "frequency": "weekly",
            "action": "save",
        },
    )
    assert saved.status_code == 200
    assert "Đã lưu lựa chọn của bạn" in saved.text
    assert re.search(r'name="categories" value="y-te" checked', saved.text)
    assert not re.search(r'name="categories" value="thong-bao" checked', saved.text)
    changed = site.person("co.ba@example.vn")
    assert changed is not None
    assert (changed.categories, changed.frequency, changed.status) == (
        frozenset({"y-te", "kinh-te"}),
        Frequency.WEEKLY,
        SubscriberStatus.CONFIRMED,
    )

    tampered = client.post(url, data={"csrf_token": csrf_field(saved), "all": "1", "frequency": "hourly"})
    assert tampered.status_code == 422
    assert "Lựa chọn không hợp lệ" in tampered.text
    kept = site.person("co.ba@example.vn")
    assert kept is not None and kept.frequency is Frequency.WEEKLY

    everything = client.post(url, data={"csrf_token": csrf_field(saved), "all": "1", "frequency": "daily"})
    assert everything.status_code == 200
    all_again = site.person("co.ba@example.vn")
    assert all_again is not None and all_again.categories is None

    assert site.queue_daily_digest("tin-1") == 1
    leave = client.post(url, data={"csrf_token": csrf_field(everything), "action": "unsubscribe"})
    assert leave.status_code == 200
    assert "Đã hủy đăng ký" in leave.text
    ended = site.person("co.ba@example.vn")
    assert ended is not None and ended.status is SubscriberStatus.UNSUBSCRIBED
    assert site.statuses(kind="digest") == ["cancelled"]
    # the link still opens, and says this address no longer receives mail
    later = client.get(url)
    assert later.status_code == 200 and "hiện không nhận tin" in later.text


def test_a_listed_official_edits_their_own_choice_on_the_preferences_page(site: Site) -> None:
    """The office's entry is not the page's to change: the form shows and saves the person's own
    choice, says so, and that choice is what they get once the office unlists the address."""
    listed = officials.Official("bchqs@example.vn", "Ban Chỉ huy Quân sự", None, Frequency.DAILY)
    officials.sync_officials(site.store, [listed], site.clock())
    person = site.person("bchqs@example.vn")
    assert person is not None
    url = f"{site.url}/preferences/{site.link_token('preferences', person)}"
    client = site.client()
    shown = client.get(url)
    assert "theo danh sách cán bộ" in shown.text
    assert re.search(r'name="frequency" value="daily" checked', shown.text)  # the office's, to start from

    saved = client.post(
        url,
        data={
            "csrf_token": csrf_field(shown),
            "categories": ["y-te"],
            "frequency": "weekly",
            "action": "save",
        },
    )
    assert "Đã lưu lựa chọn của bạn" in saved.text
    assert re.search(r'name="categories" value="y-te" checked', saved.text)  # what was saved is shown
    assert re.search(r'name="frequency" value="weekly" checked', saved.text)
    office = site.person("bchqs@example.vn")
    assert office is not None and (office.frequency, office.categories) == (Frequency.DAILY, None)

    officials.sync_officials(site.store, [], site.clock())  # unlisted: their own choice takes over
    own = site.person("bchqs@example.vn")
    assert own is not None
    assert (own.status, own.frequency, own.categories) == (
        SubscriberStatus.CONFIRMED,
        Frequency.WEEKLY,
        frozenset({"y-te"}),
    )
    assert "theo danh sách cán bộ" not in client.get(url).text


# -- bad links: 4xx, nothing changes ----------------------------------------------------------------


def test_link_tokens_are_the_same_whichever_way_they_are_signed() -> None:
    """A mail's two tokens come from one signing (sender); links already sent must keep working, so
    they are byte for byte those signed one by one, and those of earlier versions."""
    secret = "secret-0123456789abcdef"
    old = (
        "eyJzIjo0MiwiaCI6ImNkNTVlZWUxOWUifQ.eDTlXL33aX1nWqtbGmmqpt2E",
        "eyJzIjo0MiwiaCI6ImNkNTVlZWUxOWUifQ.jZLP7peZl_YdxjrxgPg5Deb1",
    )
    assert subscriber_tokens(secret, 42, "Anh.Tu@example.vn") == old
    address = "Anh.Tu@example.vn"
    one_by_one = (subscriber_token(secret, p, 42, address) for p in ("unsubscribe", "preferences"))
    assert tuple(one_by_one) == old


def _tampered(site: Site, person: Subscriber, purpose: str) -> dict[str, str]:
    good = subscriber_token(SECRET, purpose, person.id, person.email)
    payload, mac = good.split(".")
    other = "preferences" if purpose == "unsubscribe" else "unsubscribe"
    someone = site.add_confirmed("nguoi.khac@example.vn")
    return {
        "payload changed": f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{mac}",
        "mac changed": f"{payload}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        "mac missing": payload,
        "other purpose": subscriber_token(SECRET, other, person.id, person.email),
        "other secret": subscriber_token("another-secret-0123456789", purpose, person.id, person.email),
        # another subscriber's id with this address's check: the pair must match
        "id swapped": tokens.sign(SECRET, purpose, {"s": someone.id, "h": email_check(person.email)}),
        "not ascii": f"{payload}.{mac[:-1]}é",
        "garbage": "%00%0d%0a<script>",
    }


def test_bad_or_tampered_links_are_refused_and_change_nothing(sqlite_site: Site) -> None:
    site = sqlite_site
    person = site.add_confirmed("anh.tu@example.vn", categories=["thong-bao"])
    assert site.queue_daily_digest("tin-1") == 1
    attempts: list[httpx.Response] = []
    for purpose in ("unsubscribe", "preferences"):
        for name, token in _tampered(site, person, purpose).items():
            url = f"{site.url}/{purpose}/{token}"
            attempts.append(httpx.get(url))
            attempts.append(
                httpx.post(
                    url,
                    content=b"List-Unsubscribe=One-Click",
                    headers={"content-type": "application/x-www-form-urlencoded"},
                )
            )
            attempts.append(httpx.post(url, data={"action": "unsubscribe", "all": "1"}))
            for response in attempts[-3:]:
                assert 400 <= response.status_code < 500, (purpose, name, response.request.method)
    for response in attempts:
        if response.status_code == 400:
            assert "Liên kết không hợp lệ" in response.text
    unchanged = site.person("anh.tu@example.vn")
    assert unchanged is not None
    assert (unchanged.status, unchanged.categories) == (SubscriberStatus.CONFIRMED, frozenset({"thong-bao"}))
    assert site.statuses(kind="digest") == ["pending"]


def test_a_tampered_or_foreign_confirmation_link_subscribes_nobody(sqlite_site: Site) -> None:
    site = sqlite_site
    with site.client() as client:
        assert site.subscribe(client, "that@example.vn", categories=["thong-bao"]).status_code == 200
    (row,) = site.outbox()
    payload, mac = row.token.split(".")
    forged = tokens.sign(SECRET, "preferences", {"e": "ke.gian@example.vn", "c": "*", "f": "daily"})
    other_secret = tokens.sign(
        "another-secret-0123456789", "confirm", {"e": "ke.gian@example.vn", "c": "*", "f": "daily"}
    )
    for token in (f"{payload}x.{mac}", f"{payload}.{mac}x", forged, other_secret, f"{payload}.é", "é"):
        for method in ("GET", "POST"):
            response = httpx.request(method, f"{site.url}/confirm/{token}")
            assert response.status_code == 400, token
            assert "Liên kết không hợp lệ" in response.text
    assert site.person("ke.gian@example.vn") is None
    pending = site.person("that@example.vn")
    assert pending is not None and pending.status is SubscriberStatus.PENDING


def test_a_link_of_a_forgotten_address_is_refused(sqlite_site: Site) -> None:
    site = sqlite_site
    person = site.add_confirmed("da.xoa@example.vn")
    url = f"{site.url}/unsubscribe/{site.link_token('unsubscribe', person)}"
    assert choices.remove(site.store, "da.xoa@example.vn")
    response = httpx.post(
        url,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
