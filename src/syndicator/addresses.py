"""Email address checks: syntax and length (RFC 5321/5322 dot-atom), with one clear message each."""

from __future__ import annotations

import re
from functools import lru_cache

from syndicator.i18n import _

MAX_LENGTH = 254
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>()\[\],;:\\" ]')


class InvalidAddress(ValueError):
    """The message is in the language being made (i18n.using): residents read it on the subscribe
    page in the page's language; operators (CLI, CSV, officials file) in the source language."""


def normalise(raw: str) -> str:
    """The address as it will be written in the To: header (domain lowercased, IDN in ASCII)."""
    address = raw.strip()
    if not address:
        raise InvalidAddress(_("Vui lòng nhập địa chỉ email."))
    if _FORBIDDEN.search(address):
        raise InvalidAddress(_("Địa chỉ email có ký tự không hợp lệ."))
    if len(address) > MAX_LENGTH:
        raise InvalidAddress(_("Địa chỉ email quá dài (tối đa %(max)d ký tự).") % {"max": MAX_LENGTH})
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise InvalidAddress(_("Địa chỉ email phải có dạng ten@tenmien.vn."))
    if len(local) > 64 or not _LOCAL.match(local):
        raise InvalidAddress(_("Phần trước dấu @ của địa chỉ email không hợp lệ."))
    ascii_domain = _ascii_domain(domain)
    if ascii_domain is None:
        raise InvalidAddress(_("Tên miền của địa chỉ email không hợp lệ."))
    return f"{local}@{ascii_domain}"


@lru_cache(maxsize=4096)
def _ascii_domain(domain: str) -> str | None:
    """The domain lowercased, in ASCII (IDNA); None when it is no domain. Cached: a list of 100,000
    addresses has a few hundred domains, and IDNA costs more than everything else checked."""
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        return None
    return ascii_domain


def key(address: str) -> str:
    """One person, one row: addresses are compared without regard to case."""
    return address.casefold()
