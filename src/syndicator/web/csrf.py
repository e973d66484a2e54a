"""CSRF protection for our forms: a random cookie and a hidden field that is its HMAC.

A forged cross-site POST can carry the browser's cookie but cannot read it to compute the field;
the cookie is SameSite=Strict as well. (The RFC 8058 one-click unsubscribe POST is exempt by design.)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "syndicator_csrf"
FIELD = "csrf_token"


def _field_for(secret: str, nonce: str) -> str:
    return hmac.new(secret.encode(), f"csrf\n{nonce}".encode(), hashlib.sha256).hexdigest()


def token_for(request: Request, secret: str) -> tuple[str, str | None]:
    """(hidden field value, new cookie value or None when the browser already has one)."""
    nonce = request.cookies.get(COOKIE)
    if nonce and len(nonce) == 43:
        return _field_for(secret, nonce), None
    nonce = secrets.token_urlsafe(32)
    return _field_for(secret, nonce), nonce


def set_cookie(response: Response, nonce: str | None, secure: bool) -> None:
    if nonce is not None:
        response.set_cookie(COOKIE, nonce, httponly=True, samesite="strict", secure=secure, path="/")


def valid(request: Request, secret: str, submitted: str | None) -> bool:
    nonce = request.cookies.get(COOKIE)
    if not nonce or not submitted:
        return False
    # compare_digest raises TypeError on non-ASCII text: a forged field must be a 403, not a 500
    return submitted.isascii() and hmac.compare_digest(_field_for(secret, nonce), submitted)
