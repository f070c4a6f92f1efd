"""How fast the views are: the run-tree renderer, the notebook view of 10,000 jobs, the Stop
button, the HTML report, JUnit XML with 1,000 failures, and the plots of a 2,000-job run.

Goals (printed, not asserted; tests check behaviour, this checks speed):
  10,000-job view: snapshot built          < 1.0 s
  a delta of 3,334 changed rows            < 0.25 s (one refresh period)
  Stop returns to the kernel               < 0.5 s
  each plot of a 2,000-job run renders     < 5 s
"""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
import threading
import time
from io import BytesIO
from pathlib import Path

import gator_nb as gn
from gator_nb.events import JobFinished, JobStarted, Status
from gator_nb.notebook.final import final_html
from gator_nb.notebook.view import RunView
from gator_nb.state import RunState
from gator_nb.views import render


def timed(label: str, goal_s: float | None, work):  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    result = work()
    took = time.perf_counter() - began
    goal = f"  (goal < {goal_s:g} s: {'met' if took < goal_s else 'NOT MET'})" if goal_s else ""
    print(f"{label:<44} {took * 1000:8.0f} ms{goal}")
    return result


def big_state(jobs: int) -> RunState:
    paths = [(f"big.arr[{i}].sim", f"big.arr[{i}]") for i in range(jobs)]
    groups = [("big", None, "group"), ("big.arr", "big", "array")]
    groups += [(f"big.arr[{i}]", "big.arr", "copy") for i in range(jobs)]
    state = RunState(paths, groups)
    for i in range(0, jobs, 7):
        job = paths[i][0]
        state.apply(JobStarted(job=job, time=1.0, pid=1, command=("x",), cwd="/", hostname="h"))
        if i % 2:
            state.apply(JobFinished(job=job, time=2.0, status=Status.FAILED, first_error="x"))
    return state


def spec(root: Path, text: str) -> Path:
    path = root / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        state = big_state(10_000)
        timed("render 10,000 jobs, array expanded", None,
              lambda: render(state, 3.0, expanded={"big", "big.arr"}, max_rows=50))  # fmt: skip
        timed("render 10,000 jobs, every row (gator show)", None,
              lambda: render(state, 3.0))  # fmt: skip
        small = gn.run(spec(root, "!Job {id: one, command: 'true'}"), runs_dir=root / "runs")

        def view() -> RunView:
            shown = RunView(small, state=state)
            shown.widget._repr_mimebundle_()
            return shown

        shown = timed("notebook view of 10,000 jobs, snapshot built", 1.0, view)
        size = len(json.dumps(shown.widget.snapshot))
        print(f"{'  its snapshot (every row, sent once)':<44} {size / 1e6:8.2f} MB")
        for i in range(0, 10_000, 3):  # a third of the jobs change between two updates
            event = JobStarted(job=f"big.arr[{i}].sim", time=4.0, pid=1, command=("x",),
                               cwd="/", hostname="h")  # fmt: skip
            state.apply(event)
            shown.note(event)
        timed("one delta of 3,334 changed jobs", 0.25, shown.update)
        final = timed("final static HTML of 10,000 jobs", 1.0, lambda: final_html(small, state))
        print(f"{'  its size':<44} {len(final) / 1e3:8.1f} kB")

        gate = root / "up"
        stubborn = spec(
            root,
            f"""
            !Job
              id: stubborn
              command: {sys.executable}
              args: [-c, "import pathlib, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); pathlib.Path('{gate}').touch(); time.sleep(30)"]
        """,  # noqa: E501
        )
        live = gn.run(stubborn, runs_dir=root / "runs", wait=False)
        live_view = RunView(live)
        live_view.attach()
        started = threading.Event()
        live.subscribe(lambda e: started.set() if isinstance(e, JobStarted) else None)
        started.wait(20)
        while not gate.exists():
            time.sleep(0.01)
        timed("Stop returns (job ignores SIGTERM)", 0.5, live_view.stop)
        live.wait(30)

        many = spec(
            root,
            """
            !JobGroup
              id: top
              jobs:
              - !JobArray
                  id: tests
                  repeats: 2000
                  jobs: [!Job {id: t, command: sh, args: [-c, "[ $GATOR_ARRAY_INDEX -ge 1000 ] || exit 1"]}]
        """,  # noqa: E501
        )
        run = timed("2,000-job run (1,000 fail)", None,
                    lambda: gn.run(many, parallel=2, runs_dir=root / "runs"))  # fmt: skip
        for name in ("timeline", "summary", "peak_memory", "resources"):
            figure = getattr(run.plot, name)
            timed(f"plot.{name}() of 2,000 jobs, drawn", 5.0,
                  lambda figure=figure: figure().savefig(BytesIO(), format="png"))  # fmt: skip
        timed("to_junit with 1,000 failures", None, lambda: run.to_junit(root / "r.xml"))
        timed("failures() with 1,000 failures", None, run.failures)
        timed("HTML report of 2,000 jobs", None, lambda: run.report(root / "r.html"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
