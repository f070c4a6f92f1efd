"""Exports to share a run without Jupyter: one self-contained HTML file, and JUnit XML.

The HTML embeds its plots as base64 PNG and its styles inline, so it can be mailed
or attached to a ticket and opened anywhere; every piece of job text is escaped.
"""

from __future__ import annotations

import base64
import html
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gator_nb.display import FIRST_ERROR_CHARS, clip, for_display, for_xml
from gator_nb.palette import STATUS
from gator_nb.state import format_bytes, format_duration
from gator_nb.views import row_text

if TYPE_CHECKING:
    import pandas as pd  # noqa: TID251 - types only

    from gator_nb.views import Row

__all__ = ["html_report", "junit_report"]

_FAILURE_LINES = 50  # log lines in a JUnit failure's text

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #1f2328; background: #fff; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #d0d7de; padding: 4px 8px; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; }
code { font: 12px ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; }
img { max-width: 100%; }
pre.tree { font: 12px/1.35 ui-monospace, monospace; }
.failed { font-weight: 600; }
""" + "".join(f".{status} {{ color: {colour}; }}\n" for status, colour in STATUS.items())


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = str(value)
    # Control characters are shown as escapes: the page is mailed and opened anywhere.
    return "" if text in ("<NA>", "NaT", "nan") else html.escape(for_display(clip(text)))


def _table(frame: pd.DataFrame, columns: list[str], *, code: tuple[str, ...] = ()) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for record in frame[columns].itertuples(index=False):
        cells = []
        for name, value in zip(columns, record, strict=True):
            text = _cell(value)
            if name == "status":
                cells.append(f'<td class="{text}">{text}</td>')
            elif name in code:
                cells.append(f"<td><code>{text}</code></td>")
            elif isinstance(value, int | float) and not isinstance(value, bool):
                cells.append(f'<td class="num">{text}</td>')
            else:
                cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _picture(data: bytes, title: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(title)}" src="data:image/png;base64,{encoded}">'


def _tree(rows: list[Row]) -> str:
    lines = [
        f'<span class="{row.status.value}">{html.escape(row_text(row))}</span>' for row in rows
    ]
    return '<pre class="tree">' + "\n".join(lines) + "</pre>"


def html_report(
    path: Path,
    *,
    run_id: str,
    status: str,
    jobs: pd.DataFrame,
    failures: pd.DataFrame,
    buckets: pd.DataFrame,
    rows: list[Row],
    plots: dict[str, bytes],
    tests: pd.DataFrame | None = None,
    metrics: pd.DataFrame | None = None,
) -> Path:
    """Write a run as one self-contained HTML page at ``path``; returns the path.

    ``jobs``, ``failures`` (with a ``command`` column) and ``buckets`` are the run's
    frames, ``rows`` its tree (groups), ``plots`` PNG figures by title, ``tests`` its test
    cases and ``metrics`` its group metrics.
    """
    counts = jobs["status"].value_counts()
    summary = ", ".join(f"{int(n)} {s}" for s, n in counts.items() if n)
    starts, ends, peaks = (jobs[c].dropna() for c in ("start", "end", "peak_rss"))
    wall = (ends.max() - starts.min()).total_seconds() if len(ends) and len(starts) else 0.0
    peak = format_bytes(float(peaks.max())) if len(peaks) else "not measured"
    parts = [
        f"<h1>gator run {html.escape(run_id)}: "
        f'<span class="{html.escape(status)}">{html.escape(status)}</span></h1>',
        f"<p>{len(jobs)} jobs: {html.escape(summary)}; wall time "
        f"{format_duration(wall)}; peak memory of one job {peak}. "
        f"Written {time.strftime('%Y-%m-%d %H:%M:%S')}.</p>",
        "<h2>Failure buckets</h2>",
        _table(buckets, ["jobs", "bucket", "example", "reasons"], code=("bucket",))
        if len(buckets)
        else "<p>No failures.</p>",
    ]
    if len(failures):
        parts += [
            "<h2>Failures</h2>",
            _table(
                failures,
                ["job", "reason", "first_error", "command"],
                code=("first_error", "command"),
            ),
        ]
    if tests is not None and len(tests):
        broken = tests[tests["status"].isin(["failed", "error"])]
        parts += [
            f"<h2>Test cases</h2><p>{len(tests)} test cases, {len(broken)} failed or errored.</p>",
            _table(broken, ["job", "test", "status", "message"], code=("message",))
            if len(broken)
            else "",
        ]
    if metrics is not None and len(metrics):
        parts += [
            "<h2>Metrics</h2>",
            _table(metrics, ["group", "name", "count", "mean", "min", "max", "sum"]),
        ]
    for title, data in plots.items():
        parts += [f"<h2>{html.escape(title)}</h2>", _picture(data, title)]
    parts += [
        "<h2>Groups</h2>",
        _tree(rows),
        "<h2>Jobs</h2>",
        _table(
            jobs,
            [
                "job",
                "status",
                "exit_code",
                "duration_s",
                "cpu_s",
                "peak_rss",
                "warnings",
                "errors",
                "first_error",
            ],
            code=("first_error",),
        ),
    ]
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>gator run {html.escape(run_id)}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
    return path


def junit_report(
    path: Path,
    *,
    run_id: str,
    jobs: pd.DataFrame,
    warnings: pd.DataFrame,
    tests: pd.DataFrame | None = None,
) -> Path:
    """Write a run as JUnit XML: a testsuite per group with a testcase per job, and for a job
    with ``results`` a testsuite of its own test cases (its name: the job's path).

    ``warnings`` (the run's WARNING-and-worse messages) gives each job failure its text.
    """
    lines = {
        str(job): list(group["message"][:_FAILURE_LINES])
        for job, group in warnings.groupby("job", observed=True, sort=False)
    }
    cases: dict[str, list[Any]] = {}
    if tests is not None:
        for case in tests.itertuples(index=False):
            cases.setdefault(str(case.job), []).append(case)
    root = ET.Element("testsuites", name=f"gator run {run_id}")
    suites: dict[str, ET.Element] = {}

    def suite_of(name: str) -> ET.Element:
        if name not in suites:
            suites[name] = ET.SubElement(root, "testsuite", name=name)
            suites[name].attrib.update(tests="0", failures="0", errors="0", skipped="0")
        return suites[name]

    for row in jobs.itertuples(index=False):
        job = str(row.job)
        for case in cases.get(job, ()):
            kind = {"failed": "failure", "error": "error", "skipped": "skipped"}.get(case.status)
            message = case.message if isinstance(case.message, str) else ""
            seconds = case.duration_s if case.duration_s == case.duration_s else 0.0
            _case(suite_of(job), job, str(case.test), seconds, kind, message, "test", message)
        if job in cases and row.reason in ("", "test-failed") and row.status != "cancelled":
            continue  # its test cases say all there is
        group = str(row.group) if isinstance(row.group, str) else ""
        name = job[len(group) + 1 :] if group else job
        seconds = float(row.duration_s) if row.duration_s == row.duration_s else 0.0
        first = str(row.first_error) if isinstance(row.first_error, str) else ""
        kind = {"failed": "failure", "cancelled": "failure", "skipped": "skipped"}.get(
            str(row.status)
        )
        text = "\n".join(lines.get(job, ())) if kind == "failure" else ""
        reason = str(row.reason) if isinstance(row.reason, str) else ""
        suite = suite_of(group or run_id)
        _case(suite, group or run_id, name, seconds, kind, first or reason, reason, text)
    totals = {k: sum(int(s.get(k, "0")) for s in suites.values()) for k in _TOTALS}
    root.attrib.update({k: str(v) for k, v in totals.items()})
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


_TOTALS = ("tests", "failures", "errors", "skipped")


def _case(
    suite: ET.Element,
    classname: str,
    name: str,
    seconds: float,
    kind: str | None,
    message: str,
    type_: str,
    text: str,
) -> None:
    """One testcase; ``kind`` is failure, error, skipped or None (passed).

    Job and test text goes through ``for_xml``: XML 1.0 cannot hold most control
    characters, and one of them would make a CI parser reject every result.
    """
    case = ET.SubElement(suite, "testcase", classname=for_xml(classname), name=for_xml(name))
    case.set("time", f"{seconds:.3f}")
    _count(suite, "tests")
    if kind is None:
        return
    outcome = ET.SubElement(case, kind, message=for_xml(clip(message)))
    if kind != "skipped":
        outcome.set("type", for_xml(type_))
        outcome.text = for_xml(clip(text, 100 * FIRST_ERROR_CHARS))
    _count(suite, {"failure": "failures", "error": "errors"}.get(kind, "skipped"))


def _count(suite: ET.Element, key: str) -> None:
    suite.set(key, str(int(suite.get(key, "0")) + 1))
