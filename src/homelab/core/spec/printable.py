"""Text from a spec made safe to print: control characters come out escaped, never raw.

A key, value or file name is echoed in findings and errors; written raw, ``"\\e[2J"`` in a spec
would clear the user's terminal, ``"\\e]8;;..."`` plant a link, a C1 ``\\x9b`` start an escape
sequence on 8-bit terminals, and a bidi override reorder what the user reads. ``printable``
shows each of them as a Python-style escape (``\\x1b``, ``\\u202e``); every other character,
backslashes and non-ASCII letters included, is kept. Pure.
"""

from __future__ import annotations

import re

# C0 controls and DEL, C1 controls, and the Unicode format characters that move or hide text:
# bidi embeddings/overrides/isolates and marks, zero-width characters, line/paragraph separators,
# the byte-order mark.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character shown as an escape: ``"\\x1b[2J"`` -> ``\\x1b[2J``."""
    return _CONTROL.sub(_escape, text)
