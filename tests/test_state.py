"""The run tree fold: events (or a finished run's rows) in, aggregates per group out."""

from __future__ import annotations

from dataclasses import replace

from gator_nb.events import Event, JobFinished, JobStarted, RunFinished, Status
from gator_nb.state import NodeState, RunState, format_bytes, format_duration, group_rows

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
    events: list[Event] = [
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
    ]
    for event in events:
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


def _nonzero(node: NodeState) -> dict[Status, int]:
    return {status: count for status, count in node.counts.items() if count}


def test_a_finished_run_read_back_from_rows_folds_like_its_events() -> None:
    live = folded()
    live.apply(finished("top.arr[0].x", 15.0, Status.PASSED, cpu_s=0.25))
    rows = [
        {"job": "top.a", "group": "top", "status": "passed", "start": 10.0, "end": 12.5,
         "peak_rss": 2 * 2**20, "cpu_s": 1.0, "warnings": 2},
        {"job": "top.arr[0].x", "group": "top.arr[0]", "status": "passed", "start": 12.5,
         "end": 15.0, "cpu_s": 0.25},
        {"job": "top.arr[1].x", "group": "top.arr[1]", "status": "failed", "start": 12.6,
         "end": 14.0, "errors": 1, "first_error": "ERROR: bad", "peak_rss": 3 * 2**20,
         "cpu_s": 0.5, "reason": "exit-code"},
    ]  # fmt: skip
    groups = [{"path": p, "parent": parent, "kind": kind} for p, parent, kind in GROUPS]
    read = RunState.from_rows(rows, groups, Status.FAILED)
    assert read.status == Status.FAILED
    for path, node in live.nodes.items():  # equal but for counts of zero
        assert replace(read.nodes[path], counts=_nonzero(read.nodes[path])) == replace(
            node, counts=_nonzero(node)
        ), path
    assert group_rows(read) == group_rows(live)
