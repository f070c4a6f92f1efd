"""Terminal views of a live run: a redrawn tree on a TTY, one line per event otherwise.

Both are listeners of engine events; neither ever blocks the engine (the live view
only marks itself dirty and redraws from a task at most ``1 / refresh_s`` times a second).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from typing import TextIO

from gator_nb.display import display_text
from gator_nb.events import Event, JobFinished, JobOutput, JobStarted, Status
from gator_nb.palette import ANSI, ANSI_RESET
from gator_nb.state import RunState, format_bytes, why_failed
from gator_nb.views import header, render, row_text, summary_text, time_left

__all__ = ["LineLog", "LiveTree", "progress_bar", "summary_line"]


def summary_line(state: RunState, now: float) -> str:
    """``12/30 done: 10 passed, 1 failed, 1 skipped; 2 running; 12.0s``."""
    return summary_text(header(state, now))


def _output_lines(event: JobOutput) -> list[str]:
    lines = []
    for block in event.blocks:
        for raw in block.data.split(b"\n")[: block.count]:
            lines.append(f"[{event.job}] {display_text(raw)}")
    return lines


class LineLog:
    """One line per job start and finish (for logs and CI); ``verbose`` adds job output."""

    def __init__(self, stream: TextIO, *, verbose: bool = False, starts: bool = True) -> None:
        self.stream, self.verbose, self.starts = stream, verbose, starts

    def __call__(self, event: Event) -> None:
        if isinstance(event, JobStarted) and self.starts:
            again = f"  (attempt {event.attempt})" if event.attempt > 1 else ""
            self._print(f"start  {event.job}{again}")
        elif isinstance(event, JobFinished):
            self._print(_finished(event))
        elif isinstance(event, JobOutput) and self.verbose:
            for line in _output_lines(event):
                self._print(line)

    def _print(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def _finished(event: JobFinished) -> str:
    word = {
        Status.PASSED: "pass",
        Status.FAILED: "FAIL",
        Status.SKIPPED: "skip",
        Status.CANCELLED: "stop",
    }.get(event.status, event.status.value)
    text = f"{word:<6} {event.job}"
    if event.status == Status.FAILED:
        text += f"  ({why_failed(None, event.reason, event.exit_code)})"
        if event.first_error:
            text += f"  {event.first_error[:200]}"
    elif event.status == Status.SKIPPED and event.first_error:
        text += f"  ({event.first_error})"
    if event.peak_rss:
        text += f"  peak {format_bytes(event.peak_rss)}"
    return text


def progress_bar(done: int, total: int, width: int = 30) -> str:
    """``[#########.....]  60%`` (plain characters: any terminal, any font)."""
    filled = round(width * done / total) if total else width
    percent = 100 * done // total if total else 100  # nothing to do is all done
    return f"[{'#' * filled}{'.' * (width - filled)}] {percent:3d}%"


class LiveTree:
    """A compact hierarchical progress display redrawn in place on a terminal."""

    def __init__(
        self,
        state: RunState,
        stream: TextIO,
        *,
        title: str,
        verbose: bool = False,
        refresh_s: float = 0.1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state, self.stream, self.title = state, stream, title
        self.verbose, self.refresh_s, self.clock = verbose, refresh_s, clock
        self.drawn = 0  # lines of the live area currently on screen
        self.seen = -1
        self.above: list[str] = []  # permanent lines to print above the live area

    def __call__(self, event: Event) -> None:
        if isinstance(event, JobFinished) and event.status == Status.FAILED:
            self.above.append(ANSI[Status.FAILED] + _finished(event) + ANSI_RESET)
        elif isinstance(event, JobOutput) and self.verbose:
            self.above.extend(_output_lines(event))

    async def run(self) -> None:
        """Redraw whenever the state changed, at most every ``refresh_s``; cancel to stop."""
        while True:
            self.draw()
            await asyncio.sleep(self.refresh_s)

    def draw(self, final: bool = False) -> None:
        if self.state.version == self.seen and not self.above and not final:
            return
        self.seen = self.state.version
        width, height = shutil.get_terminal_size((100, 30))
        lines = self.lines(width, max(height - 2, 5))
        out = []
        if self.drawn:
            out.append(f"\x1b[{self.drawn}F\x1b[J")  # back to the live area's top, clear it
        out += [line + "\n" for line in self.above]
        self.above.clear()
        out += [line[:width] + "\n" for line in lines]
        self.stream.write("".join(out))
        self.stream.flush()
        self.drawn = len(lines)

    def lines(self, width: int, height: int) -> list[str]:
        now = self.clock()
        head = header(self.state, now)
        title = f"gator {self.title}  {summary_line(self.state, now)}"
        left = time_left(self.state, now)
        bar = f"  {progress_bar(head.done, head.total)}" + (f"  {left}" if left else "")
        tree = [row_text(row) for row in render(self.state, now, jobs=False, max_depth=3)]
        running = [n.path for n in self.state.jobs if n.status == Status.RUNNING]
        body = tree[: max(height - 3, 1)]
        if len(tree) > len(body):
            body.append(f"  ... {len(tree) - len(body)} more groups")
        lines = [title, bar, *("  " + line for line in body)]
        if running:
            shown = ", ".join(running[:6]) + (f" +{len(running) - 6}" if len(running) > 6 else "")
            lines.append(f"  running: {shown}"[:width])
        return lines
