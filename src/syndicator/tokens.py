"""Signed, tamper-proof tokens for links in mails (unsubscribe, preferences, confirmation).

payload (compact JSON) . HMAC-SHA256 over purpose + payload, keyed with the secret key; base64url.
A token made for one purpose is refused for another. Expiry is part of the payload where it matters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any


class BadToken(Exception):
    """Tampered, malformed, for another purpose, or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, purpose: str, payload: str) -> str:
    # hmac.digest: OpenSSL's one-shot HMAC, the same digest as hmac.new(...).digest() without the
    # Python object (mail delivery signs two links per recipient)
    digest = hmac.digest(secret.encode(), f"{purpose}\n{payload}".encode(), hashlib.sha256)
    return _b64(digest[:18])


def sign(secret: str, purpose: str, data: dict[str, Any], *, expires: datetime | None = None) -> str:
    return sign_for(secret, (purpose,), data, expires=expires)[0]


def sign_for(
    secret: str, purposes: tuple[str, ...], data: dict[str, Any], *, expires: datetime | None = None
) -> tuple[str, ...]:
    """The same data signed for each of `purposes` (one token each): the payload is encoded once."""
    body = dict(data)
    if expires is not None:
        body["exp"] = int(expires.timestamp())
    payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    return tuple(f"{payload}.{_mac(secret, purpose, payload)}" for purpose in purposes)


def verify(secret: str, purpose: str, token: str, *, now: datetime | None = None) -> dict[str, Any]:
    if not token.isascii():  # hmac.compare_digest raises TypeError on non-ASCII text
        raise BadToken("invalid token")
    payload, dot, mac = token.partition(".")
    if not dot or not payload or not hmac.compare_digest(mac, _mac(secret, purpose, payload)):
        raise BadToken("invalid token")
    try:
        data = json.loads(_unb64(payload))
    except (ValueError, UnicodeDecodeError):
        raise BadToken("invalid token") from None
    if not isinstance(data, dict):
        raise BadToken("invalid token")
    if "exp" in data and (now is None or now.timestamp() > data["exp"]):
        raise BadToken("expired token")
    return data
