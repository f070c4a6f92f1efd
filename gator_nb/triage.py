"""Triage logic, pure: failure buckets, reproduction command lines, rerun selection.

Buckets group failures with the same cause: the first error is normalised by
replacing what varies between runs (numbers, hex values, times, paths, seeds and
instance names) so that ``Mismatch at 0x1f after 12 ns`` and ``Mismatch at 0x3a
after 98 ns`` land together.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence

from gator_nb.paths import COPY_INDEX
from gator_nb.redact import shell_value

__all__ = ["bucket", "change", "reproduce", "rerun_selection", "with_needs"]

_BUCKET_CHARS = 1000

# Order matters: the broad number rule runs last, after the shapes that contain numbers.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\x1b\[[0-9;]*[A-Za-z]"), ""),  # ANSI colours
    # Timestamps: 2024-01-02 12:34:56,789 / 12:34:56.7 / @ 12345ns / 5000.00ns
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?"), "<TIME>"),
    (re.compile(r"\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b"), "<TIME>"),
    (re.compile(r"@\s*\d+(?:\.\d+)?\s*(?:[munpf]?s)?\b"), "@ <TIME>"),
    (re.compile(r"\b\d+(?:\.\d+)?\s*(?:fs|ps|ns|us|ms)\b"), "<TIME>"),
    # Paths (absolute or with a directory part), keeping the file name's shape out. Tried
    # only where a word starts, and possessive, so a long word is scanned once (linear),
    # not once per character with backtracking (quadratic: 35 s for 150,000 characters).
    (re.compile(r"(?<![\w.\-~:])(?:[A-Za-z]:)?(?:[\w.\-~]*+/)+[\w.\-]+"), "<PATH>"),
    # File positions: tb.sv(123), file.c:12:5, line 34
    (re.compile(r"\(\d+\)"), "(<N>)"),
    (re.compile(r"(?<=<PATH>):\d+(?::\d+)?"), ""),
    # Hex and binary values: 0x1F, 'h1f, 32'hdeadbeef, 8'b1010
    (re.compile(r"\b(?:\d+)?'[hH][0-9a-fA-F_xXzZ]+\b|\b0[xX][0-9a-fA-F_]+\b"), "<HEX>"),
    (re.compile(r"\b(?:\d+)?'[bB][01_xXzZ]+\b"), "<BIN>"),
    (re.compile(r"\b[0-9a-fA-F]{8,}\b"), "<HEX>"),
    # Instance names and indices: uvm_test_top.env.agent[3] -> indices dropped
    (COPY_INDEX, "[<N>]"),
    (re.compile(r"\b(?:seed|SEED|Seed)\s*[=:]?\s*\d+"), "seed=<N>"),
    # Python objects and memory addresses: <Foo object at 0x7f..> already hex
    (re.compile(r"[-+]?\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b"), "<N>"),
    (re.compile(r"\s+"), " "),
)


def bucket(first_error: str, reason: str = "") -> str:
    """The failure's cause with run-specific details replaced; groups like failures.

    A failure without an error line is bucketed by its reason (``exit-code``,
    ``signal``, ``timeout``), which is the most specific thing known about it.
    """
    # The cause is in the first few hundred characters; looking further only costs time.
    text = first_error[:_BUCKET_CHARS].strip()
    if not text:
        return f"<{reason or 'unknown'}>"
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text.strip()


def reproduce(argv: Sequence[str], cwd: str, env: Mapping[str, str]) -> str:
    """A shell line that runs the job again by hand: its cwd, its env and its command."""
    assignments = " ".join(f"{name}={shell_value(value)}" for name, value in sorted(env.items()))
    prefix = f"env {assignments} " if assignments else ""
    return f"cd {shlex.quote(cwd)} && {prefix}{' '.join(shell_value(a) for a in argv)}"


def rerun_selection(
    statuses: Mapping[str, str], depends: Mapping[str, Iterable[str]], *, failed: bool = True
) -> set[str]:
    """Jobs a rerun should run again: the failures and the jobs skipped because of them.

    ``depends`` maps each job to the jobs it waited on (group targets already expanded
    to their jobs). With ``failed=False`` every job is selected.
    """
    if not failed:
        return set(statuses)
    # Every job that did not pass: a killed engine leaves jobs running or pending too.
    chosen = {job for job, status in statuses.items() if status not in ("passed", "skipped")}
    grew = True
    while grew:  # a skip can be caused by another skip: follow the chain to its failure
        grew = False
        for job, status in statuses.items():
            if status == "skipped" and job not in chosen and chosen.intersection(depends[job]):
                chosen.add(job)
                grew = True
    return chosen


def with_needs(chosen: Iterable[str], needs: Mapping[str, Iterable[str]]) -> set[str]:
    """``chosen`` and every job they need (``needs``: a job's on_pass and inputs producers,
    as jobs), transitively: a rerun that rebuilds what the chosen jobs use."""
    found = set(chosen)
    todo = list(found)
    while todo:
        for needed in needs.get(todo.pop(), ()):
            if needed not in found:
                found.add(needed)
                todo.append(needed)
    return found


def change(before: str | None, after: str | None, *, rerun: bool = False) -> str:
    """How a job's outcome moved between two runs (``rerun``: the second reran the first)."""
    if before is None:
        return "added"
    if after is None:
        return "not-rerun" if rerun else "removed"
    bad = ("failed", "cancelled")
    if after in bad:
        return "still failing" if before in bad else "new failure"
    if before in bad:
        return "fixed"
    return "unchanged" if before == after else f"{before} -> {after}"
