"""DKIM private keys read and checked: below both the settings (which check the key at start) and
mail/dkim.py (which signs with it), so a key that passes the start check is exactly what dkimpy gets.

A file that is not an RSA private key must stop the program at start, not fail every mail with a
traceback and its retries.
"""

from __future__ import annotations

from pathlib import Path

import dkim.crypto


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
