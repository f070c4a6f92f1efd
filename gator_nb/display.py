"""Job text as people see it: escape sequences and carriage-return redraws removed, every
other control character neutralised, length bounded where it matters.

Shared by the engine (which classifies what a line shows, not its escapes), the store
reader and every view: the one place that decides what of a job's output may reach a
terminal, an HTML page or an XML file. Imports nothing from the package.
"""

from __future__ import annotations

import re

__all__ = [
    "ANSI_PATTERN",
    "FIRST_ERROR_CHARS",
    "clip",
    "display_text",
    "for_display",
    "for_xml",
    "visible",
]

FIRST_ERROR_CHARS = 2000  # a job's first error is kept and shown up to this long

# CSI ("\x1b[31m", "\x1b[2K"), OSC ("\x1b]0;title\x07") and two-byte escapes.
ANSI_PATTERN = rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|[@-_])"
_ANSI_RE = re.compile(ANSI_PATTERN)
_CRS_NL = re.compile(rb"\r+\n")
# C0 controls but tab, DEL, C1 controls (U+0080-U+009F: "\x9b" is a one-byte CSI), bidi
# embeddings, overrides and isolates (a U+202E can make a line read backwards), and the
# line and paragraph separators that some terminals and browsers treat as new lines.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
# What XML 1.0 cannot hold at all, not even escaped (surrogates, U+FFFE, U+FFFF).
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def display_text(raw: bytes) -> str:
    """A raw line (no trailing newline) as shown to people.

    Decoded as UTF-8 with replacement characters, ANSI escape sequences removed, only the
    text after the last non-empty carriage-return redraw kept (trailing ``\\r`` dropped),
    and any other control character shown as an escape (:func:`for_display`).
    """
    return for_display(visible(raw).decode("utf-8", "replace"))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_display(text: str) -> str:
    """``text`` with every control character shown as ``\\xNN`` / ``\\uNNNN``.

    Nothing a job prints can then move the cursor, reset the terminal, change its
    character set or reorder what is shown; tabs are kept.
    """
    return _CONTROL.sub(_escape, text)


def for_xml(text: str) -> str:
    """``text`` shown as :func:`for_display` does, minus what XML 1.0 forbids."""
    return _NOT_XML.sub(_escape, for_display(text))


def clip(text: str, limit: int = FIRST_ERROR_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


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
