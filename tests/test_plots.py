"""run.plot: the artists each figure draws, for 10 jobs and for 5,000, and on a real run."""
# mypy: disable-error-code="union-attr,arg-type,index,attr-defined,misc"
# (matplotlib and numpy type their getters as wide unions; the assertions check the values)

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch

import gator_nb as gn
from gator_nb import frames, plots
from gator_nb.plots import RunPlots

T0 = 1_800_000_000.0  # an arbitrary epoch second; frames turn it into a UTC timestamp
MIB = 2**20


@dataclass(frozen=True, slots=True, kw_only=True)
class Frames:
    """Anything with .jobs and .resources is enough for RunPlots."""

    jobs: pd.DataFrame
    resources: pd.DataFrame


def job_row(
    job: str, status: str, start: float | None, end: float | None, **extra: Any
) -> dict[str, Any]:
    group = job.rsplit(".", 1)[0]
    return {
        "job": job,
        "status": status,
        "exit_code": {"passed": 0, "failed": 1}.get(status),
        "start": None if start is None else T0 + start,
        "end": None if end is None else T0 + end,
        "duration_s": None if start is None or end is None else end - start,
        "group": group,
        "command": "python3",
        **extra,
    }


def samples_of(
    job: str, start: float, end: float, rss: float, count: int = 5
) -> list[dict[str, Any]]:
    times = np.linspace(start, end, count)
    return [
        {
            "time": T0 + t,
            "job": job,
            "cpu_percent": 50.0 + i,
            "rss": int(rss * (i + 1) / count),
            "num_procs": 1,
            "vms": int(rss * 2),
            "read_bytes": 0,
            "write_bytes": 4096 * i,
        }
        for i, t in enumerate(times)
    ]


@pytest.fixture(scope="module")
def small() -> Frames:
    """10 jobs: a build, 4 array copies of two tests, a report skipped after a failure."""
    rows = [job_row("top.build", "passed", 0.0, 2.0, peak_rss=60 * MIB, memory=128 * MIB)]
    samples = samples_of("top.build", 0.1, 2.0, 60 * MIB)
    for copy in range(4):
        for k, name in enumerate(("smoke", "stress")):
            job = f"top.tests[{copy}].{name}"
            start = 2.0 + copy * 3 + k
            status = "failed" if (copy, name) == (2, "stress") else "passed"
            peak = (20 + 60 * k) * MIB  # every stress run goes over its 64 MiB request
            rows.append(job_row(job, status, start, start + 3, peak_rss=peak, memory=64 * MIB))
            samples += samples_of(job, start + 0.1, start + 3, peak)
    rows.append(job_row("top.report", "skipped", None, 17.0))
    return Frames(jobs=frames.jobs(rows), resources=frames.resources(samples))


@pytest.fixture(scope="module")
def large() -> Frames:
    """5,000 jobs: 40 suites (arrays of 25 copies x 5 tests), about 50 running at a time."""
    rows, samples = [], []
    rng = np.random.default_rng(1)
    for index in range(5000):
        suite, rest = divmod(index, 125)
        job = f"reg.suite{suite}[{rest // 5}].t{rest % 5}"
        start = index * 0.2
        end = start + 5 + rng.uniform(0, 10)
        status = (["passed"] * 17 + ["failed", "skipped", "cancelled"])[index % 20]
        if status == "skipped":  # never started: no samples, no peak
            rows.append(job_row(job, status, None, start, memory=128 * MIB))
            continue
        peak = rng.uniform(10, 200) * MIB
        rows.append(job_row(job, status, start, end, peak_rss=int(peak), memory=128 * MIB))
        samples += samples_of(job, start + 0.1, end, peak, count=10)
    return Frames(jobs=frames.jobs(rows), resources=frames.resources(samples))


def render(fig: Figure) -> None:
    """Draw ``fig`` to PNG: it must render (how fast: benchmarks/bench_views.py)."""
    fig.savefig(BytesIO(), format="png")


def labels(texts: list[Any]) -> list[str]:
    return [t.get_text() for t in texts]


def legend_texts(fig: Figure) -> list[str]:
    legend = fig.axes[0].get_legend()
    assert legend is not None
    return labels(legend.get_texts())


# -- timeline ----------------------------------------------------------------------------


def test_timeline_small_draws_one_bar_per_started_job(small: Frames) -> None:
    fig = RunPlots(small).timeline()
    gantt, busy = fig.axes
    (bars,) = [c for c in gantt.collections if isinstance(c, PolyCollection)]
    assert len(bars.get_paths()) == 9  # the skipped report never started
    (crosses,) = [c for c in gantt.collections if isinstance(c, PathCollection)]
    assert len(crosses.get_offsets()) == 1
    assert labels(gantt.get_yticklabels()) == [
        "build",
        *(f"tests[{c}].{n}" for c in range(4) for n in ("smoke", "stress")),
        "report",
    ]
    assert gantt.yaxis_inverted()  # the first job at the top
    assert legend_texts(fig) == ["passed (8)", "failed (1)", "skipped (1)"]
    (running,) = busy.patches
    assert isinstance(running, StepPatch)
    assert running.get_data().values.max() == 2  # smoke and stress of a copy overlap
    assert busy.get_xlabel() == "time since start (s)"
    assert busy.get_ylabel() == "running"


def test_timeline_large_is_one_collection(large: Frames) -> None:
    fig = RunPlots(large).timeline()
    gantt = fig.axes[0]
    (bars,) = [c for c in gantt.collections if isinstance(c, PolyCollection)]
    assert len(bars.get_paths()) == 4750  # the 250 skipped jobs have no start
    assert len(gantt.collections) == 2 and not gantt.patches and not gantt.lines
    # 5,000 names do not fit: one label where each of the 40 suites begins.
    ticks = labels(gantt.get_yticklabels())
    assert ticks[:2] == ["reg.suite0", "reg.suite1"] and len(ticks) == 40
    assert gantt.get_ylabel() == "5000 jobs in spec order"
    assert legend_texts(fig) == [
        "passed (4250)",
        "failed (250)",
        "cancelled (250)",
        "skipped (250)",
    ]
    assert fig.axes[1].get_xlabel() == "time since start (min)"  # the run spans ~17 min
    (running,) = fig.axes[1].patches
    assert isinstance(running, StepPatch)
    jobs = large.jobs.dropna(subset=["start"])
    busiest = max(((jobs["start"] <= t) & (jobs["end"] > t)).sum() for t in jobs["start"])
    assert abs(running.get_data().values.max() - busiest) <= 3  # instants of ~1 s merge
    render(fig)


# -- resources ---------------------------------------------------------------------------


def test_resources_small_draws_a_line_per_job(small: Frames) -> None:
    fig = RunPlots(small).resources()
    (ax,) = fig.axes
    assert len(ax.lines) == 9
    assert ax.get_ylabel() == "RSS (MiB)"
    assert ax.get_xlabel() == "time since start (s)"
    legend = ax.get_legend()
    assert legend is not None and legend.get_title().get_text() == "top"
    assert labels(legend.get_texts())[:2] == ["build", "tests[0].smoke"]
    assert max(line.get_ydata().max() for line in ax.lines) == pytest.approx(80)


def test_resources_cpu_and_selection(small: Frames) -> None:
    fig = RunPlots(small).resources(jobs=["top.tests[1]", "top.build"], metric="cpu_percent")
    (ax,) = fig.axes
    assert ax.get_ylabel() == "CPU %"
    assert labels(ax.get_legend().get_texts()) == ["build", "tests[1].smoke", "tests[1].stress"]
    with pytest.raises(ValueError, match="no job matches"):
        RunPlots(small).resources(jobs="top.nothing")
    with pytest.raises(ValueError, match="metric must be one of rss, vms, cpu_percent"):
        RunPlots(small).resources(metric="memory")


def test_resources_by_group_stacks_sums(small: Frames) -> None:
    fig = RunPlots(small).resources(by="group")
    (ax,) = fig.axes
    assert not ax.lines and len(ax.collections) == 2
    assert labels(ax.get_legend().get_texts()) == ["top.tests", "top"]  # top of the stack first
    assert ax.get_ylabel() == "RSS (MiB), stacked by group"


def test_resources_above_30_jobs_switches_to_group_sums() -> None:
    # 40 jobs of one group, each holding 1 MiB from 0 to 10 s: the stack reaches 40 MiB.
    rows = [job_row(f"g.j{i}", "passed", 0.0, 10.0) for i in range(40)]
    samples = [s for i in range(40) for s in samples_of(f"g.j{i}", 0.0, 10.0, MIB, count=2)]
    for sample in samples:
        sample["rss"] = MIB
    fig = plots.resources(frames.resources(samples), frames.jobs(rows))
    (ax,) = fig.axes
    (area,) = ax.collections
    assert not ax.lines
    assert area.get_paths()[0].vertices[:, 1].max() == pytest.approx(40)


def test_resources_large_aggregates_to_few_artists(large: Frames) -> None:
    fig = RunPlots(large).resources()
    (ax,) = fig.axes
    assert not ax.lines
    assert len(ax.collections) == 10  # the 9 biggest suites and one "other"
    assert labels(ax.get_legend().get_texts())[0] == "other (31 groups)"
    render(fig)


def test_resources_by_job_for_thousands_is_one_line_collection(large: Frames) -> None:
    fig = RunPlots(large).resources(by="job")
    (ax,) = fig.axes
    (lines,) = ax.collections
    assert isinstance(lines, LineCollection) and len(lines.get_segments()) == 4750
    render(fig)


# -- summary and peak memory -------------------------------------------------------------


def test_summary_small_stacks_statuses_per_folded_group(small: Frames) -> None:
    fig = RunPlots(small).summary()
    (ax,) = fig.axes
    assert labels(ax.get_yticklabels()) == ["top", "top.tests"]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [len(b) for b in bars] == [2, 2, 2]  # passed, failed, skipped
    assert [p.get_width() for p in bars[0]] == [1, 7]
    assert [t.get_text() for t in ax.texts] == ["2", "8"]
    assert legend_texts(fig) == ["passed (8)", "failed (1)", "skipped (1)"]
    assert ax.get_xlabel() == "jobs"


def test_summary_large_keeps_30_rows(large: Frames) -> None:
    fig = RunPlots(large).summary()
    (ax,) = fig.axes
    ticks = labels(ax.get_yticklabels())
    assert len(ticks) == 30 and ticks[-1] == "+ 11 more groups"
    assert len(ax.patches) == 29 * 4  # no bar for the 11 groups beyond the cap
    assert ax.texts[-1].get_text().startswith("1375 jobs: ")
    assert legend_texts(fig) == [
        "passed (4250)",
        "failed (250)",
        "cancelled (250)",
        "skipped (250)",
    ]
    render(fig)


def test_peak_memory_small_marks_requests(small: Frames) -> None:
    fig = RunPlots(small).peak_memory(by="job")
    (ax,) = fig.axes
    assert labels(ax.get_yticklabels()) == ["top.build", "top.tests.smoke", "top.tests.stress"]
    (dots,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(dots.get_offsets()) == 9
    (requests,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert [s[0][0] for s in requests.get_segments()] == [128, 64, 64]
    assert legend_texts(fig) == ["job", "over request (4)", "!Memory request"]
    assert ax.get_xlabel() == "peak RSS (MiB)"


def test_peak_memory_by_group(small: Frames) -> None:
    fig = RunPlots(small).peak_memory()
    (ax,) = fig.axes
    assert labels(ax.get_yticklabels()) == ["top", "top.tests"]
    (requests,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(requests.get_segments()) == 2


def test_peak_memory_large_is_quick(large: Frames) -> None:
    fig = RunPlots(large).peak_memory()
    (ax,) = fig.axes
    assert len(ax.get_yticks()) == 30
    (dots,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(dots.get_offsets()) == 4750
    assert len(ax.get_children()) < 400  # boxes for 30 rows, not artists per job
    render(fig)


# -- every figure ------------------------------------------------------------------------

METHODS: dict[str, Callable[[RunPlots, Any], Figure]] = {
    "timeline": lambda p, ax: p.timeline(ax=ax),
    "resources": lambda p, ax: p.resources(ax=ax),
    "summary": lambda p, ax: p.summary(ax=ax),
    "peak_memory": lambda p, ax: p.peak_memory(ax=ax),
}


@pytest.mark.parametrize("method", METHODS)
def test_ax_is_honoured(small: Frames, method: str) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert METHODS[method](RunPlots(small), ax) is fig
    assert ax.has_data()
    assert fig.get_facecolor() == matplotlib.colors.to_rgba("white")  # the caller's style


@pytest.mark.parametrize("method", METHODS)
def test_figures_are_transparent_and_leave_rcparams_alone(small: Frames, method: str) -> None:
    before = dict(matplotlib.rcParams)
    fig = METHODS[method](RunPlots(small), None)
    assert dict(matplotlib.rcParams) == before
    assert fig.get_facecolor()[3] == 0
    grey = matplotlib.colors.to_rgba("#767676")
    assert all(matplotlib.colors.to_rgba(a.xaxis.label.get_color()) == grey for a in fig.axes)
    assert fig._repr_png_().startswith(b"\x89PNG")


@pytest.mark.parametrize("rows", [[], [job_row("a.b", "pending", None, None)]])
def test_nothing_to_draw_gives_a_note(rows: list[dict[str, Any]]) -> None:
    empty = RunPlots(Frames(jobs=frames.jobs(rows), resources=frames.resources([])))
    notes = {
        "no job has started": empty.timeline(),
        "no resource samples": empty.resources(),
        "no peak memory recorded": empty.peak_memory(),
    }
    if not rows:
        notes["no jobs"] = empty.summary()
    for note, fig in notes.items():
        assert [t.get_text() for t in fig.axes[0].texts] == [note]
        render(fig)


def test_job_resources_still_draws_rss_and_cpu(small: Frames) -> None:
    one = small.resources[small.resources["job"] == "top.build"]
    fig = plots.job_resources(one)
    rss, cpu = fig.axes
    assert len(rss.lines[0].get_xdata()) == 5 and rss.get_ylabel() == "RSS (MiB)"
    assert cpu.get_ylabel() == "CPU %"


def test_real_run_end_to_end(tmp_path: Path, write_spec: Callable[..., Path]) -> None:
    spec = write_spec(
        """
        !JobGroup
          id: top
          jobs:
            - !Job
                id: ok
                command: python3
                args: [-c, "import time; x = bytearray(30_000_000); time.sleep(0.4)"]
                resources: [!Memory [64, MB]]
            - !Job
                id: bad
                command: python3
                args: [-c, "import sys, time; time.sleep(0.2); print('ERROR: boom'); sys.exit(3)"]
            - !Job
                id: after
                on_pass: [bad]
                command: python3
                args: [-c, "pass"]
        """
    )
    run = gn.run(spec, runs_dir=tmp_path / "runs", sample_interval=0.05)
    sampled = run.resources["job"].nunique()
    assert sampled >= 1
    resources = run.plot.resources()
    assert len(resources.axes[0].lines) == sampled
    timeline = run.plot.timeline()
    (bars,) = [c for c in timeline.axes[0].collections if isinstance(c, PolyCollection)]
    assert len(bars.get_paths()) == 2
    assert legend_texts(timeline) == ["passed (1)", "failed (1)", "skipped (1)"]
    assert labels(run.plot.summary().axes[0].get_yticklabels()) == ["top"]
    memory = run.plot.peak_memory(by="job")
    (requests,) = [c for c in memory.axes[0].collections if isinstance(c, LineCollection)]
    assert requests.get_segments()[0][0][0] == pytest.approx(64)
    for fig in (resources, timeline, memory):
        render(fig)


def test_a_run_without_samples_draws_each_jobs_peak_with_a_note() -> None:
    rows = [
        job_row("top.a", "passed", 0.0, 0.05, peak_rss=40 * 2**20),
        job_row("top.b", "passed", 0.02, 0.07, peak_rss=90 * 2**20),
    ]
    fig = RunPlots(Frames(jobs=frames.jobs(rows), resources=frames.resources([]))).resources()
    ax = fig.axes[0]
    [note] = [t.get_text() for t in ax.texts]
    assert note.startswith("no samples: 2 job(s) ended before the first")
    [bars] = ax.collections
    assert sorted(seg[0][1] for seg in bars.get_segments()) == [40.0, 90.0]
    assert ax.get_ylabel() == "peak RSS (MiB)"
    render(fig)


def test_job_resources_without_samples_says_so() -> None:
    fig = plots.job_resources(frames.resources([]))
    assert [t.get_text() for t in fig.axes[0].texts] == ["no resource samples"]
