"""A finished run as static HTML: what a saved notebook, nbconvert and GitHub show.

Groups are ``<details>`` elements (they open and close without a kernel or script), failed
first and open; each failed job lists its first error and last lines. Everything a job
wrote is escaped; styles are inline, as sanitisers keep those.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING

from gator_nb.errors import GatorError
from gator_nb.events import Status
from gator_nb.palette import MUTED, SEVERITY, STATUS
from gator_nb.views import COUNTED, MAX_ROWS, Row, header, render, summary_text, tests_text

if TYPE_CHECKING:
    from gator_nb import Run
    from gator_nb.state import RunState

__all__ = ["final_html"]

_FAILED_SHOWN = 50  # failed jobs whose log tail is read into the page
_TAIL = 15


def final_html(run: Run, state: RunState, *, max_rows: int = MAX_ROWS) -> str:
    """The whole finished tree as one escaped HTML fragment."""
    now = time.time()
    head = header(state, now)
    rows = render(state, now, expanded=None, max_rows=max_rows)
    tails = _tails(run, [r.key for r in rows if r.kind == "job" and r.status == Status.FAILED])
    status = _status(head.status)
    out = [
        '<div class="gator-final" style="font-size:13px;line-height:1.5">',
        f"<div><b>gator</b> {html.escape(run.id)} · {status} · "
        f"{html.escape(summary_text(head))}</div>",
    ]
    depth = -1
    for row in rows:
        while depth >= row.depth:  # close the groups this row is not inside
            out.append("</div></details>")
            depth -= 1
        if row.kind in ("group", "array", "copy"):
            is_open = " open" if row.failed or row.depth == 0 else ""
            out.append(
                f'<details class="gator-group"{is_open} style="margin-left:{row.depth and 1.2}em">'
            )
            out.append(f"<summary>{_line(row)}</summary><div>")
            depth = row.depth
        elif row.kind == "job" and row.key in tails:
            out.append('<details class="gator-job" style="margin-left:1.2em">')
            out.append(f"<summary>{_line(row)}</summary>{tails[row.key]}</details>")
        elif row.kind == "job":
            out.append(f'<div class="gator-job" style="margin-left:2.2em">{_line(row)}</div>')
        elif row.kind == "more":
            out.append(
                f'<div style="margin-left:2.2em;color:{MUTED}">{html.escape(row.name)}</div>'
            )
    out.append("</div></details>" * (depth + 1))
    out.append("</div>")
    return "".join(out)


def _status(status: Status) -> str:
    colour = STATUS[status.value]
    return f'<span style="color:{colour};font-weight:bold">{html.escape(status.value)}</span>'


def _line(row: Row) -> str:
    parts = [f"<b>{html.escape(row.name)}</b>"]
    if row.kind == "job":
        parts.append(_status(row.status))
    else:
        parts.append(f"{_bar(row)} {row.done}/{row.total}")
        parts += [
            f'<span style="color:{STATUS[s.value]}">{row.count(s)} {s.value}</span>'
            for s in COUNTED
            if row.count(s)
        ]
    if row.tests:
        colour = STATUS["failed" if row.tests_failed else "passed"]
        parts.append(f'<span style="color:{colour}">{html.escape(tests_text(row))}</span>')
    parts += [f"{html.escape(name)} {html.escape(value)}" for name, value in row.metrics]
    parts += [html.escape(text) for text in (row.elapsed, row.peak and f"peak {row.peak}") if text]
    if row.note:
        parts.append(f'<span style="color:{STATUS["failed"]}">{html.escape(row.note)}</span>')
    return " · ".join(parts)


def _bar(row: Row) -> str:
    """The group's jobs as a bar stacked by outcome (pending shows as the grey rest)."""
    total = max(row.total, 1)
    parts = "".join(
        f'<span style="display:inline-block;height:100%;width:{100 * row.count(s) / total:.1f}%;'
        f'background:{STATUS[s.value]}"></span>'
        for s in (Status.PASSED, Status.FAILED, Status.RUNNING, Status.SKIPPED, Status.CANCELLED)
        if row.count(s)
    )
    return (
        '<span class="gator-bar" style="display:inline-flex;width:8em;height:0.7em;'
        f'vertical-align:middle;background:{STATUS["pending"]}55">{parts}</span>'
    )


def _tails(run: Run, failed: list[str]) -> dict[str, str]:
    """The last lines of the first failed jobs, read from the finished run's store."""
    tails = {}
    for job in failed[:_FAILED_SHOWN]:
        try:
            lines, omitted = run.log_tail(job, _TAIL)
        except GatorError:
            continue
        body = []
        if omitted:
            body.append(f'<span style="color:{MUTED}">… {omitted} earlier lines</span>')
        for severity, text in lines:
            colour = SEVERITY.get(severity)
            escaped = html.escape(text)
            body.append(f'<span style="color:{colour}">{escaped}</span>' if colour else escaped)
        tails[job] = (
            '<pre class="gator-log" style="max-height:16em;overflow:auto;font-size:85%;'
            'margin:2px 0 4px 2.2em">' + "\n".join(body) + "</pre>"
        )
    return tails
