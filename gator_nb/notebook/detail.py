"""A job's detail panel: the tail of its log (all lines or WARNING+), the command line that
reproduces it, and a small CPU/RSS plot. Read through the Run when opened.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ipywidgets as widgets

from gator_nb.errors import GatorError
from gator_nb.palette import MUTED, SEVERITY, STATUS

if TYPE_CHECKING:
    from gator_nb import Run

__all__ = ["TAIL_LINES", "DetailPanel", "JobDetail", "load_detail", "log_html", "results_html"]

TAIL_LINES = 40
_SHOWN_TESTS = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class JobDetail:
    """What the panel shows for one job, read from the store."""

    job: str
    command: str  # a shell line that reruns the job by hand
    lines: tuple[tuple[str, str], ...]  # (severity name, text), the last ``tail`` lines
    omitted: int  # earlier lines not shown
    png: bytes | None  # the CPU/RSS plot, None without samples
    tests: tuple[tuple[str, str, str], ...] = ()  # (status, test, first line of its message)
    metrics: tuple[tuple[str, float], ...] = ()  # (name, last value)


def _plot(run: Run, job: str) -> bytes | None:
    samples = run.resources_of(job)
    if not len(samples):
        return None
    from gator_nb import plots  # matplotlib only once a panel with samples opens

    figure = plots.job_resources(samples)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72)
    return buffer.getvalue()


def load_detail(
    run: Run, job: str, *, warnings_only: bool = False, tail: int = TAIL_LINES
) -> JobDetail:
    """Read one job's command, log tail and samples through the run's API."""
    lines, omitted = run.log_tail(job, tail, "WARNING" if warnings_only else None)
    cases = run.tests_of(job)
    tests = tuple(
        (str(status), str(test), str(message).strip().split("\n", 1)[0])
        for status, test, message in zip(
            cases["status"], cases["test"], cases["message"].fillna(""), strict=True
        )
    )
    return JobDetail(
        job=job,
        command=run.command(job),
        lines=tuple(lines),
        omitted=omitted,
        png=_plot(run, job),
        tests=tests,
        metrics=tuple(sorted(run.job(job)["metrics"].items())),
    )


def results_html(detail: JobDetail) -> str:
    """The job's test cases (failed first) and metrics, escaped; empty when it has neither."""
    out = []
    if detail.tests:
        order = {"failed": 0, "error": 0, "skipped": 1, "passed": 2}
        cases = sorted(detail.tests, key=lambda case: order.get(case[0], 3))
        failed = sum(case[0] in ("failed", "error") for case in cases)
        out.append(f"<b>{len(cases)} tests, {failed} failed</b>")
        for status, test, message in cases[:_SHOWN_TESTS]:
            colour = STATUS.get(status, STATUS["failed"])
            why = f" — {html.escape(message)}" if message and status != "passed" else ""
            out.append(
                f'<span class="gator-test" style="color:{colour}">{html.escape(status)}</span>'
                f" {html.escape(test)}{why}"
            )
        if len(cases) > _SHOWN_TESTS:
            out.append(f'<span style="color:{MUTED}">… {len(cases) - _SHOWN_TESTS} more</span>')
    if detail.metrics:
        shown = ", ".join(f"{html.escape(n)} = {v:.6g}" for n, v in detail.metrics)
        out.append(f'<span class="gator-metrics"><b>metrics</b> {shown}</span>')
    return '<div class="gator-results">' + "<br>".join(out) + "</div>" if out else ""


def log_html(detail: JobDetail) -> str:
    """The log tail as escaped HTML, WARNING and worse in colour."""
    out = []
    if detail.omitted:
        out.append(f'<span style="color:{MUTED}">… {detail.omitted} earlier lines</span>')
    for severity, text in detail.lines:
        colour = SEVERITY.get(severity)
        escaped = html.escape(text)
        out.append(f'<span style="color:{colour}">{escaped}</span>' if colour else escaped)
    if not detail.lines:
        out.append(f'<span style="color:{MUTED}">(no lines)</span>')
    body = "\n".join(out)
    return (
        '<pre class="gator-log" style="max-height:22em;overflow:auto;font-size:85%;'
        f'margin:0;line-height:1.3">{body}</pre>'
    )


class DetailPanel:
    """The widgets of one job's panel; ``load`` (re)reads the store."""

    def __init__(self, run: Run, job: str, *, tail: int = TAIL_LINES) -> None:
        self.run, self.job, self.tail = run, job, tail
        self.command = widgets.HTML()
        self.results = widgets.HTML()
        self.filter = widgets.ToggleButtons(
            options=["all lines", "WARNING+"], value="all lines", style={"button_width": "8.5em"}
        )
        self.filter.observe(lambda _change: self.load(), names="value")
        self.refresh = widgets.Button(description="Refresh", icon="refresh")
        self.refresh.layout = widgets.Layout(width="7em")
        self.refresh.on_click(lambda _button: self.load())
        self.log = widgets.HTML()
        self.plot = widgets.Image(format="png", layout=widgets.Layout(max_width="460px"))
        self.no_plot = widgets.HTML(f'<i style="color:{MUTED}">no resource samples</i>')
        self.box = widgets.VBox(
            [
                self.command,
                self.results,
                widgets.HBox([self.filter, self.refresh]),
                self.log,
                self.no_plot,
            ],
            layout=widgets.Layout(border="1px solid #ddd", padding="4px", margin="2px 0 6px 0"),
        )
        self.box.add_class("gator-detail")
        self.load()

    def load(self) -> None:
        """Read the job's log tail, command and samples again."""
        try:
            detail = load_detail(
                self.run, self.job, warnings_only=self.filter.value == "WARNING+",
                tail=self.tail,
            )  # fmt: skip
        except GatorError as exc:  # the run directory went away, or is not readable
            self.log.value = f'<pre style="color:{SEVERITY["ERROR"]}">{html.escape(str(exc))}</pre>'
            return
        self.command.value = (
            f"<b>{html.escape(detail.job)}</b> — to reproduce:"
            f'<pre class="gator-command" style="white-space:pre-wrap;margin:2px 0">'
            f"{html.escape(detail.command)}</pre>"
        )
        self.results.value = results_html(detail)
        self.log.value = log_html(detail)
        last = self.box.children[-1]
        if detail.png is not None:
            self.plot.value = detail.png
            if last is not self.plot:
                self.box.children = (*self.box.children[:-1], self.plot)
        elif last is not self.no_plot:
            self.box.children = (*self.box.children[:-1], self.no_plot)
