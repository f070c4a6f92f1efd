"""One submitted job as the engine sees it: its events in order, and what its worker said.

The Dask backend keeps a :class:`Channel` per job; each submission resets what was learnt
about the one before (its worker, its batches).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from gator_nb.engine.launch import Sink
from gator_nb.engine.output import Tally, note_block
from gator_nb.events import Event, JobFinished, JobOutput, JobSampled, Reason, Severity, Status

__all__ = ["Channel"]


@dataclass(slots=True)
class Channel:
    """One submitted job as the engine sees it: its events, delivered in order."""

    job: str
    sink: Sink
    received: int = 0  # batches delivered from the queue
    want: int | None = None
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)
    key: str = ""  # the Dask key of the attempt in flight: each submission has its own
    worker: str | None = None  # where that submission started, from its first batch
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # ... once it has
    lost: str | None = None  # the worker that died under this job
    requeue: bool = False  # its worker was lost before it started: submit it again
    finished: bool = False
    tally: Tally = field(default_factory=Tally)  # counted here too: a lost worker never reports
    peak_rss: int = 0

    def submitted(self, key: str) -> None:
        """A new submission: what was learnt about the one before does not carry over."""
        self.key, self.worker, self.lost, self.requeue = key, None, None, False
        self.received, self.want = 0, None
        self.arrived.clear()
        self.caught_up.clear()

    def batch(self, events: Iterable[Event], worker: str) -> None:
        if self.worker is None:
            self.worker = worker
            self.arrived.set()
        self.deliver(events)
        self.received += 1
        if self.want is not None and self.received >= self.want:
            self.caught_up.set()

    def deliver(self, events: Iterable[Event]) -> None:
        for event in events:
            if isinstance(event, JobOutput):
                for block in event.blocks:
                    self.tally.count(block)
            elif isinstance(event, JobSampled):
                self.peak_rss = max(self.peak_rss, event.rss)
            elif isinstance(event, JobFinished):
                self.finished = True
            self.sink(event)

    def end(self, status: Status, reason: Reason, text: str = "") -> JobFinished:
        """Finish the job from the engine's side, with a line saying why (if ``text``)."""
        now = time.time()
        if text:
            severity = Severity.ERROR if status == Status.FAILED else Severity.WARNING
            block = note_block(text, severity, self.tally.lines, now)
            self.deliver([JobOutput(job=self.job, blocks=(block,))])
        finished = JobFinished(
            job=self.job,
            time=now,
            status=status,
            reason=reason,
            peak_rss=self.peak_rss,
            warnings=self.tally.warnings,
            errors=self.tally.errors,
            first_error=self.tally.first_error,
            lines=self.tally.lines,
        )
        self.deliver([finished])
        return finished
