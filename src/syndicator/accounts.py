"""Console accounts as values and rules: roles, usernames, the password policy and its hashing (Argon2id
through argon2-cffi), session ids as stored (a hash), and an audit entry. Pure: the store keeps them
(store/accounts.py, store/audit.py), `access.py` acts on them for the CLI and the console.

Passwords follow OWASP ASVS 4 (2.1): at least 12 characters, at most 128 (Argon2 hashes whatever it is
given, so a bound keeps a login's cost bounded), no composition rules, any Unicode (NFC first, so
the same password typed on two keyboards is the same password).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

USERNAME_CHARS = 64
PASSWORD_MIN = 12
PASSWORD_MAX = 128
HASHING_AT_ONCE = 4  # Argon2 at its defaults takes 64 MiB a hash: a burst of logins must not take 40 × that
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


class InvalidAccount(ValueError):
    """A username, role or password the rules refuse; the message says which rule, for an operator."""


class Role(enum.StrEnum):
    """What a console user may do; each role may do what the ones before it may."""

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank

    @property
    def sees_personal_data(self) -> bool:
        """Only an admin manages subscribers: the others see addresses masked (`masked_address`)."""
        return self is Role.ADMIN


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    role: Role
    created_at: datetime
    password_changed_at: datetime


@dataclass(frozen=True, slots=True)
class Signed:
    """A live console session: whose it is, and since when (the absolute lifetime counts from then)."""

    account: Account
    digest: str  # the stored hash of the session id, never the id itself
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change (or login) as the audit log keeps it: who, what, when, from which address."""

    at: datetime
    actor: str  # a console username, or "cli:<os user>"
    action: str  # e.g. "account.add", "login.failed"
    target: str | None = None  # what it acted on (a username, ...)
    detail: str | None = None
    address: str | None = None  # the client's IP address; None from the CLI
    id: int = 0  # given by the store


def username(raw: str) -> str:
    """The username as stored: trimmed, lower case, checked (InvalidAccount says what is wrong)."""
    name = unicodedata.normalize("NFC", raw.strip()).lower()
    if not name:
        raise InvalidAccount("the username is empty")
    if len(name) > USERNAME_CHARS:
        raise InvalidAccount(f"the username is longer than {USERNAME_CHARS} characters")
    if not _USERNAME.fullmatch(name):
        raise InvalidAccount(
            "a username is ASCII letters, digits, '.', '_' and '-', starting with a letter or digit"
        )
    return name


def role(raw: str) -> Role:
    try:
        return Role(raw.strip().lower())
    except ValueError:
        raise InvalidAccount(f"unknown role {raw!r}: one of {', '.join(r.value for r in Role)}") from None


def password(raw: str) -> str:
    """The password as hashed (NFC), or InvalidAccount naming the length rule it breaks."""
    text = unicodedata.normalize("NFC", raw)
    if len(text) < PASSWORD_MIN:
        raise InvalidAccount(f"the password is shorter than {PASSWORD_MIN} characters")
    if len(text) > PASSWORD_MAX:
        raise InvalidAccount(f"the password is longer than {PASSWORD_MAX} characters")
    return text


class Passwords:
    """Argon2id hashing with argon2-cffi's defaults (RFC 9106's second recommendation) unless given
    other parameters. `verify` never raises for a wrong password or a bad stored hash: it answers."""

    def __init__(self, hasher: PasswordHasher | None = None, at_once: int = HASHING_AT_ONCE) -> None:
        self.hasher = hasher or PasswordHasher()
        self._slots = threading.BoundedSemaphore(at_once)  # the web's thread pool is larger
        # verified when the username is unknown, so that an unknown user costs the same as a wrong
        # password (login timing must not tell who has an account)
        self._dummy = self.hasher.hash("not a password of anyone: the timing twin of a real check")

    def hash(self, text: str) -> str:
        with self._slots:
            return self.hasher.hash(text)

    def verify(self, stored: str | None, text: str) -> bool:
        """Whether `text` is the password of `stored`; None (no such user) checks a dummy, and fails."""
        try:
            with self._slots:
                matched = self.hasher.verify(stored or self._dummy, text)
        except (VerificationError, InvalidHashError):
            return False
        return bool(matched) and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)


def digest(session_id: str) -> str:
    """What the store keeps of a session id: its SHA-256 (the id is 256 random bits: no salt needed)."""
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


def keyed(secret: str, purpose: str, text: str) -> str:
    """An HMAC of `text` (a username, an address), so stored login failures name no one in clear."""
    return hmac.new(secret.encode(), f"{purpose}\n{text}".encode(), hashlib.sha256).hexdigest()


def masked_address(email: str) -> str:
    """An address as a role without personal data sees it (issue 14: `ng***@gmail.com`): the first two
    characters of a local part of six or more, one of a shorter one, none of a single character (so
    a mask never shows a whole local part, nor most of it), then `***`, and the domain."""
    local, at, domain = email.rpartition("@")
    if not at:
        return "***"
    shown = local[:2] if len(local) >= 6 else local[:1] if len(local) > 1 else ""
    return f"{shown}***@{domain}"
