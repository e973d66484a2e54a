"""The subscription pages under abuse, over real HTTP (uvicorn on loopback, httpx): CSRF, rate limits,
address validation, header injection, XSS, enumeration, security headers, oversized bodies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from markupsafe import escape

from syndicator.model import SubscriberStatus
from tests.smtp_server import smtp_server
from tests.subscribekit import (
    SECURITY_HEADERS,
    Site,
    csrf_field,
    has_csrf_cookie,
    header_block,
    running_site,
    without_csrf,
)

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """SQLite: these rules live in the web layer (the per-address limit runs on both databases).
    The per-IP limit is raised here, so that tests posting many forms test their own rule."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with running_site(url, tmp_path, subscribe={"per_ip_per_minute": 1000}) as running:
        yield running


@pytest.fixture
def default_site(tmp_path: Path) -> Iterator[Site]:
    """The default settings, limits included."""
    with running_site(f"sqlite:///{tmp_path / 'store.db'}", tmp_path) as running:
        yield running


def assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    for name in SECURITY_HEADERS:
        assert name in headers, f"{name} missing on {where}"
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "form-action 'self'" in policy, where
    assert "frame-ancestors 'none'" in policy and "script-src" not in policy, where
    assert headers["x-content-type-options"] == "nosniff", where
    assert headers["referrer-policy"] in ("strict-origin-when-cross-origin", "same-origin", "no-referrer")


def error_message(response: httpx.Response) -> str:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', response.text, re.S)
    assert found, response.text
    return found.group(1)


# -- CSRF -------------------------------------------------------------------------------------------


def test_every_form_refuses_a_post_without_its_csrf_token(site: Site) -> None:
    person = site.add_confirmed("chu.ho@example.vn", categories=["thong-bao"], frequency="daily")
    assert site.queue_daily_digest("tin-1") == 1
    before = site.outbox()
    browser, other = site.client(), site.client()
    own = csrf_field(browser.get("/subscribe"))
    foreign = csrf_field(other.get("/subscribe"))  # valid, but for another browser's cookie
    assert has_csrf_cookie(browser) and own != foreign
    fields = {"email": "moi@example.vn", "all": "1", "frequency": "daily"}

    refused = [
        browser.post("/subscribe", data=fields),
        browser.post("/subscribe", data={**fields, "csrf_token": ""}),
        browser.post("/subscribe", data={**fields, "csrf_token": "0" * 64}),
        browser.post("/subscribe", data={**fields, "csrf_token": foreign}),
        browser.post("/subscribe", data={**fields, "csrf_token": own[:-1] + "é"}),  # was a 500
        httpx.post(site.url + "/subscribe", data={**fields, "csrf_token": own}),  # no cookie
    ]
    preferences = f"/preferences/{site.link_token('preferences', person)}"
    unsubscribe = f"/unsubscribe/{site.link_token('unsubscribe', person)}"
    refused += [
        browser.post(preferences, data={"categories": "y-te", "frequency": "weekly", "action": "save"}),
        browser.post(preferences, data={"action": "unsubscribe", "csrf_token": foreign}),
        browser.post(unsubscribe, data={}),
        browser.post(unsubscribe, data={"csrf_token": foreign}),
        browser.post(unsubscribe, data={"List-Unsubscribe": "Yes", "csrf_token": "x"}),
    ]
    for response in refused:
        where = f"{response.request.url.path} {response.request.content!r}"
        assert response.status_code == 403, where
        assert "Phiên làm việc đã hết hạn" in response.text, where
        assert_security_headers(response)

    assert site.outbox() == before  # nothing queued, nothing cancelled
    assert site.person("moi@example.vn") is None
    unchanged = site.person("chu.ho@example.vn")
    assert unchanged is not None
    assert (unchanged.status, unchanged.categories) == (SubscriberStatus.CONFIRMED, frozenset({"thong-bao"}))

    # the same forms with their token go through
    assert browser.post("/subscribe", data={**fields, "csrf_token": own}).status_code == 200
    assert browser.post(unsubscribe, data={"csrf_token": own}).status_code == 200


# -- rate limits ------------------------------------------------------------------------------------


def test_subscribe_posts_are_limited_per_client_ip(default_site: Site) -> None:
    site = default_site
    assert site.settings.subscribe.per_ip_per_minute == 10
    client = site.client()
    for number in range(10):
        assert site.subscribe(client, f"nguoi{number}@example.vn").status_code == 200
    token = csrf_field(client.get("/subscribe"))
    limited = client.post("/subscribe", data={"csrf_token": token, "email": "nguoi10@example.vn"})
    assert limited.status_code == 429
    retry_after = int(limited.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert f"Vui lòng thử lại sau {retry_after} giây" in limited.text
    assert_security_headers(limited)
    assert site.person("nguoi10@example.vn") is None
    assert len(site.outbox()) == 10
    # limited before anything else is looked at: a bare POST is a 429 as well
    assert client.post("/subscribe").status_code == 429

    # per client: another address behind the same proxy (uvicorn trusts X-Forwarded-For from
    # loopback, as behind nginx) still gets through
    other = site.subscribe(client, "nguoi11@example.vn", headers={"x-forwarded-for": "203.0.113.9"})
    assert other.status_code == 200
    assert len(site.outbox()) == 11


@pytest.fixture
def both_site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    with running_site(database_url, tmp_path) as running:
        yield running


def test_confirmation_mails_are_limited_per_address(both_site: Site) -> None:
    site = both_site
    assert site.settings.subscribe.per_address_per_hour == 3
    client = site.client()
    start = site.clock()
    for spelling in ("ba.hoa@example.vn", "Ba.Hoa@example.vn", "BA.HOA@EXAMPLE.VN"):
        assert site.subscribe(client, spelling).status_code == 200
        site.clock.advance(timedelta(minutes=1))
    limited = site.subscribe(client, "ba.hoa@Example.vn", frequency="weekly")
    assert limited.status_code == 429
    retry_after = int(limited.headers["retry-after"])
    assert 3600 - 4 * 60 <= retry_after <= 3600 - 3 * 60 + 1  # when the first of the three is an hour old
    assert "Vui lòng thử lại sau" in limited.text
    assert_security_headers(limited)
    assert [row.kind for row in site.outbox()] == ["confirm"] * 3

    # another address is not held up
    assert site.subscribe(client, "hang.xom@example.vn").status_code == 200
    assert len(site.outbox()) == 4

    site.clock.now = start + timedelta(minutes=59, seconds=30)
    assert site.subscribe(client, "ba.hoa@example.vn").status_code == 429
    site.clock.now = start + timedelta(hours=1, seconds=1)  # the first mail is an hour old
    assert site.subscribe(client, "ba.hoa@example.vn").status_code == 200
    assert site.subscribe(client, "ba.hoa@example.vn").status_code == 429
    person = site.person("ba.hoa@example.vn")
    assert person is not None
    assert len([row for row in site.outbox() if row.subscriber_id == person.id]) == 4


# -- validation, escaping, header injection ---------------------------------------------------------

BAD_ADDRESSES = [
    ("", "Vui lòng nhập địa chỉ email."),
    ("   ", "Vui lòng nhập địa chỉ email."),
    ("khong-co-a-cong.vn", "Địa chỉ email phải có dạng ten@tenmien.vn."),
    ("@example.vn", "Địa chỉ email phải có dạng ten@tenmien.vn."),
    ("a" * 65 + "@example.vn", "Phần trước dấu @ của địa chỉ email không hợp lệ."),
    ("nguyễn@example.vn", "Phần trước dấu @ của địa chỉ email không hợp lệ."),
    ("a..b@example.vn", "Phần trước dấu @ của địa chỉ email không hợp lệ."),
    ("a@" + ".".join(["b" * 63] * 4) + ".vn", "quá dài (tối đa 254 ký tự)"),  # 260 characters
    ("a" * 300 + "@example.vn", "quá dài (tối đa 254 ký tự)"),
    ("a@-xa-.vn", "Tên miền của địa chỉ email không hợp lệ."),
    ("a@localhost", "Tên miền của địa chỉ email không hợp lệ."),
    ("a@1.2.3.4", "Tên miền của địa chỉ email không hợp lệ."),
    ("a@b.vn\r\nBcc: nan.nhan@example.org", "Địa chỉ email có ký tự không hợp lệ."),
    ("a@b.vn\nBcc: nan.nhan@example.org", "Địa chỉ email có ký tự không hợp lệ."),
    ("a@b.vn\rSubject: spam", "Địa chỉ email có ký tự không hợp lệ."),
    ("a@b.vn\x00", "Địa chỉ email có ký tự không hợp lệ."),
    ("a@b.vn\u2028Bcc: x@example.org", "Địa chỉ email có ký tự không hợp lệ."),
    ("a@b.vn,nan.nhan@example.org", "Địa chỉ email có ký tự không hợp lệ."),
    ('"><script>alert(1)</script>@x.vn', "Địa chỉ email có ký tự không hợp lệ."),
    ("<img src=x onerror=alert(1)>@x.vn", "Địa chỉ email có ký tự không hợp lệ."),
    ("Kẻ Gian <a@b.vn>", "Địa chỉ email có ký tự không hợp lệ."),
]


def test_bad_addresses_get_a_vietnamese_message_and_the_form_back_escaped(site: Site) -> None:
    client = site.client()
    for address, message in BAD_ADDRESSES:
        token = csrf_field(client.get("/subscribe"))
        response = client.post(
            "/subscribe",
            data={"csrf_token": token, "email": address, "categories": ["y-te"], "frequency": "weekly"},
        )
        assert response.status_code == 422, repr(address)
        assert message in error_message(response), repr(address)
        assert_security_headers(response)
        page = response.text
        assert '<form method="post" action="/subscribe">' in page  # shown again, as entered
        assert f'name="email" value="{escape(address)}"' in page, repr(address)
        assert re.search(r'name="categories" value="y-te" checked', page)
        assert re.search(r'name="frequency" value="weekly" checked', page)
        assert "<script" not in page and "<img" not in page
    assert site.outbox() == []
    with site.store.reading() as conn:
        from sqlalchemy import func, select

        from syndicator.store.schema import subscribers

        assert conn.execute(select(func.count()).select_from(subscribers)).scalar() == 0


def test_what_a_visitor_types_is_escaped_in_pages(site: Site) -> None:
    attacks = ['"><script>alert(1)</script>', "<img src=x onerror=alert(1)>", "'><svg onload=alert(1)>"]
    for attack in attacks:
        response = httpx.get(site.url + "/subscribe", params=[("c", attack), ("c", "thong-bao")])
        assert response.status_code == 200
        assert "<script" not in response.text and "<img" not in response.text and "<svg" not in response.text
        assert re.search(r'name="categories" value="thong-bao" checked', response.text)
        assert_security_headers(response)
    # the confirmed page shows the address it confirmed: the address syntax leaves no room for markup,
    # and what does reach a page (the 422 above) is escaped
    client = site.client()
    token = csrf_field(client.get("/subscribe"))
    odd = client.post("/subscribe", data={"csrf_token": token, "email": "a'b&c@example.vn", "all": "1"})
    assert odd.status_code == 200
    assert site.person("a'b&c@example.vn") is not None


@pytest.fixture
def mailing_site(tmp_path: Path) -> Iterator[Site]:
    with (
        smtp_server() as server,
        running_site(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, smtp=server) as running,
    ):
        yield running


def test_nothing_typed_reaches_a_mail_header(mailing_site: Site) -> None:
    site = mailing_site
    client = site.client()
    injected = "nan.nhan@example.vn\r\nBcc: ke.gian@example.org\r\nSubject: Trúng thưởng"
    token = csrf_field(client.get("/subscribe"))
    assert client.post("/subscribe", data={"csrf_token": token, "email": injected}).status_code == 422
    assert site.outbox() == []

    # surrounding blanks and line ends are trimmed; the address is what goes into To:
    accepted = client.post(
        "/subscribe",
        data={
            "csrf_token": token,
            "email": "\r\n Nan.Nhan@Example.VN \r\n",
            "categories": ["Bcc: x@y.vn\r\n"],
        },
    )
    assert accepted.status_code == 200
    assert site.deliver().sent == 1
    (received,) = site.received(1)
    assert received.recipients == ("Nan.Nhan@example.vn",)
    head = header_block(received.data)
    names = [line.split(b":", 1)[0] for line in head.split(b"\r\n") if line and not line[:1].isspace()]
    assert sorted(names) == sorted(
        [
            *(b"Date", b"Message-ID", b"To", b"From", b"Subject", b"List-Id"),
            *(b"MIME-Version", b"Content-Type", b"Content-Language"),
        ]
    )
    assert b"\r\nTo: Nan.Nhan@example.vn\r\n" in head
    assert b"Bcc" not in received.data and b"ke.gian" not in received.data
    assert all(byte < 0x80 for byte in head)  # headers are plain ASCII (RFC 2047 where needed)
    assert b"\n" not in head.replace(b"\r\n", b"")  # no bare line feed


# -- enumeration ------------------------------------------------------------------------------------


def test_the_answer_is_the_same_whether_or_not_the_address_is_known(site: Site) -> None:
    site.add_confirmed("da.co@example.vn")
    with site.client() as client:
        assert site.subscribe(client, "cho.xac.nhan@example.vn").status_code == 200
    site.add_confirmed("da.huy@example.vn")
    from syndicator.mail import choices

    gone = site.person("da.huy@example.vn")
    assert gone is not None
    choices.unsubscribe(site.store, gone.id, site.clock())

    answers = {}
    for address in ("da.co@example.vn", "cho.xac.nhan@example.vn", "da.huy@example.vn", "chua.co@example.vn"):
        with httpx.Client(base_url=site.url) as client:  # a new visitor each time
            response = site.subscribe(client, address)
        answers[address] = response
    reference = answers["chua.co@example.vn"]
    for address, response in answers.items():
        assert response.status_code == reference.status_code == 200, address
        assert without_csrf(response.text) == without_csrf(reference.text), address
        assert sorted(response.headers.keys()) == sorted(reference.headers.keys()), address

    # one browser asking for both: byte for byte the same page
    browser = site.client()
    known = site.subscribe(browser, "da.co@example.vn")
    unknown = site.subscribe(browser, "nguoi.la@example.vn")
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    # and each address got its confirmation mail queued, known or not (the same request again at
    # the same moment makes the same token: no second mail)
    rows = site.outbox()
    assert all(row.kind == "confirm" for row in rows)
    assert len(rows) == len({row.subscriber_id for row in rows}) == 5


# -- security headers, oversized bodies -------------------------------------------------------------


def test_security_headers_on_every_page(site: Site) -> None:
    person = site.add_confirmed("dan.phong@example.vn")
    client = site.client()
    preferences = f"/preferences/{site.link_token('preferences', person)}"
    unsubscribe = f"/unsubscribe/{site.link_token('unsubscribe', person)}"
    token = csrf_field(client.get("/subscribe"))
    site.subscribe(client, "xac.nhan@example.vn")
    (row,) = site.outbox()
    responses = [
        client.get("/"),
        client.get("/c/thong-bao"),
        client.get("/subscribe"),
        client.get("/subscribe?c=thong-bao"),
        client.post("/subscribe", data={"csrf_token": token, "email": "moi@example.vn"}),
        client.post("/subscribe", data={"csrf_token": token, "email": "sai"}),
        client.post("/subscribe", data={"email": "moi@example.vn"}),
        client.post("/subscribe", content=b"x" * 20_000, headers={"content-type": FORM}),
        client.get(preferences),
        client.post(preferences, data={"csrf_token": token, "all": "1", "frequency": "weekly"}),
        client.get(preferences + "x"),
        client.get(unsubscribe),
        client.get(unsubscribe + "x"),
        client.get("/confirm/khong-hop-le"),
        client.get(f"/confirm/{row.token}"),
        client.post(f"/confirm/{row.token}"),
        client.get("/khong-co-trang-nay"),
        client.post("/"),
        client.post(unsubscribe, content=b"List-Unsubscribe=One-Click", headers={"content-type": FORM}),
    ]
    site.clock.advance(timedelta(days=8))
    responses.append(client.get(f"/confirm/{row.token}"))
    statuses = sorted({response.status_code for response in responses})
    assert statuses == [200, 400, 403, 404, 405, 410, 422]
    for response in responses:
        assert_security_headers(response)


def _chunks(start: str, size: int) -> Iterator[bytes]:
    """A body sent chunked (no Content-Length): only counting tells its size."""
    yield start.encode() + b"&x="
    for _ in range(size // 4096):
        yield b"a" * 4096


def test_oversized_or_malformed_bodies_are_a_400_never_a_500(site: Site) -> None:
    person = site.add_confirmed("to.dan.pho@example.vn", categories=["thong-bao"])
    assert site.queue_daily_digest("tin-1") == 1
    before = site.outbox()
    client = site.client()
    token = csrf_field(client.get("/subscribe"))
    paths = [
        "/subscribe",
        f"/preferences/{site.link_token('preferences', person)}",
        f"/unsubscribe/{site.link_token('unsubscribe', person)}",
    ]
    # every one of these would otherwise be accepted: a valid token, a one-click body, an address
    valid = f"List-Unsubscribe=One-Click&csrf_token={token}&email=moi%40example.vn&all=1&action=unsubscribe"
    multipart = "multipart/form-data; boundary=b"
    for path in paths:
        refused = {
            "40 kB, declared": client.post(
                path, content=f"{valid}&x={'a' * 40_000}".encode(), headers={"content-type": FORM}
            ),
            "6 MB, declared": client.post(
                path, content=valid.encode() + b"&x=" * 2_000_000, headers={"content-type": FORM}
            ),
            "200 kB, chunked": client.post(
                path, content=_chunks(valid, 200_000), headers={"content-type": FORM}
            ),
            "a file": client.post(path, data={"csrf_token": token}, files={"tep": ("a.txt", b"noi dung")}),
            "500 fields": client.post(
                path,
                content=(valid + "".join(f"&f{i}=1" for i in range(500))).encode(),
                headers={"content-type": FORM},
            ),
            "no boundary": client.post(
                path, content=valid.encode(), headers={"content-type": "multipart/form-data"}
            ),
        }
        for name, response in refused.items():
            assert response.status_code == 400, (path, name)
            assert "Yêu cầu không hợp lệ" in response.text
            assert_security_headers(response)
        # bodies the form parser reads as empty: refused like any post without its token
        for body in (b"--b\r\ngarbage", b"\xff\xfe" * 100, valid.encode().replace(b"=", b"\x00")):
            for content_type in (multipart, FORM, "application/json", "text/plain"):
                response = client.post(path, content=body, headers={"content-type": content_type})
                assert response.status_code in (400, 403), (path, body[:10], content_type)
                assert_security_headers(response)
    assert site.outbox() == before
    assert site.person("moi@example.vn") is None
    unchanged = site.person("to.dan.pho@example.vn")
    assert unchanged is not None and unchanged.status is SubscriberStatus.CONFIRMED


def test_a_long_address_with_many_categories_is_a_422_not_a_500(both_site: Site) -> None:
    """The confirmation token (address and choices) is kept in outbox.token, VARCHAR(512): PostgreSQL
    refused a long one with an error, a 500. Now it is a clear message on both databases."""
    site = both_site
    client = site.client()
    longest = "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".vn"
    assert len(longest) <= 254
    every = [item.category.slug for item in site.store.categories(site.clock())]
    response = site.subscribe(client, longest, categories=every[:-1])
    assert response.status_code == 422
    assert "chọn ít chuyên mục hơn" in error_message(response)
    # a long address with every category ("all") or a few is fine
    assert site.subscribe(client, longest).status_code == 200
    assert (
        site.subscribe(client, longest.replace("a" * 64, "c" * 64), categories=every[:2]).status_code == 200
    )
    assert len(site.outbox()) == 2
