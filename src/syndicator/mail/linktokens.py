"""The tokens in a subscriber's preferences and unsubscribe links (signed by tokens.py).

They name the subscriber and a check of the address: a link stops working once its address is
forgotten and its row reused. No expiry: List-Unsubscribe must work for old mails too."""

from __future__ import annotations

import hashlib

from syndicator import tokens

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"


def email_check(email: str) -> str:
    return hashlib.sha256(email.casefold().encode()).hexdigest()[:10]


def subscriber_token(secret: str, purpose: str, subscriber_id: int, email: str) -> str:
    return tokens.sign(secret, purpose, {"s": subscriber_id, "h": email_check(email)})


def subscriber_tokens(secret: str, subscriber_id: int, email: str) -> tuple[str, str]:
    """The unsubscribe and preferences tokens of one subscriber (each mail carries both), the same as
    subscriber_token's."""
    unsubscribe, preferences = tokens.sign_for(
        secret, (UNSUBSCRIBE, PREFERENCES), {"s": subscriber_id, "h": email_check(email)}
    )
    return unsubscribe, preferences


def subscriber_from_token(secret: str, purpose: str, token: str) -> tuple[int, str]:
    """(subscriber id, address check) of a link. Raises tokens.BadToken."""
    data = tokens.verify(secret, purpose, token)
    if not isinstance(data.get("s"), int) or not isinstance(data.get("h"), str):
        raise tokens.BadToken("invalid token")
    return data["s"], data["h"]
