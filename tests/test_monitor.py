"""Process-tree sampling against real process trees."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import psutil
import pytest

from gator_nb.engine import monitor as monitor_module
from gator_nb.engine.monitor import Monitor, TreeStats
from gator_nb.events import JobSampled
from tests.recorder import Recorder


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _spawn(code: str) -> subprocess.Popen[str]:
    """Start ``code`` in its own group; return once it printed its first line."""
    argv = [sys.executable, "-c", textwrap.dedent(code)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


@pytest.fixture
def tree() -> Iterator[subprocess.Popen[str]]:
    """Three processes: root -> child -> grandchild, the last prints ``ready``."""
    grandchild = "import time; print('ready', flush=True); time.sleep(60)"
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}])"
    proc = _spawn(f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])")
    yield proc
    _stop(proc)


@pytest.mark.parametrize("children_files", [True, False], ids=["proc-children", "ppid-map"])
def test_sweep_sums_a_tree_of_three(
    tree: subprocess.Popen[str], children_files: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both ways of finding children: /proc/PID/task/TID/children, and the
    # psutil ppid map used where the kernel lacks those files.
    monkeypatch.setattr(monitor_module, "_HAS_CHILDREN_FILES", children_files)
    clock = FakeClock()
    monitor = Monitor(Recorder(), clock=clock)
    monitor.add("top.job", tree.pid)
    clock.now = 2.0
    [sample] = monitor.sweep()
    pids = [tree.pid, *(p.pid for p in psutil.Process(tree.pid).children(recursive=True))]
    assert len(pids) == 3
    expected_rss = sum(psutil.Process(pid).memory_info().rss for pid in pids)
    assert (sample.job, sample.time, sample.num_procs) == ("top.job", 2.0, 3)
    assert 0.9 * expected_rss <= sample.rss <= 1.1 * expected_rss
    assert sample.rss > 3 * 2**20
    assert sample.vms > sample.rss
    assert monitor.remove("top.job") == TreeStats(peak_rss=sample.rss, samples=1)
    assert monitor.sweep() == []


def test_cpu_percent_is_tree_cpu_time_over_wall_time() -> None:
    busy = """
        import time
        while time.process_time() < 0.3:
            pass
        print('ready', flush=True)
        time.sleep(60)
    """
    clock = FakeClock()
    monitor = Monitor(Recorder(), clock=clock)
    proc = _spawn(busy)
    try:
        monitor.add("busy", proc.pid)
        clock.now = 1.0
        [first] = monitor.sweep()
        clock.now = 2.0
        [second] = monitor.sweep()
    finally:
        _stop(proc)
    # ~0.3 s of cpu (plus interpreter start-up) over 1 s of wall time, then idle.
    assert 25 <= first.cpu_percent < 70  # /proc counts whole 10 ms ticks
    assert second.cpu_percent < 5
    assert monitor.remove("busy").samples == 2


def test_finished_process_yields_no_sample() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    monitor = Monitor(Recorder())
    monitor.add("done", proc.pid)
    assert monitor.sweep() == []
    assert monitor.remove("done") == TreeStats()
    assert monitor.remove("never-added") == TreeStats()


async def test_run_emits_samples_for_added_jobs(tree: subprocess.Popen[str]) -> None:
    sink = Recorder()
    monitor = Monitor(sink, interval_s=0.01)
    async with asyncio.TaskGroup() as group:
        sampling = group.create_task(monitor.run())
        await asyncio.sleep(0)  # let run() start idle, so add() has to wake it
        monitor.add("top.job", tree.pid)
        await sink.until(lambda: len(sink.events) >= 2)
        stats = monitor.remove("top.job")
        sampling.cancel()
    samples = [e for e in sink.events if isinstance(e, JobSampled)]
    assert samples == sink.events
    assert all(s.job == "top.job" and s.num_procs == 3 for s in samples)
    assert stats.samples >= len(samples)
    assert stats.peak_rss >= max(s.rss for s in samples)


def test_sweep_of_16_jobs_is_cheap() -> None:
    """16 running jobs sampled once a second must cost under 2% of one core."""
    procs = [subprocess.Popen(["sleep", "30"]) for _ in range(16)]
    try:
        monitor = Monitor(Recorder())
        for i, proc in enumerate(procs):
            monitor.add(f"job{i}", proc.pid)
        assert len(monitor.sweep()) == 16
        start = time.thread_time()
        for _ in range(20):
            monitor.sweep()
        per_sweep_s = (time.thread_time() - start) / 20
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    print(f"one sweep of 16 jobs: {per_sweep_s * 1e3:.2f} ms of cpu")
    assert per_sweep_s < 0.02


async def test_a_short_job_is_sampled_soon_after_it_starts(tree: subprocess.Popen[str]) -> None:
    # The interval is long: only the first, early sample can see a job of a fraction of a second.
    sink = Recorder()
    monitor = Monitor(sink, interval_s=60.0)
    async with asyncio.TaskGroup() as group:
        sampling = group.create_task(monitor.run())
        added = time.time()
        monitor.add("top.job", tree.pid)
        await sink.until(lambda: len(sink.events) >= 1)
        sampling.cancel()
    [sample] = sink.events
    assert isinstance(sample, JobSampled)
    assert sample.time - added < 0.5  # first_s is 20 ms; the rest is a loaded host's slack
    assert monitor.remove("top.job").peak_rss == sample.rss


def test_the_pace_doubles_up_to_the_interval() -> None:
    clock = FakeClock()
    monitor = Monitor(Recorder(), interval_s=0.1, first_s=0.02, batch_s=0.0, clock=clock)
    monitor.add("me", os.getpid())
    gaps = []
    for _ in range(5):
        before = clock.now
        clock.now = monitor.next_due()
        gaps.append(round(clock.now - before, 3))
        assert len(monitor.sweep(due=True)) == 1
    assert gaps == [0.02, 0.04, 0.08, 0.1, 0.1]


def test_jobs_due_together_share_one_sweep() -> None:
    clock = FakeClock()
    monitor = Monitor(Recorder(), interval_s=1.0, first_s=0.02, batch_s=0.02, clock=clock)
    for i in range(100):  # a thousand jobs a second: one every millisecond
        clock.now = i * 0.001
        monitor.add(f"job{i}", os.getpid())
    clock.now = 0.1
    assert len(monitor.sweep(due=True)) == 100
    assert monitor.sweeps == 1
    assert monitor.sweep(due=True) == []  # none due again for another 40 ms
