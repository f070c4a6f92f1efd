"""A job's details for the browser's panel and the final HTML: its command, log tail, test
cases, metrics and samples, read through the ``Run`` (``load_detail``); and ``Tails``, what
the engine's events already say of a failed job, sent with its row so that no round trip to
a busy kernel is needed to read why it failed.
"""

from __future__ import annotations

import collections
import shlex
from typing import TYPE_CHECKING, Any

from gator_nb.display import display_text
from gator_nb.errors import GatorError
from gator_nb.events import Event, JobFinished, JobOutput, JobStarted, Severity, Status

if TYPE_CHECKING:
    from gator_nb import Run

__all__ = ["FAILED_LINES", "TAIL_LINES", "Tails", "load_detail"]

TAIL_LINES = 40  # lines of a panel's log read from the store
FAILED_LINES = 20  # lines kept from the events of each running job, sent if it fails
_SHOWN_TESTS = 30
_SAMPLES = 400  # points of a panel's CPU/RSS plot


def load_detail(run: Run, job: str, *, tail: int = TAIL_LINES) -> dict[str, Any]:
    """One job's panel, read through the run's API (on the kernel's thread)."""
    try:
        lines, omitted = run.log_tail(job, tail)
        row = run.job(job)
        cases = run.tests_of(job)
        samples = run.resources_of(job)
        command = run.command(job)
    except GatorError as exc:  # the run directory went away, or is not readable
        return {"lines": [["ERROR", str(exc)]], "omitted": 0}
    order = {"failed": 0, "error": 0, "skipped": 1, "passed": 2}
    tests = sorted(
        (
            (str(status), str(test), str(message).strip().split("\n", 1)[0])
            for status, test, message in zip(
                cases["status"], cases["test"], cases["message"].fillna(""), strict=True
            )
        ),
        key=lambda case: order.get(case[0], 3),
    )
    start = samples["time"].min() if len(samples) else None
    points = [
        [(t - start).total_seconds(), float(cpu), int(rss)]
        for t, cpu, rss in zip(samples["time"], samples["cpu_percent"], samples["rss"], strict=True)
    ][-_SAMPLES:]
    return {
        "command": command,
        "first_error": str(row.get("first_error") or "") if row["status"] == "failed" else "",
        "lines": [list(line) for line in lines],
        "omitted": omitted,
        "tests": [list(case) for case in tests[:_SHOWN_TESTS]],
        "metrics": [[name, f"{value:.6g}"] for name, value in sorted(row["metrics"].items())],
        "samples": points,
    }


class Tails:
    """The last lines of each running job, from its events; a failed job's become its detail.

    Bounded: ``FAILED_LINES`` per running job and per failed job, nothing for jobs that passed.
    Called on the engine's thread for every event, so it only slices bytes.
    """

    def __init__(self, keep: int = FAILED_LINES) -> None:
        self._keep = keep
        self._lines: dict[str, collections.deque[tuple[str, str]]] = {}
        self._seen: dict[str, int] = {}
        self._commands: dict[str, str] = {}

    def note(self, event: Event) -> dict[str, Any] | None:
        """Take one event in; returns a failed job's detail when ``event`` ended it."""
        if isinstance(event, JobStarted):
            self._lines[event.job] = collections.deque(maxlen=self._keep)
            self._seen[event.job] = 0
            self._commands[event.job] = (
                f"cd {shlex.quote(event.cwd)} && {shlex.join(event.command)}"
            )
        elif isinstance(event, JobOutput):
            tail = self._lines.get(event.job)
            if tail is not None:
                for block in event.blocks:
                    self._add(event.job, tail, block.first_line, block.count, block.data, block)
        elif isinstance(event, JobFinished):
            tail = self._lines.pop(event.job, None)
            seen = self._seen.pop(event.job, 0)
            command = self._commands.pop(event.job, "")
            if event.status == Status.FAILED:
                lines = [list(line) for line in tail or ()]
                return {
                    "command": command,
                    "first_error": event.first_error,
                    "lines": lines,
                    "omitted": max(seen - len(lines), 0),
                }
        return None

    def _add(
        self,
        job: str,
        tail: collections.deque[tuple[str, str]],
        first: int,
        count: int,
        data: bytes,
        block: Any,
    ) -> None:
        self._seen[job] = self._seen.get(job, 0) + count
        raw = data.rsplit(b"\n", self._keep + 1)[-(self._keep + 1) :]
        if raw and raw[-1] == b"":
            raw.pop()
        raw = raw[-min(count, self._keep) :] if count else []
        severity = {m.line_no: m.severity for m in block.messages}
        start = first + count - len(raw)
        for offset, line in enumerate(raw):
            level = severity.get(start + offset, Severity.INFO)
            tail.append((level.name, display_text(line)))
