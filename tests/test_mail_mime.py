"""The MIME messages built once and finished per recipient (syndicator.mail.mime): whatever the text,
a mail client reads back what was written, and no line starts with a dot (SMTP sends them unstuffed).
"""

from __future__ import annotations

import email
import email.utils
import quopri
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicator.mail.mime import (
    PARTS_TEXT_SLOT,
    UNSUBSCRIBE_SLOT,
    Content,
    Template,
    address,
    build_template,
    encode_part,
    finish,
    no_leading_dots,
)

# dots and line breaks often, so that lines starting with dots (and lines of only a dot) come up
TEXT = st.text(alphabet=st.sampled_from([".", "\n", " ", "=", "a", "ư", "Đ", "\t", "@"]), max_size=400)
URL_TAIL = st.text(alphabet=st.sampled_from([".", "a", "-", "_", "="]), max_size=200)


def _message(text: str, html: str, part: str, url: str, name: str | None) -> EmailMessage:
    template = build_template(
        Content("Bản tin: {total} tin mới", f"{text}\n{PARTS_TEXT_SLOT}\n{UNSUBSCRIBE_SLOT}", html),
        from_name="Cổng TTĐT huyện Thọ Xuân",
        from_address="bantin@thoxuan.thanhhoa.gov.vn",
        list_id="Bản tin <bantin.thoxuan.thanhhoa.gov.vn>",
        subject_per_recipient=True,
    )
    raw = finish(
        Template.parse(template),
        to_address="nguoi.dan@xa.test",
        to_name=name,
        message_id="<1.abc@rss.test>",
        date=datetime(2021, 1, 7, 6, 30, tzinfo=UTC),
        slots={UNSUBSCRIBE_SLOT: url},
        list_unsubscribe=url,
        subject="Bản tin: 3 tin mới",
        encoded_slots={PARTS_TEXT_SLOT: encode_part(part)},
    )
    lines = raw.split(b"\r\n")
    assert not [line for line in lines if line.startswith(b".")]
    assert all(len(line) <= 998 for line in lines)  # RFC 5322's limit
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@settings(max_examples=200, deadline=None)
@given(TEXT, TEXT, TEXT, URL_TAIL)
def test_any_text_reads_back_and_no_line_starts_with_a_dot(
    text: str, html: str, part: str, tail: str
) -> None:
    url = "https://rss.thoxuan.example/unsubscribe/" + tail
    message = _message(text, html, part, url, None)
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content().replace("\r\n", "\n") == f"{text}\n{part}\n{url}"
    assert rich.get_content().replace("\r\n", "\n").rstrip("\n") == html.rstrip("\n")


def test_quoted_printable_lines_stay_within_76_characters() -> None:
    text = ("." * 80 + "\n" + "ư." * 50 + "\n.\n..\n") * 3
    encoded = encode_part(text)
    assert max(len(line) for line in encoded.split(b"\r\n")) <= 76
    assert not [line for line in encoded.split(b"\r\n") if line.startswith(b".")]
    assert quopri.decodestring(encoded.replace(b"\r\n", b"\n")).decode() == text


def test_a_template_stored_with_leading_dots_is_made_safe() -> None:
    stored = b"Subject: x\r\n\r\n.hidden=\r\n\r\n.\r\n..two\r\n"
    joined = b"".join(Template.parse(stored).pieces)
    assert b"\n." not in joined
    assert (
        quopri.decodestring(joined.split(b"\r\n\r\n", 1)[1].replace(b"\r\n", b"\n")) == b".hidden\n.\n..two\n"
    )
    assert no_leading_dots(b"plain\r\nlines\r\n") == b"plain\r\nlines\r\n"


def test_addresses_read_back() -> None:
    names = [
        None,
        "Nguyễn Văn A",
        "Trần Thị Bích Ngọc, phòng Văn hóa - Thông tin huyện Thọ Xuân, tỉnh Thanh Hóa",
        'Smith, "J." <x>',
        "Ban chỉ huy Quân sự",
        "Người\r\nBcc: ke.gian@example.vn",  # never a second header
    ]
    for name in names:
        written = address(name, "nguoi.dan@xa.test")
        assert written.isascii()
        assert all(len(line) <= 78 - len("To: ") for line in written.split("\r\n"))
        assert "\nBcc" not in written
        name = " ".join(name.split()) if name else name
        # decoded as RFC 2047 says (the space between encoded words is not text); Python's newer
        # header parser keeps it, mail clients do not
        display, mailbox = email.utils.parseaddr(written.replace("\r\n ", " "))
        assert (str(make_header(decode_header(display))), mailbox) == (name or "", "nguoi.dan@xa.test")


def test_the_language_of_a_body_is_said_once_in_content_language() -> None:
    """RFC 3282: a mail says the language it is written in. The header belongs to the body built once
    (shared by every recipient), so a recipient's copy holds it exactly once."""
    template = Template.parse(
        build_template(
            Content("Digest", "text", "<p>html</p>"),
            from_name="Portal",
            from_address="news@portal.test",
            list_id="Digest <ban-tin.portal.test>",
            language="en",
        )
    )
    for name, address_ in (("An", "an@xa.test"), ("Bình", "binh@xa.test")):
        raw = finish(
            template,
            to_address=address_,
            to_name=name,
            message_id="<1.abc@rss.test>",
            date=datetime(2021, 1, 7, 6, 30, tzinfo=UTC),
            slots={},
            list_unsubscribe=None,
        )
        parsed = email.message_from_bytes(raw, policy=policy.default)
        assert parsed.get_all("Content-Language") == ["en"]
        assert raw.count(b"Content-Language:") == 1
    no_language = build_template(
        Content("s", "t", "h"), from_name="P", from_address="n@p.test", list_id="L <l.p.test>"
    )
    assert b"Content-Language" not in no_language


def test_a_language_that_is_no_tag_is_refused() -> None:
    with pytest.raises(ValueError, match="not a language tag"):
        build_template(
            Content("s", "t", "h"),
            from_name="P",
            from_address="n@p.test",
            list_id="L <l.p.test>",
            language="en\r\nBcc: x@evil.test",
        )
