"""Input shown back to an operator (file names, fields of a bad record) as text a terminal only displays.

A file name or a CSV cell is chosen by whoever wrote it: raw, an escape sequence could recolour,
retitle or clear the operator's terminal, a bidi control could show a name reversed, a newline could
forge a second report line. Each such character becomes a visible escape like `\\x1b` instead.
"""

from __future__ import annotations


def _escape(code: int) -> str:
    if code <= 0xFF:
        return {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}.get(code, f"\\x{code:02x}")
    return f"\\u{code:04x}"


_CONTROLS = [
    *range(0x00, 0x20),  # C0
    *range(0x7F, 0xA0),  # DEL and C1 (0x9b alone starts an escape sequence in some terminals)
    0x061C,  # Arabic letter mark
    0x200E,  # left-to-right and right-to-left marks
    0x200F,
    0x2028,  # line and paragraph separators: a new line in some terminals and logs
    0x2029,
    *range(0x202A, 0x202F),  # bidi embeddings and overrides
    *range(0x2066, 0x206A),  # bidi isolates
    *range(0xD800, 0xE000),  # lone surrogates (an undecodable file name): printing them would raise
]
_TABLE = {code: _escape(code) for code in _CONTROLS}


def printable(text: str) -> str:
    """`text` with control characters (C0, DEL, C1, bidi controls, separators) as visible escapes."""
    return text.translate(_TABLE)
