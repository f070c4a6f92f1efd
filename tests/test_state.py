"""The run tree fold and its text rendering (pure: events in, rows out)."""

from __future__ import annotations

import io

from gator_nb.events import JobFinished, JobStarted, RunFinished, Status
from gator_nb.state import RunState, format_bytes, format_duration, group_rows, render_tree
from gator_nb.terminal import LineLog, LiveTree, summary_line

JOBS = [("top.a", "top"), ("top.arr[0].x", "top.arr[0]"), ("top.arr[1].x", "top.arr[1]")]
GROUPS = [
    ("top", None, "group"),
    ("top.arr", "top", "array"),
    ("top.arr[0]", "top.arr", "copy"),
    ("top.arr[1]", "top.arr", "copy"),
]


def started(job: str, t: float) -> JobStarted:
    return JobStarted(job=job, time=t, pid=1, command=("x",), cwd="/", hostname="h")


def finished(job: str, t: float, status: Status, **kw: object) -> JobFinished:
    return JobFinished(job=job, time=t, status=status, **kw)  # type: ignore[arg-type]


def folded() -> RunState:
    state = RunState(JOBS, GROUPS)
    for event in [
        started("top.a", 10.0),
        finished("top.a", 12.5, Status.PASSED, peak_rss=2 * 2**20, cpu_s=1.0, warnings=2),
        started("top.arr[0].x", 12.5),
        started("top.arr[1].x", 12.6),
        finished(
            "top.arr[1].x",
            14.0,
            Status.FAILED,
            errors=1,
            first_error="ERROR: bad",
            peak_rss=3 * 2**20,
            cpu_s=0.5,
        ),
    ]:
        state.apply(event)
    return state


def test_fold_aggregates_up_the_tree() -> None:
    state = folded()
    top, arr = state.nodes["top"], state.nodes["top.arr"]
    assert (top.total, top.done, top.counts[Status.RUNNING], top.counts[Status.FAILED]) == (
        3,
        2,
        1,
        1,
    )
    assert (top.warnings, top.errors, top.cpu_s, top.peak_rss) == (2, 1, 1.5, 3 * 2**20)
    assert top.first_failure == ("top.arr[1].x", "ERROR: bad")
    assert (arr.start, arr.end, arr.outcome) == (12.5, 14.0, Status.RUNNING)
    assert state.nodes["top.arr[1]"].outcome == Status.FAILED
    assert state.nodes["top.a"].outcome == Status.PASSED
    version = state.version
    state.apply(finished("top.arr[0].x", 15.0, Status.PASSED))
    state.apply(RunFinished(time=15.0, status=Status.FAILED))
    assert state.version == version + 2
    assert state.nodes["top"].outcome == Status.FAILED and state.status == Status.FAILED


def test_render_tree_puts_failures_first_and_folds_array_copies() -> None:
    assert render_tree(folded(), now=16.0) == [
        "~ top  2/3 (1 failed, 1 running, 1 passed)  6.0s  peak 3.0 MiB  2W 1E",
        "  ~ arr  1/2 (1 failed, 1 running)  3.5s  peak 3.0 MiB  0W 1E",
        "    x arr[1].x  failed  1.4s  peak 3.0 MiB  0W 1E  - ERROR: bad",
        "    ~ arr[0].x  running  3.5s",
        "  + a  passed  2.5s  peak 2.0 MiB  2W 0E",
    ]
    assert render_tree(folded(), now=16.0, jobs=False) == [
        "~ top  2/3 (1 failed, 1 running, 1 passed)  6.0s  peak 3.0 MiB  2W 1E",
        "  ~ arr  1/2 (1 failed, 1 running)  3.5s  peak 3.0 MiB  0W 1E",
    ]


def test_group_rows() -> None:
    rows = {r["group"]: r for r in group_rows(folded())}
    assert list(rows) == ["top", "top.arr", "top.arr[0]", "top.arr[1]"]
    assert rows["top.arr[1]"]["duration_s"] == 14.0 - 12.6
    assert rows["top.arr[1]"] | {"start": 0, "duration_s": 0} == {
        "group": "top.arr[1]",
        "kind": "copy",
        "parent": "top.arr",
        "jobs": 1,
        "pending": 0,
        "running": 0,
        "passed": 0,
        "failed": 1,
        "skipped": 0,
        "cancelled": 0,
        "status": "failed",
        "warnings": 0,
        "errors": 1,
        "cpu_s": 0.5,
        "peak_rss": 3 * 2**20,
        "start": 0,
        "end": 14.0,
        "duration_s": 0,
        "first_failure": "top.arr[1].x",
        "first_error": "ERROR: bad",
    }


def test_formatting() -> None:
    assert [format_bytes(v) for v in (512, 1536, 5 * 2**30)] == ["512 B", "1.5 KiB", "5.0 GiB"]
    assert [format_duration(v) for v in (4.25, 75.3, 7322)] == ["4.2s", "1m15s", "2h02m"]
    assert summary_line(folded(), 16.0) == "2/3 done: 1 passed, 1 failed; 1 running; 6.0s"


def test_line_log_prints_one_line_per_event() -> None:
    out = io.StringIO()
    log = LineLog(out)
    log(started("top.a", 1.0))
    log(
        finished(
            "top.a", 2.0, Status.FAILED, reason="exit-code", exit_code=3, first_error="ERROR: x"
        )
    )
    log(
        finished(
            "top.b",
            2.0,
            Status.SKIPPED,
            reason="dependency",
            first_error="on_pass top.a: did not pass",
        )
    )
    assert out.getvalue().splitlines() == [
        "start  top.a",
        "FAIL   top.a  (exit-code 3)  ERROR: x",
        "skip   top.b  (on_pass top.a: did not pass)",
    ]


def test_live_tree_redraws_only_on_change() -> None:
    state = folded()
    out = io.StringIO()
    live = LiveTree(state, out, title="r1", clock=lambda: 16.0)
    live.draw()
    first = out.getvalue()
    assert first.splitlines()[0] == "gator r1  2/3 done: 1 passed, 1 failed; 1 running; 6.0s"
    live.draw()
    assert out.getvalue() == first  # nothing changed: nothing written
    live(finished("top.arr[0].x", 15.0, Status.FAILED, reason="signal"))
    state.apply(finished("top.arr[0].x", 15.0, Status.FAILED, reason="signal"))
    live.draw()
    redraw = out.getvalue()[len(first) :]
    assert redraw.startswith(f"\x1b[{len(first.splitlines())}F\x1b[J")
    assert "FAIL   top.arr[0].x  (signal)" in redraw
