"""Text from outside (bundles, live directories, stores) made safe to show: control and format characters
(escape sequences, carriage returns, bidi overrides) are shown visibly instead of acting on the terminal."""

from __future__ import annotations

import unicodedata


def visible(text: str, keep: str = "") -> str:
    """`text` with every control (Cc) and format (Cf) character except those in `keep` written as a visible
    escape (`\\x1b`, `\\u202e`); printable text is returned as it is."""
    if text.isprintable() or all(c in keep or unicodedata.category(c) not in ("Cc", "Cf") for c in text):
        return text
    out = []
    for c in text:
        if c in keep or unicodedata.category(c) not in ("Cc", "Cf"):
            out.append(c)
        else:
            n = ord(c)
            out.append(f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}")
    return "".join(out)
