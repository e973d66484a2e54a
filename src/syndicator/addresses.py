"""Email address checks: syntax and length (RFC 5321/5322 dot-atom), with one clear message each."""

from __future__ import annotations

import re

from syndicator.i18n import _

MAX_LENGTH = 254
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


class InvalidAddress(ValueError):
    """The message is in the language being made (i18n.using): residents read it on the subscribe
    page in the page's language; operators (CLI, CSV, officials file) in the source language."""


def normalise(raw: str) -> str:
    """The address as it will be written in the To: header (domain lowercased, IDN in ASCII)."""
    address = raw.strip()
    if not address:
        raise InvalidAddress(_("Vui lòng nhập địa chỉ email."))
    if any(ord(c) < 32 or c in '\x7f<>()[],;:\\" ' for c in address):
        raise InvalidAddress(_("Địa chỉ email có ký tự không hợp lệ."))
    if len(address) > MAX_LENGTH:
        raise InvalidAddress(_("Địa chỉ email quá dài (tối đa %(max)d ký tự).") % {"max": MAX_LENGTH})
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise InvalidAddress(_("Địa chỉ email phải có dạng ten@tenmien.vn."))
    if len(local) > 64 or not _LOCAL.match(local):
        raise InvalidAddress(_("Phần trước dấu @ của địa chỉ email không hợp lệ."))
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidAddress(_("Tên miền của địa chỉ email không hợp lệ.")) from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise InvalidAddress(_("Tên miền của địa chỉ email không hợp lệ."))
    return f"{local}@{ascii_domain}"


def key(address: str) -> str:
    """One person, one row: addresses are compared without regard to case."""
    return address.casefold()
