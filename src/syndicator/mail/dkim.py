"""DKIM signing (RFC 6376) with the key of `mail.dkim_key_file`, read and checked when settings load.

The settings check and the sender share `load_key`, so a key that passes the start check is exactly
what dkimpy will be given at every send: a file that is not an RSA private key stops the program at
start instead of failing every mail with a traceback and its retries.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dkim
import dkim.crypto

# The headers a signature covers when the mail has them: the unsubscribe headers included, so that
# nobody on the way can point a resident's one-click unsubscribe elsewhere.
SIGNED_HEADERS = (
    b"from", b"to", b"subject", b"date", b"message-id", b"list-id", b"list-unsubscribe",
    b"list-unsubscribe-post", b"mime-version", b"content-type", b"reply-to",
)  # fmt: skip


def load_key(path: Path) -> bytes:
    """The key file's PEM text, once it parses as an RSA private key (PKCS#1 or unencrypted PKCS#8).

    Raises ValueError saying what is wrong, in one line.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    # dkimpy finds the key between lines that end in "\n": a key saved with CRLF would fail every send
    pem = data.replace(b"\r\n", b"\n")
    try:
        dkim.crypto.parse_pem_private_key(pem)
    except Exception:  # noqa: BLE001 - dkimpy's parser raises several kinds on foreign input
        raise ValueError(
            f"{path} is not a PEM RSA private key (BEGIN RSA PRIVATE KEY or unencrypted BEGIN PRIVATE KEY)"
        ) from None
    return pem


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
