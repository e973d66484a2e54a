"""Email address checks: syntax and length (RFC 5321/5322 dot-atom), with one clear message each."""

from __future__ import annotations

import re

MAX_LENGTH = 254
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


class InvalidAddress(ValueError):
    """The message is Vietnamese: it is shown to the person who typed the address."""


def normalise(raw: str) -> str:
    """The address as it will be written in the To: header (domain lowercased, IDN in ASCII)."""
    address = raw.strip()
    if not address:
        raise InvalidAddress("Vui lòng nhập địa chỉ email.")
    if any(ord(c) < 32 or c in '\x7f<>()[],;:\\" ' for c in address):
        raise InvalidAddress("Địa chỉ email có ký tự không hợp lệ.")
    if len(address) > MAX_LENGTH:
        raise InvalidAddress(f"Địa chỉ email quá dài (tối đa {MAX_LENGTH} ký tự).")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise InvalidAddress("Địa chỉ email phải có dạng ten@tenmien.vn.")
    if len(local) > 64 or not _LOCAL.match(local):
        raise InvalidAddress("Phần trước dấu @ của địa chỉ email không hợp lệ.")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidAddress("Tên miền của địa chỉ email không hợp lệ.") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise InvalidAddress("Tên miền của địa chỉ email không hợp lệ.")
    return f"{local}@{ascii_domain}"


def key(address: str) -> str:
    """One person, one row: addresses are compared without regard to case."""
    return address.casefold()
