"""The console's outbox (/admin/mail) over real HTTP, on SQLite and PostgreSQL, with mail delivered to a
real SMTP server: the list and its filters, addresses masked below admin and audited for an admin, a
mail's attempts with the server's replies, retry and cancel by an admin only (403 and nothing changed
for the others, 409 when the mail moved), and no 500 for any odd parameter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from syndicator import access
from syndicator.model import OutboxStatus
from syndicator.store import mailqueue
from tests.consolekit import form_token, signed_in_client
from tests.mailconsolekit import REFUSED_FOR_NOW, later, mail_of, mail_site, smtp_of, status, vietnamese_left
from tests.smtp_server import Fault
from tests.subscribekit import Site


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    """x is refused for now at the first try, given up (one attempt allowed); y is sent; z waits."""
    with mail_site(database_url, tmp_path, mail={"connections": 1, "max_attempts": 1}) as running:
        smtp_of(running).recorder.faults.append(Fault("RCPT", REFUSED_FOR_NOW, "x@xa.test", times=1))
        running.add_confirmed("x@xa.test")
        running.add_confirmed("y@xa.test")
        running.queue_daily_digest("a1")
        running.deliver()
        running.add_confirmed("z@xa.test")
        running.queue_daily_digest("a2")  # the next day's run: z's mail (and x's, y's) wait
        yield running


def _audit(site: Site) -> list[tuple[str, str, str | None]]:
    entries, _ = access.audit(site.store, limit=1000)
    return [
        (e.actor, e.action, e.target) for e in reversed(entries) if e.actor != "test" and e.action != "login"
    ]


def _post(client: httpx.Client, path: str, mail_path: str, **fields: str) -> httpx.Response:
    return client.post(path, data={"csrf_token": form_token(client, mail_path), **fields})


def test_a_viewer_sees_the_outbox_with_addresses_masked_and_nothing_is_audited(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    page = client.get("/admin/mail")
    assert page.status_code == 200
    assert page.text.count("***@xa.test") >= 2  # one-letter addresses: nothing of them shown
    assert "x@xa.test" not in page.text and "y@xa.test" not in page.text
    assert 'name="address"' not in page.text  # no search by address below admin
    assert client.get("/admin/mail", params={"address": "x@"}).status_code == 403
    sent = next(m for m in _mails(site, "y@xa.test") if m.status is OutboxStatus.SENT)
    detail = client.get(f"/admin/mail/{sent.id}")
    assert detail.status_code == 200
    assert "***@xa.test" in detail.text and "y@xa.test" not in detail.text
    assert "2.0.0 queued" in detail.text  # the server's reply to the content
    assert "/retry" not in detail.text and "/cancel" not in detail.text
    assert _audit(site) == []


def test_an_admin_sees_addresses_filters_them_and_each_view_is_audited(site: Site) -> None:
    client = signed_in_client(site, "an")
    page = client.get("/admin/mail")
    assert "x@xa.test" in page.text and "z@xa.test" in page.text
    assert _audit(site) == [("an", "subscriber.list", "mail")]
    found = client.get("/admin/mail", params={"address": "Z@XA", "status": "pending"})
    assert "z@xa.test" in found.text and "y@xa.test" not in found.text
    assert client.get("/admin/mail", params={"status": "failed"}).text.count("x@xa.test") == 1
    with site.store.reading() as conn:
        runs = sorted({m.run_id for m in mailqueue.mails(conn, mailqueue.Filter(), limit=50)[0] if m.run_id})
    first_run = client.get("/admin/mail", params={"run": str(runs[0]), "kind": "digest"})
    assert "z@xa.test" not in first_run.text and "y@xa.test" in first_run.text
    empty = client.get("/admin/mail", params={"kind": "confirm"})
    assert empty.status_code == 200
    x = next(m for m in _mails(site, "x@xa.test") if m.status is OutboxStatus.FAILED)
    detail = client.get(f"/admin/mail/{x.id}")
    assert "x@xa.test" in detail.text and "greylisted" in detail.text and "451" in detail.text
    assert ("an", "subscriber.view", "x@xa.test") in _audit(site)


def test_an_admin_retries_a_failed_mail_and_it_goes(site: Site) -> None:
    client = signed_in_client(site, "an")
    x = mail_of(site, "x@xa.test")
    failed = [m for m in _mails(site, "x@xa.test") if m.status is OutboxStatus.FAILED]
    assert len(failed) == 1
    path = f"/admin/mail/{failed[0].id}"
    answer = _post(client, f"{path}/retry", path, status="failed")
    assert answer.status_code == 303 and answer.headers["location"] == path
    assert status(site, failed[0].id) is OutboxStatus.PENDING
    assert ("an", "mail.retry", f"mail {failed[0].id}") in _audit(site)
    again = _post(client, f"{path}/retry", path, status="failed")  # a second tab, seen before the retry
    assert again.status_code == 409 and "tải lại trang" in again.text
    later(site)
    site.deliver()
    assert status(site, failed[0].id) is OutboxStatus.SENT
    assert x.id


def test_an_admin_cancels_a_waiting_mail_but_not_one_sent_or_being_sent(site: Site) -> None:
    client = signed_in_client(site, "an")
    z = mail_of(site, "z@xa.test")
    path = f"/admin/mail/{z.id}"
    assert "/cancel" in client.get(path).text
    assert _post(client, f"{path}/cancel", path, status="pending").status_code == 303
    assert status(site, z.id) is OutboxStatus.CANCELLED
    assert ("an", "mail.cancel", f"mail {z.id}") in _audit(site)
    assert _post(client, f"{path}/cancel", path, status="pending").status_code == 409
    sent = next(m for m in _mails(site, "y@xa.test") if m.status is OutboxStatus.SENT)
    sent_path = f"/admin/mail/{sent.id}"
    assert _post(client, f"{sent_path}/cancel", sent_path, status="sent").status_code == 409
    assert _post(client, f"{sent_path}/retry", sent_path, status="sent").status_code == 409
    assert status(site, sent.id) is OutboxStatus.SENT
    waiting = next(m for m in _mails(site, "y@xa.test") if m.status is OutboxStatus.PENDING)
    now = site.clock()
    with site.store.writing() as conn:  # a sender holds it under a live lease
        held = mailqueue.claim(conn, now + timedelta(days=1), 50, "live-sender", now + timedelta(hours=1))
    assert waiting.id in {m.id for m in held}
    held_path = f"/admin/mail/{waiting.id}"
    assert "máy chủ có thể đã nhận" in client.get(held_path).text
    refused = _post(client, f"{held_path}/cancel", held_path, status="pending")
    assert refused.status_code == 409 and "máy chủ có thể đã nhận" in refused.text
    assert status(site, waiting.id) is OutboxStatus.SENDING


@pytest.mark.parametrize("name", ["bich", "cuong"])
def test_an_editor_or_viewer_cannot_retry_or_cancel(site: Site, name: str) -> None:
    client = signed_in_client(site, name)
    z = mail_of(site, "z@xa.test")
    path = f"/admin/mail/{z.id}"
    for action in ("retry", "cancel"):
        assert _post(client, f"{path}/{action}", path, status="pending").status_code == 403
    assert status(site, z.id) is OutboxStatus.PENDING
    assert _audit(site) == []


def test_a_change_without_its_csrf_field_is_refused(site: Site) -> None:
    client = signed_in_client(site, "an")
    z = mail_of(site, "z@xa.test")
    assert client.post(f"/admin/mail/{z.id}/cancel", data={"status": "pending"}).status_code == 403
    assert status(site, z.id) is OutboxStatus.PENDING


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "lost"}, 400),
        ({"kind": "spam"}, 400),
        ({"run": "abc"}, 400),
        ({"run": "0"}, 400),
        ({"run": "99999999999999999999"}, 400),
        ({"run": "１２"}, 400),
        ({"address": "x" * 400}, 400),
        ({"address": "a\x00b"}, 400),
        ({"trang": "0"}, 404),
        ({"trang": "-1"}, 404),
        ({"trang": "9" * 40}, 404),
        ({"trang": "999"}, 200),
        ({"address": "%_\\"}, 200),
    ],
)
def test_odd_filters_are_a_clear_answer_never_a_500(site: Site, params: dict[str, str], code: int) -> None:
    client = signed_in_client(site, "an")
    assert client.get("/admin/mail", params=params).status_code == code


def test_odd_mail_ids_and_forms_are_a_clear_answer_never_a_500(site: Site) -> None:
    client = signed_in_client(site, "an")
    for path in ("/admin/mail/0", "/admin/mail/99999999999999999999", "/admin/mail/123456", "/admin/mail/x"):
        assert client.get(path).status_code == 404, path
    z = mail_of(site, "z@xa.test")
    path = f"/admin/mail/{z.id}"
    assert _post(client, f"{path}/cancel", path, status="bogus").status_code == 400
    assert _post(client, f"{path}/cancel", path).status_code == 400
    assert _post(client, "/admin/mail/99999999999/retry", path, status="pending").status_code == 404
    assert _post(client, "/admin/mail/123456/retry", path, status="pending").status_code == 404
    assert client.get(f"{path}/cancel").status_code == 405
    assert status(site, z.id) is OutboxStatus.PENDING


def _mails(site: Site, email: str) -> list[mailqueue.Mail]:
    with site.store.reading() as conn:
        return mailqueue.mails(conn, mailqueue.Filter(address=email), limit=50)[0]


def test_the_pages_in_english_keep_no_vietnamese_words(site: Site) -> None:
    client = signed_in_client(site, "an")
    x = next(m for m in _mails(site, "x@xa.test") if m.status is OutboxStatus.FAILED)
    for path in ("/admin/mail", f"/admin/mail/{x.id}", f"/admin/mail/{mail_of(site, 'z@xa.test').id}"):
        page = client.get(path, params={"lang": "en"})
        assert page.status_code == 200
        assert vietnamese_left(page.text) == [], path
    assert "Retry now" in client.get(f"/admin/mail/{x.id}", params={"lang": "en"}).text


def test_a_reply_quoting_the_address_is_masked_below_admin(database_url: str, tmp_path: Path) -> None:
    with mail_site(database_url, tmp_path) as quoted:
        refusal = Fault(
            "RCPT", "550 5.1.1 <Ngoc.Anh@Xa.test>: Recipient address rejected", "ngoc.anh@xa.test"
        )
        smtp_of(quoted).recorder.faults.append(refusal)
        quoted.add_confirmed("ngoc.anh@xa.test")
        quoted.queue_daily_digest("a1")
        quoted.deliver()
        path = f"/admin/mail/{mail_of(quoted, 'ngoc.anh@xa.test').id}"
        seen = signed_in_client(quoted, "cuong").get(path).text
        assert "ngoc.anh" not in seen.casefold() and "ng***@xa.test" in seen
        assert "Recipient address rejected" in seen
        assert "<Ngoc.Anh@Xa.test>" in signed_in_client(quoted, "an").get(path).text.replace(
            "&lt;", "<"
        ).replace("&gt;", ">")
