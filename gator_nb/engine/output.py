"""A job's output on its way to the sink: line blocks batched into ``JobOutput`` events
(at most every 0.1 s, or sooner past 1 MiB), the metrics they report as ``JobMetric``
events, and its lines, warnings and errors counted.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from gator_nb.display import clip
from gator_nb.events import JobMetric, JobOutput, LineBlock, Message, Severity

if TYPE_CHECKING:
    from collections.abc import Callable

    from gator_nb.engine.lines import Splitter
    from gator_nb.events import Event

__all__ = ["Output", "Tally", "note_block"]

_BATCH_S = 0.1  # emit JobOutput at most this often...
_BATCH_BYTES = 1 << 20  # ...unless this much output is pending


def note_block(text: str, severity: Severity, line_no: int, time: float) -> LineBlock:
    """One of gator's own lines (stream "gator") for a job's log, as line ``line_no``."""
    return LineBlock(
        stream="gator",
        time=time,
        first_line=line_no,
        count=1,
        data=(text + "\n").encode(),
        messages=(Message(line_no=line_no, severity=severity, text=text),),
    )


class Tally:
    """A job's lines, warnings, errors and first error, counted from its line blocks."""

    def __init__(self, first_line: int = 0) -> None:
        self.lines = first_line  # one counter over stdout, stderr and gator's notes
        self.warnings = 0
        self.errors = 0  # ERROR and CRITICAL
        self.criticals = 0
        self.first_error = ""
        self.first_warning = ""

    def count(self, block: LineBlock) -> None:
        self.lines = max(self.lines, block.first_line + block.count)
        for message in block.messages:
            if message.severity >= Severity.ERROR:
                self.errors += 1
                self.criticals += message.severity >= Severity.CRITICAL
                self.first_error = self.first_error or clip(message.text)
            elif message.severity == Severity.WARNING:
                self.warnings += 1
                self.first_warning = self.first_warning or clip(message.text)


class Output(Tally):
    """Batches a job's line blocks into ``JobOutput`` events and counts messages."""

    def __init__(
        self,
        job: str,
        sink: Callable[[Event], None],
        clock: Callable[[], float],
        *,
        first_line: int = 0,
    ) -> None:
        super().__init__(first_line)
        self._job, self._sink, self._clock = job, sink, clock
        self._pending: list[LineBlock] = []
        self._pending_bytes = 0
        self._timer: asyncio.TimerHandle | None = None

    def feed(self, splitter: Splitter, chunk: bytes) -> None:
        self.add(splitter.feed(chunk, self._clock(), self.lines))
        self._unread(splitter)

    def end(self, splitter: Splitter) -> None:
        self.add(splitter.flush(self._clock(), self.lines))
        self._unread(splitter)

    def _unread(self, splitter: Splitter) -> None:
        if splitter.unread:  # said in the log, next to the line: nothing silently lost
            for pair in splitter.unread:
                self.note(Severity.WARNING, f"gator: metric {pair}: not a number, not recorded")
            splitter.unread.clear()

    def note(self, severity: Severity, text: str) -> None:
        """Add one of gator's own lines (stream "gator") to the job's log."""
        self.add(note_block(text, severity, self.lines, self._clock()))

    def add(self, block: LineBlock | None) -> None:
        if block is None:
            return
        self.count(block)
        self._pending.append(block)
        self._pending_bytes += len(block.data)
        if block.metrics:
            self.flush()  # the lines go before the values they report
            latest = dict(block.metrics)  # the last value of a name in the block wins
            for name, value in latest.items():
                self._sink(JobMetric(job=self._job, time=block.time, name=name, value=value))
        elif self._pending_bytes > _BATCH_BYTES:
            self.flush()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(_BATCH_S, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            self._sink(JobOutput(job=self._job, blocks=tuple(self._pending)))
            self._pending, self._pending_bytes = [], 0
