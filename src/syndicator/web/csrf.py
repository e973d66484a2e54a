"""CSRF protection for our forms: a random cookie (a nonce) and a hidden field that is its HMAC.

A forged cross-site POST can carry the browser's cookie but cannot read it to compute the field;
the cookie is SameSite=Strict as well. (The RFC 8058 one-click unsubscribe POST is exempt by design.)

The public pages (subscription, preferences) use the double-submit cookie `syndicator_csrf` on path /
(`PUBLIC`). The console keeps a jar of its own (`console_jar`): its cookie is `__Host-` prefixed on an
https site (so no sibling host can plant it) and on path /admin otherwise, its fields are made for
another purpose, and each is bound to what it is for (`bound_to`): the login form's to `PRE_SESSION`,
every other console form's to the session's stored digest. So a field of a public form, of the login
form or of another session is refused by a console route.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "syndicator_csrf"
CONSOLE_COOKIE = "syndicator_admin_csrf"
CONSOLE_SECURE_COOKIE = "__Host-syndicator_admin_csrf"  # RFC 6265bis: Secure, no Domain, Path=/
FIELD = "csrf_token"
PRE_SESSION = "pre-session"  # what the console's login form is bound to (a session digest is hex)
_NONCE_CHARS = 43  # secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Jar:
    """Where a nonce is kept (the cookie's name and path) and what its fields are made for."""

    cookie: str
    path: str
    purpose: str


PUBLIC = Jar(COOKIE, "/", "csrf")


def console_jar(secure: bool) -> Jar:
    """The console's: `__Host-` on path / on an https site (the prefix requires it), else path /admin."""
    if secure:
        return Jar(CONSOLE_SECURE_COOKIE, "/", "csrf-console")
    return Jar(CONSOLE_COOKIE, "/admin", "csrf-console")


def _field_for(secret: str, nonce: str, jar: Jar, bound_to: str) -> str:
    message = f"{jar.purpose}\n{nonce}" + (f"\n{bound_to}" if bound_to else "")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def token_for(
    request: Request, secret: str, *, jar: Jar = PUBLIC, bound_to: str = ""
) -> tuple[str, str | None]:
    """(hidden field value, new cookie value or None when the browser already has one)."""
    nonce = request.cookies.get(jar.cookie)
    if nonce and len(nonce) == _NONCE_CHARS:
        return _field_for(secret, nonce, jar, bound_to), None
    nonce = new_nonce()
    return _field_for(secret, nonce, jar, bound_to), nonce


def set_cookie(response: Response, nonce: str | None, secure: bool, *, jar: Jar = PUBLIC) -> None:
    if nonce is not None:
        response.set_cookie(jar.cookie, nonce, httponly=True, samesite="strict", secure=secure, path=jar.path)


def valid(
    request: Request, secret: str, submitted: str | None, *, jar: Jar = PUBLIC, bound_to: str = ""
) -> bool:
    nonce = request.cookies.get(jar.cookie)
    if not nonce or not submitted:
        return False
    # compare_digest raises TypeError on non-ASCII text: a forged field must be a 403, not a 500
    return submitted.isascii() and hmac.compare_digest(_field_for(secret, nonce, jar, bound_to), submitted)
