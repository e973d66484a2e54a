"""DKIM signing (RFC 6376) with the key of `mail.dkim_key_file`, read and checked when settings load
(syndicator/keyfiles.py, shared with the settings check)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dkim

from syndicator.keyfiles import load_key

# The headers a signature covers when the mail has them: the unsubscribe headers included, so that
# nobody on the way can point a resident's one-click unsubscribe elsewhere.
SIGNED_HEADERS = (
    b"from", b"to", b"subject", b"date", b"message-id", b"list-id", b"list-unsubscribe",
    b"list-unsubscribe-post", b"mime-version", b"content-type", b"reply-to",
)  # fmt: skip


def signer(domain: str, selector: str, key_file: Path) -> Callable[[bytes], bytes]:
    """A function that prepends the DKIM-Signature header to a CRLF message."""
    key = load_key(key_file)
    selector_bytes, domain_bytes = selector.encode(), domain.encode()

    def sign(message: bytes) -> bytes:
        head = b"\n" + message.lower().split(b"\r\n\r\n", 1)[0]
        present = [h for h in SIGNED_HEADERS if b"\n" + h + b":" in head]
        signature: bytes = dkim.sign(message, selector_bytes, domain_bytes, key, include_headers=present)
        return signature + message

    return sign
