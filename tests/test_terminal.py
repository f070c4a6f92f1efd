"""Terminal views: the live tree redrawn in place, the one-line-per-event log."""

from __future__ import annotations

import io

from gator_nb.events import Reason, Status
from gator_nb.terminal import LineLog, LiveTree, progress_bar, summary_line
from tests.test_state import finished, folded, started


def test_summary_line_counts_the_whole_run() -> None:
    assert summary_line(folded(), 16.0) == "2/3 done: 1 passed, 1 failed; 1 running; 6.0s"


def test_line_log_prints_one_line_per_event() -> None:
    out = io.StringIO()
    log = LineLog(out)
    log(started("top.a", 1.0))
    log(
        finished(
            "top.a",
            2.0,
            Status.FAILED,
            reason=Reason.EXIT_CODE,
            exit_code=3,
            first_error="ERROR: x",
        )
    )
    log(
        finished(
            "top.b",
            2.0,
            Status.SKIPPED,
            reason=Reason.DEPENDENCY,
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
    live(finished("top.arr[0].x", 15.0, Status.FAILED, reason=Reason.SIGNAL))
    state.apply(finished("top.arr[0].x", 15.0, Status.FAILED, reason=Reason.SIGNAL))
    live.draw()
    redraw = out.getvalue()[len(first) :]
    assert redraw.startswith(f"\x1b[{len(first.splitlines())}F\x1b[J")
    assert "FAIL   top.arr[0].x  (signal)" in redraw


def test_live_tree_shows_a_bar_and_the_time_left() -> None:
    live = LiveTree(folded(), io.StringIO(), title="r1", clock=lambda: 16.0)
    # 2 of 3 jobs done 6 s after the first start: the third should take about 3 s more.
    assert live.lines(100, 30)[1] == f"  {progress_bar(2, 3)}  ~3.0s left"
    assert progress_bar(2, 3, width=9) == "[######...]  66%"
    assert progress_bar(0, 0, width=4) == "[####] 100%"
