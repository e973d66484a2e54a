"""MIME messages built once per distinct content, then finished per recipient with a few byte edits.

Python's email package needs ~3 ms to build a message: 20,000 subscribers would cost a minute. So a
body is encoded once (quoted-printable, with placeholder slots alone at the start of an encoded line)
and each recipient's copy only fills the slots and prepends its own headers (To, Date, Message-ID,
List-Unsubscribe). The result is an ordinary RFC 5322 message; DKIM signs it last.
"""

from __future__ import annotations

import base64
import functools
import quopri
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, make_msgid

SLOT = re.compile(r"(@@[A-Z_]+@@)")
_SLOT_BYTES = re.compile(rb"(@@[A-Z_]+@@)")
UNSUBSCRIBE_SLOT = "@@UNSUBSCRIBE_URL@@"
PREFERENCES_SLOT = "@@PREFERENCES_URL@@"
CONFIRM_SLOT = "@@CONFIRM_URL@@"
TOTAL_SLOT = "@@TOTAL@@"  # a digest's count as a bare number: frames stored before 0012 (legacy)
COUNT_SLOT = "@@COUNT@@"  # a digest's count with its noun, in the frame's language ("3 new articles")
COUNT = "{count}"  # the same in a digest frame's subject ("{total}" in one stored before 0012)
PARTS_TEXT_SLOT = "@@PARTS_TEXT@@"
PARTS_HTML_SLOT = "@@PARTS_HTML@@"
_CRLF = b"\r\n"
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")  # RFC 3282's Language-Tag


@dataclass(frozen=True, slots=True)
class Content:
    subject: str
    text: str
    html: str


def _qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends, lines of at most 76 characters, none starting with a dot."""
    encoded = quopri.encodestring(text.replace("\r\n", "\n").encode("utf-8"))
    return no_leading_dots(encoded.replace(b"\n", _CRLF))


def no_leading_dots(encoded: bytes) -> bytes:
    """Quoted-printable where no line starts with a dot: a leading dot becomes `=2E` on a line of its
    own (then a soft break), which decodes to the same text.

    SMTP would otherwise have to dot-stuff every copy (RFC 5321 4.5.2): a scan of each 30 KB message
    that cost more than writing it. Our headers never start with a dot either, so the messages built
    here go as they are (`dot_safe`)."""
    if encoded.startswith(b"."):
        encoded = b"=2E=" + _CRLF + encoded[1:]
    while b"\n." in encoded:  # again: the rest of such a line may start with another dot
        encoded = encoded.replace(b"\n.", b"\n=2E=" + _CRLF)
    return encoded


def _qp_with_slots(text: str) -> bytes:
    out = bytearray()
    for part in SLOT.split(text):
        if not part:
            continue
        if SLOT.fullmatch(part):
            # a slot starts a line and ends with a soft break, so any fill can be wrapped freely
            out += part.encode("ascii") + b"=" + _CRLF
            continue
        encoded = _qp(part)
        out += encoded
        if not encoded.endswith(_CRLF):
            out += b"=" + _CRLF
    if not out.endswith(_CRLF):
        out += _CRLF
    return bytes(out)


def encode_part(text: str) -> bytes:
    """A piece of body, encoded to be joined into a template's slot (it ends with a line break)."""
    if not text:
        return b""
    return _qp_with_slots(text)


@functools.lru_cache(maxsize=1024)
def header(name: str, value: str) -> bytes:
    """One header, RFC 2047-encoded where it is not ASCII, folded under 78 characters.

    Cached: a run's subjects differ only by their count, and the email package takes ~50 us each."""
    encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}".encode("ascii") + _CRLF


def build_template(
    content: Content,
    *,
    from_name: str,
    from_address: str,
    list_id: str,
    reply_to: str | None = None,
    one_click: bool = True,
    subject_per_recipient: bool = False,
    language: str | None = None,
) -> bytes:
    """Headers shared by every recipient, then the multipart body with slots to fill.

    With `subject_per_recipient` the Subject is left out: `finish` writes it (a digest's subject
    counts the articles each recipient gets). `language`: the language the mail is written in (a
    BCP 47 tag, "vi", "en"), said in Content-Language (RFC 3282), once per body.
    """
    boundary = "=_syndicator_" + make_msgid(domain="b").strip("<>").replace("@", "_").replace(".", "_")
    lines = bytearray()
    lines += f"From: {formataddr((from_name, from_address), charset='utf-8')}".encode("ascii") + _CRLF
    if reply_to:
        lines += f"Reply-To: {reply_to}".encode("ascii") + _CRLF
    if not subject_per_recipient:
        lines += header("Subject", content.subject)
    # RFC 2919: only the phrase may be encoded; the <identifier> stays literal for filters to match
    phrase, bracket, identifier = list_id.rpartition("<")
    if bracket and phrase.strip():
        lines += header("List-Id", phrase.strip()) + f" <{identifier}".encode("ascii") + _CRLF  # folded
    else:
        lines += header("List-Id", list_id)
    if one_click:
        lines += b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" + _CRLF
    if language:
        if not _LANGUAGE_TAG.fullmatch(language):
            raise ValueError(f"not a language tag: {language!r}")
        lines += f"Content-Language: {language}".encode("ascii") + _CRLF
    lines += b"MIME-Version: 1.0" + _CRLF
    lines += f'Content-Type: multipart/alternative; boundary="{boundary}"'.encode("ascii") + _CRLF
    lines += _CRLF
    lines += f"--{boundary}".encode("ascii") + _CRLF
    lines += b'Content-Type: text/plain; charset="utf-8"' + _CRLF
    lines += b"Content-Transfer-Encoding: quoted-printable" + _CRLF + _CRLF
    lines += _qp_with_slots(content.text)
    lines += f"--{boundary}".encode("ascii") + _CRLF
    lines += b'Content-Type: text/html; charset="utf-8"' + _CRLF
    lines += b"Content-Transfer-Encoding: quoted-printable" + _CRLF + _CRLF
    lines += _qp_with_slots(content.html)
    lines += f"--{boundary}--".encode("ascii") + _CRLF
    return bytes(lines)


@dataclass(frozen=True, slots=True)
class Template:
    """A stored template cut at its slots once, so that each recipient's copy is a single join."""

    pieces: tuple[bytes, ...]  # literal, slot, literal, slot, ..., literal

    @classmethod
    def parse(cls, template: bytes) -> Template:
        # no_leading_dots again: a template stored by an older version may have such lines
        return cls(tuple(_SLOT_BYTES.split(no_leading_dots(template))))


# RFC 2047 encoded-words hold at most 75 characters: 45 bytes of UTF-8 make 60 of base64
_WORD_BYTES = 45


def address(name: str | None, email: str) -> str:
    """`Name <email>` as formataddr(charset="utf-8") writes it, without the email package's cost
    (~40 us per recipient): an ASCII name is quoted if needed, any other goes in base64 words."""
    if not name:
        return email
    if "\r" in name or "\n" in name:  # names are cleaned where they come in; a header must stay one
        name = " ".join(name.split())
    if name.isascii():
        return formataddr((name, email))
    words: list[str] = []
    chunk = ""
    for char in name:
        if len((chunk + char).encode()) > _WORD_BYTES:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    # folded between words: a line stays under 78 characters however long the name
    lines = [f"=?utf-8?b?{base64.b64encode(w.encode()).decode('ascii')}?=" for w in words]
    if len(lines[-1]) + len(email) + 3 > 72:
        lines.append(f"<{email}>")
    else:
        lines[-1] += f" <{email}>"
    return "\r\n ".join(lines)


@functools.lru_cache(maxsize=8)
def _date(date: datetime) -> bytes:
    return f"Date: {format_datetime(date)}".encode("ascii") + _CRLF


def finish(
    template: Template,
    *,
    to_address: str,
    to_name: str | None,
    message_id: str,
    date: datetime,
    slots: Mapping[str, str],
    list_unsubscribe: str | None,
    subject: str | None = None,
    encoded_slots: Mapping[str, bytes] | None = None,
) -> bytes:
    """The recipient's copy: their headers first, then the shared template with the slots filled.

    `slots` take text (encoded here); `encoded_slots` take pieces already encoded by `encode_part`.
    A slot with no value is left as it is.
    """
    out: list[bytes] = []
    if subject is not None:
        out.append(header("Subject", subject))
    out.append(_date(date.replace(microsecond=0)))
    out.append(f"Message-ID: {message_id}".encode("ascii") + _CRLF)
    out.append(f"To: {address(to_name, to_address)}".encode("ascii") + _CRLF)
    if list_unsubscribe:
        out.append(f"List-Unsubscribe: <{list_unsubscribe}>".encode("ascii") + _CRLF)
    fills: dict[bytes, bytes] = {
        slot.encode("ascii"): _qp(value).rstrip(b"\r\n") for slot, value in slots.items()
    }
    for slot, encoded in (encoded_slots or {}).items():
        fills[slot.encode("ascii")] = encoded.removesuffix(b"=\r\n")
    pieces = template.pieces
    for index, piece in enumerate(pieces):
        out.append(piece if index % 2 == 0 else fills.get(piece, piece))
    return b"".join(out)
