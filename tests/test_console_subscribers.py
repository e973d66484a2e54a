"""The console's subscribers and officials pages over real HTTP (uvicorn on loopback, SQLite and
PostgreSQL): search and filters, addresses masked below admin, every change by an admin only (403 and
nothing changed for the others), audited, the CLI's safe CSV, a resubscribe that asks to confirm, the
status history, and bad parameters answered 400/404, never 500."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from syndicator import access, i18n
from syndicator.accounts import Role, masked_address
from syndicator.mail import choices
from syndicator.model import OutboxKind, Subscriber, SubscriberStatus
from syndicator.store import subscribers as store_subscribers
from syndicator.store import subscriberview
from tests.consolekit import form_token, make_account, signed_in_client
from tests.factories import subscribe
from tests.subscribekit import Site, running_site

LIST = "/admin/subscribers"


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    with running_site(database_url, tmp_path) as running:
        for name, role in (("an", Role.ADMIN), ("bich", Role.EDITOR), ("cuong", Role.VIEWER)):
            make_account(running.store, name, role, running.clock())
        yield running


def _audit(site: Site) -> list[tuple[str, str, str | None]]:
    entries, _ = access.audit(site.store, limit=1000)
    return [(e.actor, e.action, e.target) for e in reversed(entries) if e.action.startswith("subscriber.")]


def _person(site: Site, email: str) -> Subscriber | None:
    with site.store.reading() as conn:
        return store_subscribers.by_email(conn, email)


def _mails(site: Site, person: Subscriber) -> list[OutboxKind]:
    with site.store.reading() as conn:
        mails, _ = subscriberview.mails_of(conn, person.id, 100)
    return [m.kind for m in mails]


def _people(site: Site) -> None:
    subscribe(site.store, "nguyen.an@example.vn", name="Nguyễn Văn An", at=site.clock())
    subscribe(site.store, "Ba.Tran@Example.vn", name="Trần Ba", frequency="weekly", at=site.clock())
    subscribe(site.store, "a%b_c@example.vn", categories="y-te", at=site.clock())
    choices.add(site.store, "cho@example.vn", site.clock(), language="en")  # pending


def _found(page: httpx.Response) -> int:
    assert page.status_code == 200, page.text
    return page.text.count('<td data-label="Địa chỉ">')


# -- the list: search and filters ----------------------------------------------------------------------


def test_an_admin_searches_by_address_or_name_in_any_case_and_filters(site: Site) -> None:
    _people(site)
    client = signed_in_client(site, "an")
    every = client.get(LIST)
    assert _found(every) == 4 and "nguyen.an@example.vn" in every.text and "Nguyễn Văn An" in every.text
    assert '<a href="/admin/subscribers?status=pending">1</a>' in every.text  # counts by status
    assert '<a href="/admin/subscribers?status=confirmed">3</a>' in every.text
    assert _found(client.get(LIST, params={"q": "BA.TRAN"})) == 1
    assert _found(client.get(LIST, params={"q": "văn an"})) == 1  # the name, its case ignored
    assert _found(client.get(LIST, params={"q": "%"})) == 1  # LIKE's wildcards are letters here
    assert _found(client.get(LIST, params={"q": "_"})) == 1
    assert _found(client.get(LIST, params={"q": "nobody"})) == 0
    assert _found(client.get(LIST, params={"status": "pending"})) == 1
    assert _found(client.get(LIST, params={"frequency": "weekly"})) == 1
    assert _found(client.get(LIST, params={"language": "en"})) == 1
    assert _found(client.get(LIST, params={"source": "cli", "status": "confirmed"})) == 3
    # every category's subscribers get y-te's news too
    assert _found(client.get(LIST, params={"category": "y-te"})) == 4
    assert _found(client.get(LIST, params={"category": "thong-bao"})) == 3
    assert ("an", "subscriber.list", None) in _audit(site)  # a page of addresses: logged


def test_pages_of_fifty_keep_the_filters(site: Site) -> None:
    for n in range(53):
        subscribe(site.store, f"s{n:02d}@example.vn", frequency="weekly", at=site.clock())
    client = signed_in_client(site, "an")
    first = client.get(LIST, params={"frequency": "weekly"})
    assert _found(first) == 50
    assert 'href="/admin/subscribers?frequency=weekly&amp;trang=2"' in first.text
    assert _found(client.get(LIST, params={"frequency": "weekly", "trang": "2"})) == 3
    assert _found(client.get(LIST, params={"trang": "9"})) == 0


def test_a_viewer_and_an_editor_see_masked_addresses_no_names_and_cannot_search(site: Site) -> None:
    _people(site)
    person = _person(site, "nguyen.an@example.vn")
    assert person is not None
    for name in ("cuong", "bich"):
        client = signed_in_client(site, name)
        listing = client.get(LIST)
        assert _found(listing) == 4
        assert masked_address("nguyen.an@example.vn") in listing.text
        assert "nguyen.an@example.vn" not in listing.text and "Nguyễn Văn An" not in listing.text
        assert client.get(LIST, params={"q": "nguyen"}).status_code == 403
        detail = client.get(f"{LIST}/{person.id}")
        assert detail.status_code == 200
        assert "nguyen.an@example.vn" not in detail.text and "Nguyễn Văn An" not in detail.text
        assert '<form class="choices"' not in detail.text
    assert _audit(site) == []  # nothing of theirs shows an address: nothing to log


# -- changes: an admin's only --------------------------------------------------------------------------


def test_a_viewer_or_editor_posting_an_admin_form_is_403_and_changes_nothing(site: Site) -> None:
    _people(site)
    person = _person(site, "nguyen.an@example.vn")
    assert person is not None
    for name in ("cuong", "bich"):
        client = signed_in_client(site, name)
        token = form_token(client, LIST)
        forms = {
            f"{LIST}/new": {
                "email": "moi@example.vn",
                "frequency": "daily",
                "everything": "1",
                "confirmed": "1",
            },
            f"{LIST}/{person.id}/choices": {"frequency": "weekly", "everything": "1", "language": "vi"},
            f"{LIST}/{person.id}/unsubscribe": {},
            f"{LIST}/{person.id}/resubscribe": {},
            f"{LIST}/{person.id}/delete": {"requested": "1"},
        }
        for path, fields in forms.items():
            assert client.post(path, data={"csrf_token": token, **fields}).status_code == 403, path
        assert client.get(f"{LIST}/new").status_code == 403
        assert client.get(f"{LIST}/export.csv").status_code == 403
    assert _person(site, "moi@example.vn") is None
    assert _person(site, "nguyen.an@example.vn") == person
    assert _audit(site) == []


def test_an_admin_adds_a_pending_address_asked_to_confirm_or_one_the_office_vouches_for(site: Site) -> None:
    client = signed_in_client(site, "an")
    form = client.get(f"{LIST}/new")
    assert form.status_code == 200
    token = form_token(client, f"{LIST}/new")
    fields = {"csrf_token": token, "frequency": "weekly", "category": ["y-te"], "language": "en"}
    added = client.post(f"{LIST}/new", data={**fields, "email": "Moi@Example.vn", "name": "Người Mới"})
    assert added.status_code == 303
    pending = _person(site, "moi@example.vn")
    assert pending is not None and pending.status is SubscriberStatus.PENDING
    assert added.headers["location"] == f"{LIST}/{pending.id}?xong=asked"
    assert pending.categories == frozenset({"y-te"}) and pending.language == "en"
    assert _mails(site, pending) == [OutboxKind.CONFIRM]
    vouched = client.post(f"{LIST}/new", data={**fields, "email": "tin@example.vn", "confirmed": "1"})
    assert vouched.status_code == 303
    confirmed = _person(site, "tin@example.vn")
    assert confirmed is not None and confirmed.status is SubscriberStatus.CONFIRMED
    assert _mails(site, confirmed) == []
    assert _audit(site)[-2:] == [
        ("an", "subscriber.add", "Moi@example.vn"),
        ("an", "subscriber.add", "tin@example.vn"),
    ]
    entries, _ = access.audit(site.store, limit=2)
    assert {e.address for e in entries} == {"127.0.0.1"}  # the console's client, never the address added
    again = client.post(f"{LIST}/new", data={**fields, "email": "Moi@Example.vn", "language": ""})
    assert again.status_code == 303
    kept = _person(site, "moi@example.vn")
    assert kept is not None and kept.language == "en"  # no language chosen: theirs stays
    assert 'value="" selected' in client.get(f"{LIST}/new").text
    page = client.get(added.headers["location"])
    assert "Moi@example.vn" in page.text and "Thư xác nhận đăng ký" in page.text
    with site.store.reading() as conn:
        (mail,), _ = subscriberview.mails_of(conn, pending.id, 10)
    assert f'href="/admin/mail/{mail.id}"' in page.text  # the mail's own page, with its attempts


def test_the_office_cannot_vouch_again_for_an_address_whose_owner_withdrew(site: Site) -> None:
    """An unsubscribed or bounced address withdrew its consent: ticking "the office vouches for it" is
    refused (409, pointing to the invitation, which mails a confirmation); nothing changes."""
    client = signed_in_client(site, "an")
    token = form_token(client, f"{LIST}/new")
    fields = {"csrf_token": token, "frequency": "daily", "category": ["y-te"], "language": "vi"}
    assert (
        client.post(f"{LIST}/new", data={**fields, "email": "di@example.vn", "confirmed": "1"}).status_code
        == 303
    )
    person = _person(site, "di@example.vn")
    assert person is not None
    assert client.post(f"{LIST}/{person.id}/unsubscribe", data={"csrf_token": token}).status_code == 303
    before = _audit(site)
    again = client.post(f"{LIST}/new", data={**fields, "email": "DI@example.vn", "confirmed": "1"})
    assert again.status_code == 409
    after = _person(site, "di@example.vn")
    assert after is not None and after.status is SubscriberStatus.UNSUBSCRIBED
    assert _audit(site) == before and _mails(site, after) == []
    asked = client.post(f"{LIST}/new", data={**fields, "email": "di@example.vn"})  # not vouched: asked
    assert asked.status_code == 303
    pending = _person(site, "di@example.vn")
    assert pending is not None and pending.status is SubscriberStatus.PENDING
    assert _mails(site, pending) == [OutboxKind.CONFIRM]


def test_a_bad_address_or_category_is_422_with_the_form_again(site: Site) -> None:
    client = signed_in_client(site, "an")
    token = form_token(client, f"{LIST}/new")
    base = {"csrf_token": token, "frequency": "daily", "everything": "1"}
    bad = client.post(f"{LIST}/new", data={**base, "email": "not an address"})
    assert bad.status_code == 422 and 'value="not an address"' in bad.text
    unknown = client.post(
        f"{LIST}/new", data={**base, "everything": "", "email": "x@example.vn", "category": "khong-co"}
    )
    assert unknown.status_code == 422
    assert _person(site, "x@example.vn") is None


def test_an_admin_edits_choices_and_unsubscribes(site: Site) -> None:
    _people(site)
    person = _person(site, "nguyen.an@example.vn")
    assert person is not None
    client = signed_in_client(site, "an")
    token = form_token(client, f"{LIST}/{person.id}")
    edit = {"csrf_token": token, "frequency": "weekly", "category": ["y-te"], "language": "en", "name": "An"}
    assert client.post(f"{LIST}/{person.id}/choices", data=edit).status_code == 303
    edited = _person(site, "nguyen.an@example.vn")
    assert edited is not None
    assert (edited.frequency.value, edited.categories, edited.language, edited.name) == (
        "weekly", frozenset({"y-te"}), "en", "An",
    )  # fmt: skip
    assert edited.status is SubscriberStatus.CONFIRMED  # confirmed stays confirmed
    gone = client.post(f"{LIST}/{person.id}/unsubscribe", data={"csrf_token": token})
    assert gone.headers["location"] == f"{LIST}/{person.id}?xong=unsubscribed"
    after = _person(site, "nguyen.an@example.vn")
    assert after is not None and after.status is SubscriberStatus.UNSUBSCRIBED
    # an unsubscribed address is not edited: it is asked to subscribe again
    assert client.post(f"{LIST}/{person.id}/choices", data=edit).status_code == 409
    assert [a for _, a, _ in _audit(site)][-2:] == ["subscriber.update", "subscriber.unsubscribe"]


def test_a_resubscribe_queues_a_confirmation_and_stays_pending_and_the_history_shows_it(site: Site) -> None:
    _people(site)
    person = _person(site, "nguyen.an@example.vn")
    assert person is not None
    client = signed_in_client(site, "an")
    token = form_token(client, f"{LIST}/{person.id}")
    assert client.post(f"{LIST}/{person.id}/resubscribe", data={"csrf_token": token}).status_code == 409
    site.clock.advance(minutes=10)
    client.post(f"{LIST}/{person.id}/unsubscribe", data={"csrf_token": token})
    site.clock.advance(minutes=10)
    again = client.post(f"{LIST}/{person.id}/resubscribe", data={"csrf_token": token})
    assert again.headers["location"] == f"{LIST}/{person.id}?xong=asked"
    after = _person(site, "nguyen.an@example.vn")
    assert after is not None and after.status is SubscriberStatus.PENDING  # never confirmed silently
    assert after.name == "Nguyễn Văn An" and after.categories is None  # their choices kept
    assert _mails(site, after) == [OutboxKind.CONFIRM]
    page = client.get(again.headers["location"])
    history = page.text.split("Lịch sử trạng thái", 1)[1].split("Thư đã gửi", 1)[0]
    assert [s for s in ("Đã xác nhận", "Đã hủy đăng ký", "Chờ xác nhận") if s in history] == [
        "Đã xác nhận", "Đã hủy đăng ký", "Chờ xác nhận",
    ]  # fmt: skip
    assert history.index("Đã xác nhận") < history.index("Đã hủy đăng ký") < history.index("Chờ xác nhận")
    assert ("an", "subscriber.view", "nguyen.an@example.vn") in _audit(site)


def test_delete_on_request_needs_the_tick_and_forgets_everything(site: Site) -> None:
    _people(site)
    person = _person(site, "cho@example.vn")
    assert person is not None
    client = signed_in_client(site, "an")
    token = form_token(client, f"{LIST}/{person.id}")
    assert client.post(f"{LIST}/{person.id}/delete", data={"csrf_token": token}).status_code == 400
    assert _person(site, "cho@example.vn") is not None
    done = client.post(f"{LIST}/{person.id}/delete", data={"csrf_token": token, "requested": "1"})
    assert done.status_code == 303 and done.headers["location"] == f"{LIST}?xong=removed"
    assert _person(site, "cho@example.vn") is None
    with site.store.reading() as conn:
        assert store_subscribers.history(conn, person.id) == []
    assert client.get(f"{LIST}/{person.id}").status_code == 404
    assert ("an", "subscriber.remove", "cho@example.vn") in _audit(site)


def test_the_export_is_the_clis_safe_csv_and_is_logged(site: Site) -> None:
    subscribe(site.store, "an@example.vn", name='=HYPERLINK("http://evil.example","x")', at=site.clock())
    subscribe(site.store, "ba@example.vn", name="+1 Ba", at=site.clock())
    client = signed_in_client(site, "an")
    answer = client.get(f"{LIST}/export.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    names = {row["email"]: row["name"] for row in rows}
    assert names == {"an@example.vn": '\'=HYPERLINK("http://evil.example","x")', "ba@example.vn": "'+1 Ba"}
    assert ("an", "subscriber.export", None) in _audit(site)


# -- bad input -----------------------------------------------------------------------------------------


def test_bad_parameters_are_400_or_404_never_500(site: Site) -> None:
    _people(site)
    client = signed_in_client(site, "an")
    for params, status in (
        ({"status": "gone"}, 400),
        ({"source": "x"}, 400),
        ({"frequency": "hourly"}, 400),
        ({"language": "de"}, 400),
        ({"category": "../etc"}, 400),
        ({"category": "a" * 200}, 400),
        ({"q": "x" * 400}, 400),
        ({"q": "a\x00b"}, 400),
        ({"trang": "0"}, 404),
        ({"trang": "²"}, 404),
        ({"trang": "9" * 30}, 404),
    ):
        assert client.get(LIST, params=params).status_code == status, params
    for raw in ("0", "abc", "-1", "99999999999", "2147483648", "2147483647", "1e3"):
        assert client.get(f"{LIST}/{raw}").status_code == 404, raw
    token = form_token(client, LIST)
    person = _person(site, "nguyen.an@example.vn")
    assert person is not None
    assert client.post(f"{LIST}/{person.id}/bogus", data={"csrf_token": token}).status_code == 404
    assert client.post(f"{LIST}/99999999999/unsubscribe", data={"csrf_token": token}).status_code == 404
    assert client.get(f"{LIST}/{person.id}/unsubscribe").status_code == 405
    for fields in (
        {"frequency": "hourly", "everything": "1"},
        {"frequency": "daily", "category": "<script>"},
        {"frequency": "daily", "everything": "1", "language": "xx"},
        {"frequency": "daily", "everything": "1", "name": "n" * 5000},
    ):
        answer = client.post(f"{LIST}/{person.id}/choices", data={"csrf_token": token, **fields})
        assert answer.status_code == 400, fields
    named = client.post(
        f"{LIST}/{person.id}/choices",
        data={"csrf_token": token, "frequency": "daily", "everything": "1", "name": "a\x00b\u202e"},
    )
    assert named.status_code == 303  # control characters dropped (choices.clean_name)
    cleaned = _person(site, "nguyen.an@example.vn")
    assert cleaned is not None and cleaned.name == "ab"
    nul = client.post(f"{LIST}/new", data={"csrf_token": token, "email": "a\x00@b.vn", "frequency": "daily"})
    assert nul.status_code == 400
    assert _person(site, "nguyen.an@example.vn") == cleaned


# -- officials -----------------------------------------------------------------------------------------


def _officials_file(site: Site, text: str) -> None:
    path = site.settings.digest.officials_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_officials_page_shows_the_files_entries_with_their_state(site: Site) -> None:
    _officials_file(
        site,
        '[[official]]\nemail = "chu.tich@thoxuan.gov.vn"\nname = "Chủ tịch"\nfrequency = "weekly"\n'
        '[[official]]\nemail = "pho@thoxuan.gov.vn"\n',
    )
    site.service.officials.check(site.clock())
    client = signed_in_client(site, "cuong")
    page = client.get("/admin/officials")
    assert page.status_code == 200
    assert "config/officials.toml" in page.text and "chỉ để xem" in page.text
    assert masked_address("chu.tich@thoxuan.gov.vn") in page.text
    assert "chu.tich@thoxuan.gov.vn" not in page.text and "Chủ tịch" not in page.text
    assert page.text.count("Đã xác nhận") == 2
    assert _audit(site) == []
    admin = signed_in_client(site, "an").get("/admin/officials")
    assert "chu.tich@thoxuan.gov.vn" in admin.text and "Chủ tịch" in admin.text
    assert ("an", "subscriber.list", None) in _audit(site)


def test_a_missing_or_broken_officials_file_is_said_and_its_reason_is_for_an_admin(site: Site) -> None:
    client = signed_in_client(site, "cuong")
    assert "Không có tệp danh sách cán bộ" in client.get("/admin/officials").text
    _officials_file(site, '[[official]]\nemail = "sai@thoxuan.gov.vn"\nemail2 = 1\n')
    viewer = client.get("/admin/officials")
    assert viewer.status_code == 200 and "có lỗi" in viewer.text and "sai@thoxuan.gov.vn" not in viewer.text
    admin = signed_in_client(site, "an").get("/admin/officials")
    assert "email2" in admin.text


# -- in English ----------------------------------------------------------------------------------------


def test_the_pages_are_all_english_when_asked(site: Site) -> None:
    """No word of the section's own left in Vietnamese on its pages in English (its data aside)."""
    _people(site)
    person = _person(site, "cho@example.vn")
    assert person is not None
    client = signed_in_client(site, "an")
    with i18n.using("en"):
        pending = i18n._("Chờ xác nhận")
    assert pending != "Chờ xác nhận"
    words = [w for w in ("Người đăng ký", "Trạng thái", "Lịch sử trạng thái", "Thư đã gửi cho người này",
                         "Ngôn ngữ thư", "Tần suất", "Chờ xác nhận", "Đã xác nhận", "Thao tác",
                         "Cán bộ nhận tin", "Thêm người đăng ký", "Địa chỉ thư điện tử")]  # fmt: skip
    for path in (LIST, f"{LIST}/{person.id}", f"{LIST}/new", "/admin/officials"):
        page = client.get(path, params={"lang": "en"})
        assert page.status_code == 200, path
        left = [w for w in words if w in page.text]
        assert left == [], (path, left)
    assert pending in client.get(f"{LIST}/{person.id}", params={"lang": "en"}).text


def test_the_officials_come_a_hundred_a_page_with_a_residents_own_choice(site: Site) -> None:
    subscribe(site.store, "o000@thoxuan.gov.vn", frequency="weekly", at=site.clock())  # their own, first
    _officials_file(site, "".join(f'[[official]]\nemail = "o{n:03d}@thoxuan.gov.vn"\n' for n in range(105)))
    site.service.officials.check(site.clock())
    client = signed_in_client(site, "an")
    first = client.get("/admin/officials")
    assert first.text.count('<td data-label="Địa chỉ">') == 100
    assert "105 địa chỉ trong tệp." in first.text and 'href="/admin/officials?trang=2"' in first.text
    own = first.text.split("o000@thoxuan.gov.vn", 1)[1].split("</tr>", 1)[0]
    assert "Hằng tuần" in own  # kept apart while listed
    second = client.get("/admin/officials", params={"trang": "2"})
    assert second.text.count('<td data-label="Địa chỉ">') == 5
    assert client.get("/admin/officials", params={"trang": "0"}).status_code == 404


def test_a_post_without_its_csrf_field_is_403_and_names_are_escaped(site: Site) -> None:
    subscribe(site.store, "an@example.vn", name="<script>alert(1)</script>", at=site.clock())
    person = _person(site, "an@example.vn")
    assert person is not None
    client = signed_in_client(site, "an")
    listing = client.get(LIST)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing.text and "<script>" not in listing.text
    for token in (None, "forged"):
        data = {} if token is None else {"csrf_token": token}
        answer = client.post(f"{LIST}/{person.id}/unsubscribe", data=data)
        assert answer.status_code == 403
    assert _person(site, "an@example.vn") == person
    assert [a for _, a, _ in _audit(site)] == ["subscriber.list"]


def test_a_broken_officials_file_still_lists_the_stored_officials(site: Site) -> None:
    _officials_file(site, '[[official]]\nemail = "chu.tich@thoxuan.gov.vn"\nname = "Chủ tịch"\n')
    site.service.officials.check(site.clock())
    _officials_file(site, '[[official]]\nemail = "chu.tich@thoxuan.gov.vn"\ncategories = ["khong-co"]\n')
    viewer = signed_in_client(site, "cuong").get("/admin/officials")
    assert viewer.status_code == 200 and "có lỗi" in viewer.text
    assert masked_address("chu.tich@thoxuan.gov.vn") in viewer.text and "khong-co" not in viewer.text
    assert "1 địa chỉ đang được liệt kê theo lần áp dụng trước" in viewer.text
    admin = signed_in_client(site, "an").get("/admin/officials")
    assert "chu.tich@thoxuan.gov.vn" in admin.text and "Chủ tịch" in admin.text
    assert "khong-co" in admin.text  # the reason, for an admin, in <details>
    assert ("an", "subscriber.list", None) in _audit(site)
