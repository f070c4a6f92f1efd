"""The one renderer: rows of a RunState (order, folding, limits), as text and as widget traits."""

from __future__ import annotations

from gator_nb.events import JobFinished, JobSampled, JobStarted, RunFinished, Status
from gator_nb.notebook.view import Throttle
from gator_nb.state import RunState
from gator_nb.views import MAX_ROWS, Header, Row, header, render, row_text, time_left
from tests.test_state import folded


def small_state() -> RunState:
    """top: a compile job, an array of 3 copies of one test, and a report job."""
    groups = [("top", None, "group"), ("top.tests", "top", "array")]
    groups += [(f"top.tests[{i}]", "top.tests", "copy") for i in range(3)]
    jobs = [("top.compile", "top")]
    jobs += [(f"top.tests[{i}].sim", f"top.tests[{i}]") for i in range(3)]
    jobs += [("top.report", "top")]
    return RunState(jobs, groups)


def start(state: RunState, job: str, at: float) -> None:
    state.apply(JobStarted(job=job, time=at, pid=1, command=("x",), cwd="/", hostname="h"))


def finish(state: RunState, job: str, at: float, status: Status, **kw: object) -> None:
    state.apply(JobFinished(job=job, time=at, status=status, **kw))  # type: ignore[arg-type]


def test_collapsed_tree_shows_the_roots_only() -> None:
    rows = render(small_state(), 100.0, expanded=())
    assert rows == [
        Row(key="top", kind="group", depth=0, name="top", total=5),
    ]


def test_expanded_tree_flattens_array_copies_and_counts() -> None:
    state = small_state()
    start(state, "top.compile", 10.0)
    finish(state, "top.compile", 12.0, Status.PASSED, peak_rss=3 * 2**20, warnings=2)
    start(state, "top.tests[1].sim", 12.5)
    rows = render(state, 20.0, expanded={"top", "top.tests"})
    assert [(r.key, r.depth, r.name, r.status) for r in rows] == [
        ("top", 0, "top", Status.RUNNING),
        ("top.tests", 1, "tests", Status.RUNNING),
        ("top.tests[1].sim", 2, "tests[1].sim", Status.RUNNING),
        ("top.tests[0].sim", 2, "tests[0].sim", Status.PENDING),
        ("top.tests[2].sim", 2, "tests[2].sim", Status.PENDING),
        ("top.compile", 1, "compile", Status.PASSED),
        ("top.report", 1, "report", Status.PENDING),
    ]
    assert rows[0] == Row(
        key="top", kind="group", depth=0, name="top", status=Status.RUNNING, done=1, total=5,
        passed=1, running=1, warnings=2, elapsed="10.0s", peak="3.0 MiB", open=True,
    )  # fmt: skip
    assert rows[2].elapsed == "7.5s"  # running: measured to `now`
    assert rows[5].elapsed == "2.0s"  # finished: start to end


def test_failed_rows_come_first_with_their_first_error() -> None:
    state = small_state()
    for i, status in enumerate([Status.PASSED, Status.FAILED, Status.PASSED]):
        start(state, f"top.tests[{i}].sim", 1.0)
        finish(state, f"top.tests[{i}].sim", 2.0, status, errors=1, first_error="UVM_ERROR x")
    rows = render(state, 3.0, expanded={"top", "top.tests"}, max_rows=MAX_ROWS)
    assert [r.key for r in rows[:3]] == ["top", "top.tests", "top.tests[1].sim"]
    assert rows[1].note == "top.tests[1].sim: UVM_ERROR x"
    assert rows[2].note == "UVM_ERROR x"
    assert (rows[1].status, rows[1].failed, rows[1].passed) == (Status.FAILED, 1, 2)


def test_big_lists_show_failed_then_running_then_the_rest_up_to_max_rows() -> None:
    state = RunState(
        [(f"a[{i}].j", f"a[{i}]") for i in range(200)],
        [("a", None, "array")] + [(f"a[{i}]", "a", "copy") for i in range(200)],
    )
    for i in (150, 180):
        start(state, f"a[{i}].j", 1.0)
        finish(state, f"a[{i}].j", 2.0, Status.FAILED)
    start(state, "a[199].j", 1.0)
    rows = render(state, 3.0, expanded={"a"}, max_rows=5)
    assert [r.key for r in rows] == [
        "a", "a[150].j", "a[180].j", "a[199].j", "a[0].j", "a[1].j", "a#more",
    ]  # fmt: skip
    assert rows[-1] == Row(key="a#more", kind="more", depth=1, name="… 195 more")
    more = render(state, 3.0, expanded={"a"}, max_rows=5, limits={"a": 10})
    assert len(more) == 1 + 10 + 1 and more[-1].name == "… 190 more"


def test_more_failures_than_rows_says_how_many_failed_are_hidden() -> None:
    state = RunState(
        [(f"g.j{i}", "g") for i in range(8)],
        [("g", None, "group")],
    )
    for i in range(8):
        start(state, f"g.j{i}", 1.0)
        finish(state, f"g.j{i}", 2.0, Status.FAILED)
    rows = render(state, 3.0, expanded={"g"}, max_rows=3)
    assert [r.status for r in rows[1:4]] == [Status.FAILED] * 3
    assert rows[-1].name == "… 5 more (5 failed)"


def test_an_open_job_has_its_detail_row_under_it() -> None:
    state = small_state()
    rows = render(state, 1.0, expanded={"top"}, opened={"top.report"}, max_rows=MAX_ROWS)
    assert [(r.key, r.kind, r.depth) for r in rows[-2:]] == [
        ("top.report", "job", 1),
        ("top.report#detail", "detail", 2),
    ]
    assert rows[-2].open


def test_header_counts_every_job_and_the_run_status() -> None:
    state = small_state()
    start(state, "top.compile", 5.0)
    finish(state, "top.compile", 6.0, Status.FAILED)
    start(state, "top.report", 6.0)
    assert header(state, 9.0) == Header(
        status=Status.RUNNING, total=5, done=1, passed=0, failed=1, running=1, skipped=0,
        cancelled=0, elapsed="4.0s",
    )  # fmt: skip
    state.apply(RunFinished(time=10.0, status=Status.FAILED))
    assert header(state, 99.0).elapsed == "5.0s"
    assert header(state, 99.0).status == Status.FAILED


def test_a_running_job_row_shows_its_latest_sample_and_the_run_a_time_left() -> None:
    state = small_state()
    start(state, "top.compile", 10.0)
    state.apply(JobSampled(job="top.compile", time=11.0, cpu_percent=97.6, rss=3 << 20, vms=0,
                           num_procs=1, read_bytes=0, write_bytes=0))  # fmt: skip
    [row] = render(state, 12.0, roots=["top.compile"])
    assert row.live == "cpu 98% rss 3.0 MiB" and row.elapsed == "2.0s"
    assert row_text(row) == "~ compile  running  2.0s  cpu 98% rss 3.0 MiB"
    assert time_left(state, 12.0) == ""  # nothing done yet: no pace to go by
    finish(state, "top.compile", 14.0, Status.PASSED)
    [row] = render(state, 15.0, roots=["top.compile"])
    assert row.live == "" and (row.start, row.end) == (10.0, 14.0)
    assert time_left(state, 15.0) == "~20.0s left"  # 1 of 5 done in 5 s: 4 more
    state.apply(RunFinished(time=16.0, status=Status.CANCELLED))
    assert time_left(state, 16.0) == ""


def test_throttle_renders_changes_at_most_every_refresh_and_ticks_when_idle() -> None:
    now = [0.0]
    throttle = Throttle(refresh_s=0.25, tick_s=1.0, clock=lambda: now[0])
    assert throttle.due(1)  # first call: render
    now[0] = 0.1
    assert not throttle.due(2)  # changed, but too soon
    now[0] = 0.25
    assert throttle.due(2)
    now[0] = 0.6
    assert not throttle.due(2)  # unchanged
    now[0] = 1.25
    assert throttle.due(2)  # unchanged, but a tick keeps elapsed times moving
    decisions = []
    for step in range(1, 41):  # 4 s of a state that changes every 10 ms
        now[0] = 2.0 + step * 0.1
        decisions.append(throttle.due(100 + step))
    assert sum(decisions) == 14  # every third 0.1 s step: <= 4 per second, well under 10


def test_text_rows_put_failures_first_and_folds_array_copies() -> None:
    assert [row_text(r) for r in render(folded(), 16.0)] == [
        "~ top  2/3 (1 failed, 1 running, 1 passed)  6.0s  peak 3.0 MiB  2W 1E",
        "  ~ arr  1/2 (1 failed, 1 running)  3.5s  peak 3.0 MiB  0W 1E",
        "    x arr[1].x  failed  1.4s  peak 3.0 MiB  0W 1E  - ERROR: bad",
        "    ~ arr[0].x  running  3.5s",
        "  + a  passed  2.5s  peak 2.0 MiB  2W 0E",
    ]
    assert [row_text(r) for r in render(folded(), 16.0, jobs=False)] == [
        "~ top  2/3 (1 failed, 1 running, 1 passed)  6.0s  peak 3.0 MiB  2W 1E",
        "  ~ arr  1/2 (1 failed, 1 running)  3.5s  peak 3.0 MiB  0W 1E",
    ]
