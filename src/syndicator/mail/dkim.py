"""DKIM signing (RFC 6376) with the key of `mail.dkim_key_file`, read and checked when settings load
(syndicator/keyfiles.py, shared with the settings check)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import dkim

from syndicator.keyfiles import RECOMMENDED_KEY_BITS, key_bits, load_key

log = logging.getLogger(__name__)

# The headers a signature covers when the mail has them: the unsubscribe headers included, so that
# nobody on the way can point a resident's one-click unsubscribe elsewhere.
SIGNED_HEADERS = (
    b"from", b"to", b"subject", b"date", b"message-id", b"list-id", b"list-unsubscribe",
    b"list-unsubscribe-post", b"mime-version", b"content-type", b"reply-to",
)  # fmt: skip


def signer(domain: str, selector: str, key_file: Path) -> Callable[[bytes], bytes]:
    """A function that prepends the DKIM-Signature header to a CRLF message."""
    key = load_key(key_file)  # under 1024 bits it is refused there (RFC 8301)
    bits = key_bits(key) or 0
    if bits < RECOMMENDED_KEY_BITS:  # still accepted by receivers, but RFC 8301 says signers should not
        log.warning(
            "DKIM key %s has %d bits: receivers accept it, but %d bits or more are recommended (RFC 8301)",
            key_file,
            bits,
            RECOMMENDED_KEY_BITS,
        )
    selector_bytes, domain_bytes = selector.encode(), domain.encode()

    def sign(message: bytes) -> bytes:
        head = b"\n" + message.lower().split(b"\r\n\r\n", 1)[0]
        present = [h for h in SIGNED_HEADERS if b"\n" + h + b":" in head]
        signature: bytes = dkim.sign(message, selector_bytes, domain_bytes, key, include_headers=present)
        return signature + message

    return sign
