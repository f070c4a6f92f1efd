"""A job's detail panel: the tail of its log (all lines or WARNING+), the command line that
reproduces it, and a small CPU/RSS plot. Read from the run's store when opened.
"""

from __future__ import annotations

import collections
import html
import io
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as widgets

from gator_nb.errors import GatorError
from gator_nb.events import Severity
from gator_nb.store import StoreReader

__all__ = ["TAIL_LINES", "DetailPanel", "JobDetail", "load_detail", "log_html", "reproduce"]

TAIL_LINES = 40
_SEVERITY_COLOURS = {"WARNING": "#e65100", "ERROR": "#c62828", "CRITICAL": "#c62828"}


@dataclass(frozen=True, slots=True, kw_only=True)
class JobDetail:
    """What the panel shows for one job, read from the store."""

    job: str
    command: str  # a shell line that reruns the job by hand
    lines: tuple[tuple[str, str], ...]  # (severity name, text), the last ``tail`` lines
    omitted: int  # earlier lines not shown
    png: bytes | None  # the CPU/RSS plot, None without samples


def reproduce(cwd: str, command: str, env: dict[str, str]) -> str:
    """``cd CWD && env K=V ... COMMAND``: the job's spec env overlay and its command."""
    assigned = " ".join(shlex.quote(f"{name}={value}") for name, value in sorted(env.items()))
    return f"cd {shlex.quote(cwd)} && " + (f"env {assigned} " if assigned else "") + command


def _tail(
    reader: StoreReader, job: str, floor: Severity | None, tail: int
) -> tuple[list[tuple[str, str]], int]:
    kept: collections.deque[tuple[str, str]] = collections.deque(maxlen=tail)
    seen = 0
    for line in reader.messages(job, min_severity=floor):
        kept.append((str(line["severity"]), str(line["message"])))
        seen += 1
    return list(kept), seen - len(kept)


def _plot(reader: StoreReader, job: str) -> bytes | None:
    samples = list(reader.samples(job))
    if not samples:
        return None
    from gator_nb import frames, plots  # pandas and matplotlib only once a panel opens

    figure = plots.job_resources(frames.resources(samples))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72)
    return buffer.getvalue()


def load_detail(
    run_path: Path, job: str, *, warnings_only: bool = False, tail: int = TAIL_LINES
) -> JobDetail:
    """Read one job's command, log tail and samples from the run's store."""
    with StoreReader(run_path) as reader:
        (row,) = reader.query("SELECT command, cwd, env FROM jobs WHERE job = ?", (job,))
        env = json.loads(row["env"] or "{}")
        floor = Severity.WARNING if warnings_only else None
        lines, omitted = _tail(reader, job, floor, tail)
        png = _plot(reader, job)
    return JobDetail(
        job=job,
        command=reproduce(str(row["cwd"] or "."), str(row["command"] or ""), env),
        lines=tuple(lines),
        omitted=omitted,
        png=png,
    )


def log_html(detail: JobDetail) -> str:
    """The log tail as escaped HTML, WARNING and worse in colour."""
    out = []
    if detail.omitted:
        out.append(f'<span style="color:#757575">… {detail.omitted} earlier lines</span>')
    for severity, text in detail.lines:
        colour = _SEVERITY_COLOURS.get(severity)
        escaped = html.escape(text)
        out.append(f'<span style="color:{colour}">{escaped}</span>' if colour else escaped)
    if not detail.lines:
        out.append('<span style="color:#757575">(no lines)</span>')
    body = "\n".join(out)
    return (
        '<pre class="gator-log" style="max-height:22em;overflow:auto;font-size:85%;'
        f'margin:0;line-height:1.3">{body}</pre>'
    )


class DetailPanel:
    """The widgets of one job's panel; ``load`` (re)reads the store."""

    def __init__(self, run_path: Path, job: str, *, tail: int = TAIL_LINES) -> None:
        self.run_path, self.job, self.tail = run_path, job, tail
        self.command = widgets.HTML()
        self.filter = widgets.ToggleButtons(
            options=["all lines", "WARNING+"], value="all lines", style={"button_width": "8.5em"}
        )
        self.filter.observe(lambda _change: self.load(), names="value")
        self.refresh = widgets.Button(description="Refresh", icon="refresh")
        self.refresh.layout = widgets.Layout(width="7em")
        self.refresh.on_click(lambda _button: self.load())
        self.log = widgets.HTML()
        self.plot = widgets.Image(format="png", layout=widgets.Layout(max_width="460px"))
        self.no_plot = widgets.HTML('<i style="color:#757575">no resource samples</i>')
        self.box = widgets.VBox(
            [self.command, widgets.HBox([self.filter, self.refresh]), self.log, self.no_plot],
            layout=widgets.Layout(border="1px solid #ddd", padding="4px", margin="2px 0 6px 0"),
        )
        self.box.add_class("gator-detail")
        self.load()

    def load(self) -> None:
        """Read the job's log tail, command and samples again."""
        try:
            detail = load_detail(
                self.run_path, self.job, warnings_only=self.filter.value == "WARNING+",
                tail=self.tail,
            )  # fmt: skip
        except GatorError as exc:  # the run directory went away, or is not readable
            self.log.value = f'<pre style="color:#c62828">{html.escape(str(exc))}</pre>'
            return
        self.command.value = (
            f"<b>{html.escape(detail.job)}</b> — to reproduce:"
            f'<pre class="gator-command" style="white-space:pre-wrap;margin:2px 0">'
            f"{html.escape(detail.command)}</pre>"
        )
        self.log.value = log_html(detail)
        last = self.box.children[-1]
        if detail.png is not None:
            self.plot.value = detail.png
            if last is not self.plot:
                self.box.children = (*self.box.children[:-1], self.plot)
        elif last is not self.no_plot:
            self.box.children = (*self.box.children[:-1], self.no_plot)
