"""Incremental line splitting and severity tagging of job output (pure: no I/O).

``Splitter`` turns raw chunks into whole lines kept as bytes, plus a ``Message`` for every line
whose severity is not INFO; on stdout those lines are found by one regex pass per block.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gator_nb.display import ANSI_PATTERN, for_display, visible
from gator_nb.engine.rules import Rules, gator_metrics, number
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
    # Python's chained tracebacks: the line between two tracebacks is not a message.
    (
        r"(?:During handling of the above exception|The above exception was the direct cause)",
        {"": _I},
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
    # cocotb's verdict on a test: "9.00ns WARNING  cocotb.regression  test_alu.test_sub
    # failed" is an ERROR whatever level cocotb gave it (WARNING in 2.x, INFO in 1.x).
    (
        r"<SIMTIME>[ \t]++[A-Z]++[ \t]++cocotb\.regression[ \t]++[^ \t\n]++[ \t]++failed\b",
        {"": _E},
    ),
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
    # Icarus Verilog's last word after syntax errors.
    (r"I give up\.", {"": _E}),
    # make: "make: *** [Makefile:3: all] Error 2", "make[1]: *** [sub] Error 1".
    (r"[gm](?:make|ake|ingw32-make)(?:\[\d+\])?:[ \t]+\*\*\*.*\bError[ \t]+\d+", {"": _E}),
    # A tool or file:line[:col] followed by a level: gcc, clang, iverilog and ld ("t.c:12:5:
    # error: ...", "collect2: error: ld returned 1"), Icarus ("alu.v:3: syntax error"),
    # Python warnings ("t.py:3: DeprecationWarning: ..."), Xcelium ("xmvlog: *E,EXPSMC
    # (t.sv,12|5): ...").
    (
        r"[^ \t:\n]++(?::\d++)?+(?::\d++)?+:[ \t]++(?:[A-Z]\w*?(?=Warning:))?<L>",
        {
            "fatal error:": _C,
            "error:": _E,
            "syntax error": _E,
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


_SIMTIME_LEAD = r"<SIMTIME>[ \t]++"


def _compile_candidates() -> bytes:
    """Line starts that can be a message where the default is INFO, over display bytes.

    Only rules with a level other than INFO take part, in their fast forms; a rule that
    starts with its level becomes one branch per word, so that every branch starts with a
    literal the regex engine can rule out in one step.
    """
    branches = []
    simtime: list[str] = []  # cocotb's rules share their start: scan it once per line
    for pattern, levels in _RULES:
        loud = [word for word, severity in levels.items() if severity not in (None, _I)]
        if pattern.startswith(_SIMTIME_LEAD) and loud:
            simtime.append(pattern[len(_SIMTIME_LEAD) :].replace("<L>", f"(?:{_words(loud)})"))
            continue
        fast = _expand(pattern, fast=True)
        if fast.startswith("<L>"):
            branches += [fast.replace("<L>", re.escape(word)) for word in loud]
        elif loud:
            branches.append(fast.replace("<L>", f"(?:{_words(loud)})"))
    if simtime:
        branches.append(_expand(_SIMTIME_LEAD, fast=True) + "(?:" + "|".join(simtime) + ")")
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


# A Python traceback printed at the start of a line (an uncaught exception, logging's
# exception()): its body is indented and it ends at the next unindented line, the exception.
_TRACEBACK = b"Traceback (most recent call last):"
_TRACEBACK_HEADS = re.compile(b"^" + re.escape(_TRACEBACK), re.MULTILINE)
_UNINDENTED = re.compile(rb"^[^ \t\n]", re.MULTILINE)
_BLANKS = " \t"


def _decode(view: bytes, start: int) -> str:
    return view[start : view.index(b"\n", start)].decode("utf-8", "replace")


class Splitter:
    """Splits one stream of one job into whole lines as they arrive, and tags them.

    Args:
        stream: "stdout" or "stderr"; copied into every block.
        default: severity of a line whose content says nothing (INFO for stdout, WARNING
            for stderr).
        rules: the job's own severity and metric rules (``rules_for``), or None.

    Severity, in order: the job's ``severity`` rules; on a stream whose default is not INFO,
    an indented line after a message continues it and is not counted again; the built-in
    patterns; the default. A Python traceback that starts a line is one ERROR, its last
    line (the exception), on either stream.
    """

    __slots__ = ("_default", "_head", "_partial", "_rules", "_stream", "_traceback", "unread")

    def __init__(self, stream: str, default: Severity, rules: Rules | None = None) -> None:
        self._stream = stream
        self._default = default
        self._rules = rules
        # Pieces of the unfinished line: joined once, when its newline arrives, so that a
        # huge line costs linear time however many chunks it spans.
        self._partial: list[bytes] = []
        self._traceback = False  # inside a traceback whose exception line has not come
        self._head = -1  # indent of the message the next indented line continues (-1: none)
        self.unread: list[str] = []  # metric values that are not numbers, to say so

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
        if self._default is _I and (self._rules is None or self._rules.any_severity is None):
            messages, count = self._sparse(view, first_line)
        else:
            messages, count = self._dense(view, first_line)
        return LineBlock(
            stream=self._stream,
            time=time,
            first_line=first_line,
            count=count,
            data=data,
            messages=messages,
            metrics=self._metrics(view) if self._rules or b"GATOR_METRIC" in view else (),
        )

    def _sparse(self, view: bytes, first_line: int) -> tuple[tuple[Message, ...], int]:
        """Messages and line count of a block whose default is INFO, without user rules.

        Only candidate lines are decoded and classified: those the one-pass scan matches,
        and the exception line of a traceback.
        """
        starts = [match.start() + 1 for match in _CANDIDATE.finditer(view)]
        if _FIRST.match(view):
            starts.insert(0, 0)
        if self._traceback or _TRACEBACK in view:
            starts = self._tracebacks(view, starts)
        messages = []
        index, counted = 0, 0  # index = number of the line starting at view[counted]
        for start in starts:
            severity: Severity | None = _E
            if start < 0:  # a traceback's exception line (negated offset)
                start = -start - 1
                text = _decode(view, start)
            else:
                text = _decode(view, start)
                severity = severity_of(text)
            index += view.count(b"\n", counted, start)
            counted = start
            if severity is not None and severity is not _I:
                text = for_display(text)  # a message is shown as it is stored
                messages.append(Message(line_no=first_line + index, severity=severity, text=text))
        return tuple(messages), index + view.count(b"\n", counted)

    def _tracebacks(self, view: bytes, starts: list[int]) -> list[int]:
        """``starts`` without lines inside tracebacks, plus each traceback's exception line
        (as ``-offset - 1``); keeps an unfinished traceback open for the next block."""
        out: list[int] = []
        heads = [m.start() for m in _TRACEBACK_HEADS.finditer(view)]
        skip_to = 0
        if self._traceback:
            heads.insert(0, -1)
        for head in heads:  # -1: a traceback still open from the last block
            if 0 <= head < skip_to:
                continue
            out += [s for s in starts if skip_to <= s < max(head, 0)]
            found = _UNINDENTED.search(
                view, view.index(b"\n", max(head, 0)) + 1 if head >= 0 else 0
            )
            if found is None:
                self._traceback = True
                return out
            self._traceback = view.startswith(_TRACEBACK, found.start())
            if not self._traceback:
                out.append(-found.start() - 1)
            skip_to = found.start() + 1
        out += [s for s in starts if s >= skip_to]
        return out

    def _dense(self, view: bytes, first_line: int) -> tuple[tuple[Message, ...], int]:
        """Messages and line count of a block where every line is looked at."""
        # Decoding the block at once gives the same text per line: "\n" never joins an
        # invalid sequence, so errors="replace" stops at it.
        lines = view.decode("utf-8", "replace").split("\n")
        lines.pop()
        messages = []
        for index, text in enumerate(lines):
            severity = self._line(text)
            if severity is not _I:
                text = for_display(text)  # a message is shown as it is stored
                messages.append(Message(line_no=first_line + index, severity=severity, text=text))
        return tuple(messages), len(lines)

    def _line(self, text: str) -> Severity:
        """One line's severity, keeping track of tracebacks and continued messages."""
        stripped = text.lstrip(_BLANKS)
        indent = len(text) - len(stripped)
        if self._traceback:
            if not stripped or indent:
                return _I  # the traceback's frames and source lines
            self._traceback = stripped.startswith("Traceback (most recent call last):")
            self._head = 0
            return _I if self._traceback else _E  # the exception: the traceback's message
        if not indent and text.startswith("Traceback (most recent call last):"):
            self._traceback = True
            return _I
        own = self._rules.level(text) if self._rules is not None else None
        if own is not None:
            self._head = indent
            return own
        if not stripped:
            return _I
        if self._default is not _I and 0 <= self._head < indent:
            return _I  # continues the message above (Verilator's "   12 | ...", notes)
        self._head = indent
        return severity_of(text) or self._default

    def _metrics(self, view: bytes) -> tuple[tuple[str, float], ...]:
        """Metric values these lines report: ``GATOR_METRIC`` pairs and ``metrics`` rules."""
        found = list(gator_metrics(view))
        if self._rules is not None and self._rules.metrics:
            found += self._rules.metric_values(view.decode("utf-8", "replace"))
        values = []
        for name, text in found:
            value = number(text)
            if value is None:
                self.unread.append(f"{name}={text}"[:200])
            else:
                values.append((name, value))
        return tuple(values)
