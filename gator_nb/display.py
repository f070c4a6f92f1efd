"""Job text as people see it: escape sequences and carriage-return redraws removed.

Shared by the engine (which classifies what a line shows, not its escapes), the store
reader and every view. Imports nothing from the package.
"""

from __future__ import annotations

import re

__all__ = ["ANSI_PATTERN", "display_text", "visible"]

# CSI ("\x1b[31m", "\x1b[2K"), OSC ("\x1b]0;title\x07") and two-byte escapes.
ANSI_PATTERN = rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|[@-_])"
_ANSI_RE = re.compile(ANSI_PATTERN)
_CRS_NL = re.compile(rb"\r+\n")


def display_text(raw: bytes) -> str:
    """A raw line (no trailing newline) as shown to people.

    Decoded as UTF-8 with replacement characters, ANSI escape sequences removed, and only the
    text after the last non-empty carriage-return redraw kept (trailing ``\\r`` dropped).
    """
    return visible(raw).decode("utf-8", "replace")


def visible(data: bytes) -> bytes:
    """``data`` (one line, or whole lines) with escapes and overdrawn text removed."""
    while b"\x1b" in data:  # again if removing one escape joined the parts of another
        data, found = _ANSI_RE.subn(b"", data)
        if not found:
            break
    if b"\r" in data:
        data = _drop_redraws(data)
    return data


def _drop_redraws(data: bytes) -> bytes:
    # CRLF is by far the common case: handle it at C speed first.
    data = data.replace(b"\r\n", b"\n")
    if b"\r\n" in data:
        data = _CRS_NL.sub(b"\n", data)
    data = data.rstrip(b"\r")
    pieces = []
    done = 0  # data[:done] is in pieces, or was drawn over
    cr = data.find(b"\r")
    while cr >= 0:
        end = data.find(b"\n", cr)
        end = len(data) if end < 0 else end
        start = data.rfind(b"\n", done, cr) + 1 or done
        pieces.append(data[done:start])
        done = data.rfind(b"\r", cr, end) + 1
        cr = data.find(b"\r", end)
    pieces.append(data[done:])
    return b"".join(pieces)
