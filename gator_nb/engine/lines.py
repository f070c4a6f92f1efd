"""Incremental line splitting and severity tagging of job output (pure: no I/O).

``Splitter`` turns raw chunks into whole lines kept as bytes, plus a ``Message`` for every line
whose severity is not INFO; on stdout those lines are found by one regex pass per block.
"""

from __future__ import annotations

import re
from itertools import chain
from typing import TYPE_CHECKING

from gator_nb.display import ANSI_PATTERN, visible
from gator_nb.events import LineBlock, Message, Severity

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["Splitter", "severity_of"]

_D, _I, _W, _E, _C = (
    Severity.DEBUG,
    Severity.INFO,
    Severity.WARNING,
    Severity.ERROR,
    Severity.CRITICAL,
)
_LOGGING: Mapping[str, Severity] = {
    "DEBUG": _D,
    "INFO": _I,
    "WARNING": _W,  # before "WARN": alternatives are tried in order
    "WARN": _W,
    "ERROR": _E,
    "CRITICAL": _C,
    "FATAL": _C,
}
# Placeholders in the patterns below: (what the classifier matches, a cheaper superset that
# the block scan uses instead). A timestamp such as "2024-01-01 12:00:00,123",
# "[2024/01/01T12:00:00.5Z]" or "12:00:00", and a simulation time such as "5000.00ns".
_MACROS = {
    "<TIME>": (
        r"\[?(?:\d{4}[-/]\d\d[-/]\d\d[ T])?\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?",
        r"[\[0-9][-0-9.,/ TZ+]*+:[-0-9:.,/ TZ+\]]*+",
    ),
    "<SIMTIME>": (r"(?:-\.--|\d+(?:\.\d+)?)(?:fs|ps|ns|us|ms|s)", r"[-0-9][-.0-9]*+[fpnum]?s"),
}

# What a line's own content says about its severity: (pattern, {level word: severity}).
# Patterns match at the start of the display text, after blanks, ANSI codes and one "#"
# (Questa prefixes transcript lines with "# "). "<L>" stands for the level words, which are
# looked up case-insensitively; a pattern without "<L>" has the single word "". The first
# pattern that matches decides, and ``None`` marks lines that look like messages but are
# not. Patterns are compiled with re.ASCII and also scan whole blocks of bytes: a negated
# class must exclude "\n", and a class should spell out its ranges (no "\w" or "\d" inside
# brackets), which keeps it a fast bitmap for the regex engine.
_RULES: tuple[tuple[str, Mapping[str, Severity | None]], ...] = (
    # A blank line says nothing worth counting, even on stderr.
    (r"$", {"": _I}),
    # Tallies, not messages: UVM's report summary ("UVM_ERROR :    3") and counts such as
    # "errors: 0" or "Warning count = 2". First, so that no rule below sees them.
    (
        r"(?:UVM_)?(?i:<L>s?(?:[ \t]+count)?)[ \t]*[:=][ \t]*\d+[ \t]*$",
        dict.fromkeys(_LOGGING, None),
    ),
    # Vivado: a "CRITICAL WARNING: [Timing 38-282] ..." is a warning, not a critical failure.
    (r"CRITICAL[ \t]+WARNING\b", {"": _W}),
    # UVM, from any simulator: "UVM_ERROR tb.sv(12) @ 450: uvm_test_top.env [ID] text".
    (r"UVM_<L>\b", {"INFO": _I, "WARNING": _W, "ERROR": _E, "FATAL": _C}),
    # Verilator: "%Error: t.v:12:3: ...", "%Warning-WIDTH: ...", "%Fatal: ...".
    (r"%<L>(?:-[A-Z0-9_]+)?:", {"Error": _E, "Warning": _W, "Fatal": _C}),
    # Questa/ModelSim: "** Error: (vsim-3033) ...", "# ** Warning (suppressible): ...".
    (r"\*\*[ \t]+<L>\b", {"Note": _I, "Warning": _W, "Error": _E, "Fatal": _C}),
    # VCS: "Error-[SE] Syntax error", "Warning-[TFIPC] Too few instance port connections".
    (r"<L>-\[[A-Za-z0-9_-]+\]", {"Warning": _W, "Error": _E}),
    # cocotb: "  5000.00ns ERROR    cocotb.regression  test_x failed" ("-.--ns" before the
    # simulator starts, e.g. for "gpi" lines).
    (
        r"<SIMTIME>[ \t]++<L>[ \t]",
        {"DEBUG": _D, "INFO": _I, "WARNING": _W, "ERROR": _E, "CRITICAL": _C},
    ),
    # Python logging (and most loggers) with a timestamp: "2024-01-01 12:00:00,123 - name -
    # ERROR - text", "2024-01-01 12:00:00 ERROR text", "[12:00:00] [WARNING] text".
    (
        r"<TIME>[ \t]*+[-|]?+[ \t]*+(?:[A-Za-z0-9_.-]++[ \t]*+[-|][ \t]*+)?\[?<L>\]?"
        r"(?=[ \t:|\]-]|$)",
        _LOGGING,
    ),
    # Bracketed levels: "[ERROR] text" (Maven), "[warn] text" (nginx).
    (r"\[(?i:<L>)\](?=[ \t:]|$)", _LOGGING),
    # pytest: "FAILED tests/t.py::test_x - assert 1 == 2" (and ninja's "FAILED: t.o"), and the
    # "E   " lines of a failure's explanation.
    (r"FAILED(?=[ \t:]|$)", {"": _E}),
    (r"E {3}", {"": _E}),
    # make: "make: *** [Makefile:3: all] Error 2", "make[1]: *** [sub] Error 1".
    (r"[gm](?:make|ake|ingw32-make)(?:\[\d+\])?:[ \t]+\*\*\*.*\bError[ \t]+\d+", {"": _E}),
    # A tool or file:line[:col] followed by a level: gcc, clang, iverilog and ld ("t.c:12:5:
    # error: ...", "collect2: error: ld returned 1"), Python warnings ("t.py:3:
    # DeprecationWarning: ..."), Xcelium ("xmvlog: *E,EXPSMC (t.sv,12|5): ...").
    (
        r"[^ \t:\n]++(?::\d++)?+(?::\d++)?+:[ \t]++(?:[A-Z]\w*?(?=Warning:))?<L>",
        {
            "fatal error:": _C,
            "error:": _E,
            "warning:": _W,
            "Warning:": _W,
            "note:": _I,
            "*F,": _C,
            "*E,": _E,
            "*W,": _W,
            "*N,": _I,
        },
    ),
    # Upper-case levels: Python logging's default "ERROR:root:text", "%(levelname)-8s" forms.
    (r"<L>(?=[ \t:]|$)", _LOGGING),
    # Plain prefixes: "Error: ...", "warning: ...", git's "fatal: not a git repository".
    (
        r"<L>[ \t]*:",
        {"Error": _E, "error": _E, "Warning": _W, "warning": _W, "Fatal": _C, "fatal": _C},
    ),
)

_ANSI = ANSI_PATTERN


def _words(words: Iterable[str]) -> str:
    return "|".join(re.escape(word) for word in words)


def _expand(pattern: str, fast: bool) -> str:
    for name, forms in _MACROS.items():
        pattern = pattern.replace(name, forms[fast])
    return pattern


_Outcomes = dict[int | None, tuple[int, dict[str, Severity | None]]]


def _compile_rules() -> tuple[re.Pattern[str], _Outcomes]:
    """All rules as one regex, plus what each rule decides.

    The second value maps the group number of each rule's branch (the last group to close in
    a match) to the group number of its level word and its severities by upper-case word.
    """
    branches = []
    for i, (pattern, levels) in enumerate(_RULES):
        body = _expand(pattern, fast=False).replace("<L>", f"(?P<l{i}>{_words(levels)})")
        branches.append(f"(?P<r{i}>{body})")
    lead = r"(?:[ \t]|" + _ANSI.decode() + r")*+(?:\#[ \t]*+)?+"
    regex = re.compile(lead + "(?:" + "|".join(branches) + ")", re.ASCII)
    groups = regex.groupindex
    outcomes: _Outcomes = {
        groups[f"r{i}"]: (
            groups.get(f"l{i}", 0),
            {word.upper(): severity for word, severity in levels.items()},
        )
        for i, (_, levels) in enumerate(_RULES)
    }
    return regex, outcomes


def _compile_candidates() -> bytes:
    """Line starts that can be a message where the default is INFO, over display bytes.

    Only rules with a level other than INFO take part, in their fast forms; a rule that
    starts with its level becomes one branch per word, so that every branch starts with a
    literal the regex engine can rule out in one step.
    """
    branches = []
    for pattern, levels in _RULES:
        loud = [word for word, severity in levels.items() if severity not in (None, _I)]
        fast = _expand(pattern, fast=True)
        if fast.startswith("<L>"):
            branches += [fast.replace("<L>", re.escape(word)) for word in loud]
        elif loud:
            branches.append(fast.replace("<L>", f"(?:{_words(loud)})"))
    body = _by_first_letter(branches)
    return (r"[ \t]*+(?:\#[ \t]*+" + body + "|" + body + ")").encode()


def _by_first_letter(branches: list[str]) -> str:
    """``(?:a(?:x|y)|...)`` for ``ax|ay|...``: the engine then rules out a letter once."""
    groups: dict[str, list[str]] = {}
    for branch in branches:
        plain = len(branch) > 1 and branch[0].isalnum() and branch[1] not in "*+?{"
        key, rest = (branch[0], branch[1:]) if plain else (branch, "")
        groups.setdefault(key, []).append(rest)
    parts = [
        key + (f"(?:{'|'.join(rest)})" if len(rest) > 1 else rest[0])
        for key, rest in groups.items()
    ]
    return "(?:" + "|".join(parts) + ")"


_CLASSIFY, _OUTCOMES = _compile_rules()
# "\n" gives the regex engine a literal to jump from line to line with, far faster than
# looking for the first letters of many keywords at every byte.
_HEAD = _compile_candidates()
_FIRST = re.compile(_HEAD, re.MULTILINE)
_CANDIDATE = re.compile(b"\n" + _HEAD, re.MULTILINE)


def severity_of(text: str) -> Severity | None:
    """Severity decided by a line's own content, or None when no built-in pattern matches."""
    match = _CLASSIFY.match(text)
    if match is None:
        return None
    level, severities = _OUTCOMES[match.lastindex]
    return severities[match[level].upper() if level else ""]


def _sparse(view: bytes, first_line: int) -> tuple[tuple[Message, ...], int]:
    """Messages and line count of a block whose default is INFO.

    Only candidate lines are decoded and classified: those the one-pass scan matches.
    """
    messages = []
    index, counted = 0, 0  # index = number of the line starting at view[counted]
    starts = (match.start() + 1 for match in _CANDIDATE.finditer(view))
    for start in chain((0,), starts) if _FIRST.match(view) else starts:
        index += view.count(b"\n", counted, start)
        counted = start
        text = view[start : view.index(b"\n", start)].decode("utf-8", "replace")
        severity = severity_of(text)
        if severity is not None and severity is not _I:
            messages.append(Message(line_no=first_line + index, severity=severity, text=text))
    return tuple(messages), index + view.count(b"\n", counted)


def _dense(view: bytes, first_line: int, default: Severity) -> tuple[tuple[Message, ...], int]:
    """Messages and line count of a block whose default is not INFO: every line counts."""
    # Decoding the block at once gives the same text per line: "\n" never joins an
    # invalid sequence, so errors="replace" stops at it.
    lines = view.decode("utf-8", "replace").split("\n")
    lines.pop()
    messages = []
    for index, text in enumerate(lines):
        severity = severity_of(text) or default
        if severity is not _I:
            messages.append(Message(line_no=first_line + index, severity=severity, text=text))
    return tuple(messages), len(lines)


class Splitter:
    """Splits one stream of one job into whole lines as they arrive.

    Args:
        stream: "stdout" or "stderr"; copied into every block.
        default: severity of a line whose content says nothing (INFO for stdout, WARNING
            for stderr).
    """

    __slots__ = ("_default", "_partial", "_stream")

    def __init__(self, stream: str, default: Severity) -> None:
        self._stream = stream
        self._default = default
        # Pieces of the unfinished line: joined once, when its newline arrives, so that a
        # huge line costs linear time however many chunks it spans.
        self._partial: list[bytes] = []

    def feed(self, chunk: bytes, time: float, first_line: int) -> LineBlock | None:
        """Add a chunk; return the lines it completes, numbered from ``first_line``, or None."""
        end = chunk.rfind(b"\n") + 1
        if not end:
            if chunk:
                self._partial.append(chunk)
            return None
        if self._partial:
            self._partial.append(chunk[:end])
            data = b"".join(self._partial)
            self._partial.clear()
        else:
            data = chunk[:end]
        if end < len(chunk):
            self._partial.append(chunk[end:])
        return self._block(data, time, first_line)

    def flush(self, time: float, first_line: int) -> LineBlock | None:
        """At end of stream: the last line if it had no newline (one is added), else None."""
        if not self._partial:
            return None
        self._partial.append(b"\n")
        data = b"".join(self._partial)
        self._partial.clear()
        return self._block(data, time, first_line)

    def _block(self, data: bytes, time: float, first_line: int) -> LineBlock:
        view = visible(data)
        if self._default is _I:
            messages, count = _sparse(view, first_line)
        else:
            messages, count = _dense(view, first_line, self._default)
        return LineBlock(
            stream=self._stream,
            time=time,
            first_line=first_line,
            count=count,
            data=data,
            messages=messages,
        )
