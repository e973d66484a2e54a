"""DKIM private keys read and checked: below both the settings (which check the key at start) and
mail/dkim.py (which signs with it), so a key that passes the start check is exactly what dkimpy gets.

A file that is not an RSA private key must stop the program at start, not fail every mail with a
traceback and its retries. The file is read through syndicator/files.py (a leaf module importing nothing
of ours): only a regular file, never more than MAX_KEY_BYTES, so a folder, a FIFO or /dev/zero named
by mistake is refused with its true reason instead of blocking the start or filling the memory.
"""

from __future__ import annotations

from pathlib import Path

import dkim.crypto

from syndicator.files import Refused, Source, read_whole

# An 8192-bit RSA key in PEM is about 6.5 kB; anything much larger is not a key.
MAX_KEY_BYTES = 64 * 1024
# RFC 8301 3.2: verifiers must not accept signatures made with RSA keys under 1024 bits, and signers
# should use 2048 bits or more (mail/dkim.py warns below that).
MIN_KEY_BITS = 1024
RECOMMENDED_KEY_BITS = 2048


def load_key(path: Path) -> bytes:
    """The key file's PEM text, once it parses as an RSA private key (PKCS#1 or unencrypted PKCS#8)
    of at least MIN_KEY_BITS bits.

    Raises ValueError saying what is wrong, in one line.
    """
    try:
        data = read_whole(Source(path), MAX_KEY_BYTES)  # a link the operator made is followed
    except Refused as refused:
        raise ValueError(f"{path}: {refused.reason}") from None
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
    # dkimpy finds the key between lines that end in "\n": a key saved with CRLF would fail every send
    pem = data.replace(b"\r\n", b"\n")
    bits = key_bits(pem)
    if bits is None:
        raise ValueError(
            f"{path} is not a PEM RSA private key (BEGIN RSA PRIVATE KEY or unencrypted BEGIN PRIVATE KEY)"
        )
    if bits < MIN_KEY_BITS:
        raise ValueError(
            f"{path} holds a {bits}-bit RSA key: receivers ignore DKIM signatures made with keys under "
            f"{MIN_KEY_BITS} bits (RFC 8301); use a {RECOMMENDED_KEY_BITS}-bit key"
        )
    return pem


def key_bits(pem: bytes) -> int | None:
    """The modulus size of a PEM RSA private key as dkimpy reads it; None when it reads no key."""
    try:
        key = dkim.crypto.parse_pem_private_key(pem)
        modulus = key["modulus"]
    except Exception:  # noqa: BLE001 - dkimpy's parser raises several kinds on foreign input
        return None
    return modulus.bit_length() if isinstance(modulus, int) else None
