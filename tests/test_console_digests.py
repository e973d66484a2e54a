"""The console's digests (/admin/digests) over real HTTP, on SQLite and PostgreSQL: runs with their
windows and counts for every role; the next daily and weekly digest previewed by an editor (the function
`digest preview` uses), its HTML served alone under a CSP sandbox; a preview as one subscriber for an
admin only, audited; no 500 for any odd parameter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from syndicator import access
from syndicator.web import admin_mail
from tests.consolekit import form_token, signed_in_client
from tests.mailconsolekit import mail_site, vietnamese_left
from tests.subscribekit import Site


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    """One daily run queued and sent to x and y; then news for the next run (in Thông báo)."""
    with mail_site(database_url, tmp_path) as running:
        running.add_confirmed("x@xa.test")
        running.add_confirmed("y@xa.test", categories=["khen-thuong"], language="en")
        running.queue_daily_digest("a1")
        running.deliver()
        running.clock.advance(timedelta(hours=1))
        running.write_article("a2", "Thông báo", running.clock() - timedelta(minutes=10))
        yield running


def _audit(site: Site) -> list[tuple[str, str, str | None, str | None]]:
    entries, _ = access.audit(site.store, limit=1000)
    mine = (e for e in reversed(entries) if e.actor != "test" and e.action != "login")
    return [(e.actor, e.action, e.target, e.detail) for e in mine]


def test_every_role_sees_the_runs_with_their_windows_and_counts(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    page = client.get("/admin/digests")
    assert page.status_code == 200
    assert "Hằng ngày" in page.text and "Đã xếp hàng xong" in page.text
    assert "<time" in page.text
    assert 'action="/admin/digests/preview"' not in page.text  # a viewer previews nothing
    assert client.get("/admin/digests/preview").status_code == 403
    english = client.get("/admin/digests", params={"lang": "en"})
    assert "Daily" in english.text


def test_an_editor_previews_the_next_digest_as_a_subscriber_of_every_category(site: Site) -> None:
    client = signed_in_client(site, "bich")
    page = client.get("/admin/digests")
    assert 'action="/admin/digests/preview"' in page.text
    assert 'action="/admin/digests/preview/as"' not in page.text  # as one subscriber: admin only
    preview = client.get("/admin/digests/preview", params={"frequency": "daily", "mail_lang": "vi"})
    assert preview.status_code == 200
    assert "Tin a2" in preview.text  # the news of the open window, as text
    assert "<iframe" not in preview.text and "style=" not in preview.text
    mail = client.get("/admin/digests/preview/mail", params={"frequency": "daily", "mail_lang": "en"})
    assert mail.status_code == 200 and "Tin a2" in mail.text
    # its own policy alone (the site's would forbid the mail's inline styles), and never framed
    assert mail.headers.get_list("content-security-policy") == [admin_mail.SANDBOX_CSP]
    assert mail.headers["x-frame-options"] == "DENY" and mail.headers["x-content-type-options"] == "nosniff"
    assert mail.headers["cache-control"] == "no-store"
    weekly = client.get("/admin/digests/preview", params={"frequency": "weekly"})
    assert weekly.status_code == 200
    assert client.get("/admin/digests/preview", params={"subscriber": "1"}).status_code == 403
    token = form_token(client, "/admin/digests")
    refused = client.post(
        "/admin/digests/preview/as", data={"csrf_token": token, "email": "x@xa.test", "frequency": "daily"}
    )
    assert refused.status_code == 403
    assert _audit(site) == []


def test_an_admin_previews_as_one_subscriber_and_the_view_is_audited(site: Site) -> None:
    client = signed_in_client(site, "an")
    token = form_token(client, "/admin/digests")
    found = client.post(
        "/admin/digests/preview/as",
        data={"csrf_token": token, "email": "X@xa.test", "frequency": "daily", "mail_lang": ""},
    )
    assert found.status_code == 303
    target = found.headers["location"]
    assert "x@xa.test" not in target.lower()  # no address in a URL
    preview = client.get(target)
    assert preview.status_code == 200 and "x@xa.test" in preview.text and "Tin a2" in preview.text
    assert _audit(site) == [("an", "subscriber.view", "x@xa.test", "digest preview")]
    # y reads only another category: nothing would be sent to them
    token = form_token(client, "/admin/digests")
    as_y = client.post(
        "/admin/digests/preview/as", data={"csrf_token": token, "email": "y@xa.test", "frequency": "daily"}
    )
    assert "sẽ không có thư nào được gửi" in client.get(as_y.headers["location"]).text
    unknown = client.post(
        "/admin/digests/preview/as",
        data={"csrf_token": token, "email": "nobody@xa.test", "frequency": "daily"},
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"frequency": "immediate"}, 400),
        ({"frequency": "x" * 500}, 400),
        ({"mail_lang": "fr"}, 400),
        ({"subscriber": "abc"}, 400),
        ({"subscriber": "99999999999999"}, 400),
        ({"subscriber": "424242"}, 404),
    ],
)
def test_odd_preview_parameters_are_a_clear_answer_never_a_500(
    site: Site, params: dict[str, str], code: int
) -> None:
    client = signed_in_client(site, "an")
    assert client.get("/admin/digests/preview", params=params).status_code == code
    assert client.get("/admin/digests/preview/mail", params=params).status_code == code


def test_odd_preview_forms_and_pages_are_a_clear_answer_never_a_500(site: Site) -> None:
    client = signed_in_client(site, "an")
    token = form_token(client, "/admin/digests")
    for fields, code in (
        ({"email": "not an address", "frequency": "daily"}, 404),
        ({"email": "", "frequency": "daily"}, 400),
        ({"email": "x" * 400 + "@xa.test", "frequency": "daily"}, 400),
        ({"email": "x@xa.test", "frequency": "hourly"}, 400),
        ({"email": "x@xa.test", "frequency": "daily", "mail_lang": "de"}, 400),
    ):
        answer = client.post("/admin/digests/preview/as", data={"csrf_token": token, **fields})
        assert answer.status_code == code, fields
    assert client.get("/admin/digests", params={"trang": "0"}).status_code == 404
    assert client.get("/admin/digests", params={"trang": "50"}).status_code == 200


def test_the_pages_in_english_keep_no_vietnamese_words(site: Site) -> None:
    client = signed_in_client(site, "an")
    for path in ("/admin/digests", "/admin/digests/preview?frequency=weekly&mail_lang=en"):
        page = client.get(path + ("&" if "?" in path else "?") + "lang=en")
        assert page.status_code == 200
        assert vietnamese_left(page.text) == [], path
