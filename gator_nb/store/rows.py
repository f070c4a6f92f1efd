"""Rows the store writer commits: a batch of them per job, and the message rows of a block.

Pure: no SQL is run here. A batch is gathered per job so that a failed commit can be
retried job by job, and only the job that cannot be written loses rows.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from gator_nb.events import LineBlock, Severity

__all__ = ["WRITE_ERRORS", "Batch", "message_rows"]

# What a write can raise: a full disk, an unwritable file, a malformed event.
WRITE_ERRORS = (sqlite3.Error, OSError, ValueError, TypeError, OverflowError)


@dataclass(slots=True)
class Batch:
    """Rows gathered from a batch of events; ``ops`` keep their order."""

    ops: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    blocks: list[tuple[Any, ...]] = field(default_factory=list)
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    samples: list[tuple[Any, ...]] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)  # jobs whose log files were written

    def empty(self) -> bool:
        return not (self.ops or self.blocks or self.messages or self.samples)

    def extend(self, other: Batch) -> None:
        self.ops += other.ops
        self.blocks += other.blocks
        self.messages += other.messages
        self.samples += other.samples


def message_rows(job_id: int, block: LineBlock) -> list[tuple[Any, ...]]:
    """The ``messages`` rows of one block: its lines whose severity is not the default.

    On stdout the default is INFO: each message is a row. A stderr line is a WARNING
    unless its content says otherwise, and its text is in the log: only the exceptions
    become rows (INFO ones without their text), not a row per line (5,000,000 stderr
    lines made a 251 MB store).
    """
    if block.stream != "stderr":
        return [
            (job_id, m.line_no, int(m.severity), block.stream, block.time, m.text)
            for m in block.messages
        ]
    rows = []
    listed = set()
    for m in block.messages:
        listed.add(m.line_no)
        if m.severity != Severity.WARNING:
            rows.append((job_id, m.line_no, int(m.severity), "stderr", block.time, m.text))
    info = int(Severity.INFO)
    rows += [
        (job_id, line_no, info, "stderr", block.time, "")
        for line_no in range(block.first_line, block.first_line + block.count)
        if line_no not in listed
    ]
    return rows
