"""The dask backend against real process workers: same results, live events, failures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import psutil
import pytest

import gator_nb as gn
from gator_nb.engine.backends import open_backend
from gator_nb.engine.launch import Limits
from gator_nb.engine.monitor import Monitor
from gator_nb.engine.schedule import run_plan
from gator_nb.errors import LaunchError
from gator_nb.events import Event, JobFinished, JobOutput, JobSampled, JobStarted, Status
from gator_nb.spec import plan
from gator_nb.spec.plan import Plan
from tests.recorder import Recorder as BaseRecorder

distributed = pytest.importorskip("distributed")
import dask.config  # noqa: E402 - after the skip: dask comes with distributed

PY = sys.executable
EXAMPLES = Path(__file__).parent.parent / "examples"
# A job that says it is ready, then waits (polling, it is the job) for a file to appear.
WAIT_FOR = (
    "import os, time; print('ready', flush=True)\n"
    "while not os.path.exists({path!r}): time.sleep(0.02)"
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """Two process workers that declare CORES=2 each; shared by the tests below."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=True,
        dashboard_address="127.0.0.1:0",
        memory_limit=0,
        resources={"CORES": 2},
    ) as local:
        yield local.scheduler_address


class Recorder(BaseRecorder):
    """Events of a run, with each job's start and end by path."""

    def finished(self) -> dict[str, JobFinished]:
        return {e.job: e for e in self.events if isinstance(e, JobFinished)}

    def started(self) -> dict[str, JobStarted]:
        return {e.job: e for e in self.events if isinstance(e, JobStarted)}


def planned(text: str, tmp_path: Path, **subs: str) -> Plan:
    text = textwrap.dedent(text).replace("PY", PY)
    for name, value in subs.items():
        text = text.replace(name, value)
    spec = gn.load_spec(text=text)
    return plan(spec, cwd=str(tmp_path), run_id="r", run_dir=str(tmp_path / "run"))


async def run_on_dask(
    plan_: Plan, sink: Recorder, scheduler: Any, limits: Limits | None = None
) -> Status:
    limits = limits or Limits(parallel=4)
    monitor = Monitor(sink, interval_s=0.05)
    async with open_backend("dask", monitor=monitor, limits=limits, scheduler=scheduler) as backend:
        return await run_plan(plan_, sink, backend, limits=limits)


def said(job: str, text: str) -> Callable[[Event], bool]:
    return lambda e: (
        isinstance(e, JobOutput) and e.job == job and any(text in b.data.decode() for b in e.blocks)
    )


def licensed(job: str, licence: str, seats: int, args: str = "[-c, SCRIPT]") -> str:
    """A one-job spec that needs ``seats`` of ``licence`` and runs Python with ``args``."""
    return f"""
        !Job
          id: {job}
          resources: [!License [{licence}, {seats}]]
          command: PY
          args: {args}
        """


async def waiting_job(
    tmp_path: Path,
    scheduler: Any,
    job: str = "slow",
    spec: str = "!Job {id: slow, command: PY, args: [-c, SCRIPT]}",
    limits: Limits | None = None,
    ready_s: float = 20,
) -> tuple[Recorder, asyncio.Task[Status], int]:
    """Start a run whose ``job`` says "ready", then waits for ever; its sink, task and pid."""
    plan_ = planned(spec, tmp_path, SCRIPT=repr(WAIT_FOR.format(path=str(tmp_path / "never"))))
    sink = Recorder()
    running = asyncio.create_task(run_on_dask(plan_, sink, scheduler, limits))
    await sink.first(said(job, "ready"), timeout_s=ready_s)
    return sink, running, sink.started()[job].pid


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def ended(pid: int, timeout_s: float = 15) -> None:
    """Wait for ``pid`` to exit (a pidfd works for processes that are not our children)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, exited.set_result, None)
    try:
        async with asyncio.timeout(timeout_s):
            await exited
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def worker_of(pid: int) -> int:
    """The worker process running job ``pid``: its launcher's parent (the launcher forks jobs)."""
    parent = psutil.Process(pid).parent()
    assert parent is not None
    if any(part.endswith("launcher_server.py") for part in parent.cmdline()):
        grandparent = parent.parent()
        assert grandparent is not None
        return grandparent.pid
    return parent.pid


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


# -- same results as the local backend ------------------------------------------------


def test_tree_example_matches_the_local_backend(tmp_path: Path) -> None:
    """scheduler=None starts (and closes) a LocalCluster; the frames come out the same."""
    runs = {}
    for backend in ("local", "dask"):
        runs[backend] = gn.run(
            EXAMPLES / "tree.yaml",
            runs_dir=tmp_path / backend,
            backend=backend,
            parallel=2,
            sample_interval=0.05,
        )
    local, remote = runs["local"], runs["dask"]
    assert (local.status, remote.status) == ("failed", "failed")

    def jobs(run: gn.Run) -> list[tuple[Any, ...]]:
        frame = run.jobs.sort_values("job")
        columns = ["job", "status", "exit_code", "warnings", "errors", "first_error", "hostname"]
        return [tuple(row) for row in frame[columns].astype(object).itertuples(index=False)]

    def messages(run: gn.Run) -> list[tuple[Any, ...]]:
        frame = run.messages[["job", "line", "severity", "stream", "message"]]
        return sorted(tuple(row) for row in frame.astype(object).itertuples(index=False))

    assert jobs(remote) == jobs(local)
    started = [row for row in jobs(remote) if row[1] != "skipped"]
    assert {row[6] for row in started} == {socket.gethostname()}
    assert messages(remote) == messages(local)
    assert ("tree.break_it", 0, "ERROR", "stdout", "ERROR: something broke") in messages(remote)
    local_samples, remote_samples = local.resources, remote.resources
    assert list(remote_samples.columns) == list(local_samples.columns)
    assert list(remote_samples.dtypes) == list(local_samples.dtypes)
    assert "tree.inner.pause" in set(remote_samples["job"])


# -- live events ----------------------------------------------------------------------


async def test_output_and_samples_arrive_while_the_job_runs(cluster: str, tmp_path: Path) -> None:
    release = tmp_path / "release"
    plan_ = planned(
        """
        !Job {id: slow, command: PY, args: [-c, SCRIPT]}
        """,
        tmp_path,
        SCRIPT=repr(WAIT_FOR.format(path=str(release))),
    )
    sink = Recorder()
    running = asyncio.create_task(run_on_dask(plan_, sink, cluster))
    # The job cannot end before `release` exists, so whatever arrives first came live.
    await sink.first(said("slow", "ready"))
    await sink.first(lambda e: isinstance(e, JobSampled) and e.job == "slow")
    started = sink.started()["slow"]
    assert psutil.Process(started.pid).ppid() != os.getpid()  # a worker's child, not ours
    assert started.hostname == socket.gethostname()
    assert not sink.finished()
    release.touch()
    assert await running == Status.PASSED
    kinds = [type(e).__name__ for e in sink.events if getattr(e, "job", None) == "slow"]
    assert kinds[0] == "JobStarted" and kinds[-1] == "JobFinished"
    assert sink.finished()["slow"].lines == 1


# -- resources ------------------------------------------------------------------------


async def test_licence_semaphore_holds_across_runs(cluster: str, tmp_path: Path) -> None:
    """Two runs, each allowed the one seat by its own engine: only Dask can serialise them."""
    spec = licensed("sim", "vcs", 1, args='[-c, "import time; time.sleep(0.3)"]')
    sinks = [Recorder(), Recorder()]
    limits = Limits(parallel=2, licenses={"vcs": 1})
    with distributed.Client(cluster, set_as_default=False) as client:
        statuses = await asyncio.gather(
            run_on_dask(planned(spec, tmp_path / "a"), sinks[0], cluster, limits),
            run_on_dask(planned(spec, tmp_path / "b"), sinks[1], client, limits),
        )
    assert list(statuses) == [Status.PASSED, Status.PASSED]
    spans = sorted((sink.started()["sim"].time, sink.finished()["sim"].time) for sink in sinks)
    assert spans[0][1] <= spans[1][0], spans


async def test_a_job_wanting_several_seats_does_not_hoard_them(
    cluster: str, tmp_path: Path
) -> None:
    """A 2-seat job that can get only one seat gives it back while it waits, so a 1-seat
    job of a third run is not held up behind it; it runs once both seats are free."""
    one_seat = licensed("sim", "questa", 1)
    two_seats = licensed("big", "questa", 2, args="[-c, \"print('big')\"]")
    release = tmp_path / "release"
    limits = Limits(parallel=2, licenses={"questa": 2})
    holder, wanting, small = Recorder(), Recorder(), Recorder()
    holds = planned(one_seat, tmp_path / "a", SCRIPT=repr(WAIT_FOR.format(path=str(release))))
    holding = asyncio.create_task(run_on_dask(holds, holder, cluster, limits))
    try:
        await holder.first(said("sim", "ready"))
        waiting = asyncio.create_task(
            run_on_dask(planned(two_seats, tmp_path / "b"), wanting, cluster, limits)
        )
        # Let the 2-seat job take the free seat and start waiting for the other one.
        await asyncio.wait((waiting,), timeout=0.5)
        assert not waiting.done()
        quick = planned(one_seat, tmp_path / "c", SCRIPT=repr("print('quick')"))
        async with asyncio.timeout(20):
            assert await run_on_dask(quick, small, cluster, limits) == Status.PASSED
        assert not holding.done()  # the seat came from the waiting 2-seat job
        assert wanting.started() == {}
    finally:
        release.touch()
    async with asyncio.timeout(30):
        assert await holding == Status.PASSED
        assert await waiting == Status.PASSED
    assert wanting.started()["big"].time >= holder.finished()["sim"].time


async def test_cores_become_dask_resources(cluster: str, tmp_path: Path) -> None:
    """Each worker declares CORES=2: three 2-core jobs never run three at once."""
    plan_ = planned(
        """
        !JobArray
          id: wide
          repeats: 3
          jobs:
            - !Job
                id: j
                resources: [!Cores [2]]
                command: PY
                args: [-c, "import time; time.sleep(0.4)"]
        """,
        tmp_path,
    )
    sink = Recorder()
    # The engine's own budget would let all three run: six cores.
    assert await run_on_dask(plan_, sink, cluster, Limits(parallel=6)) == Status.PASSED
    spans = sorted((s.time, sink.finished()[job].time) for job, s in sink.started().items())
    assert len(spans) == 3
    assert spans[2][0] >= min(end for _, end in spans[:2]), spans


# -- cancellation and failures --------------------------------------------------------


async def test_cancel_while_waiting_for_a_licence(cluster: str, tmp_path: Path) -> None:
    spec = licensed("sim", "xcelium", 1)
    release = tmp_path / "release"
    script = repr(WAIT_FOR.format(path=str(release)))
    holder, waiter = Recorder(), Recorder()
    limits = Limits(parallel=2, licenses={"xcelium": 1})
    holding = asyncio.create_task(
        run_on_dask(planned(spec, tmp_path / "a", SCRIPT=script), holder, cluster, limits)
    )
    await holder.first(said("sim", "ready"))
    waiting = asyncio.create_task(
        run_on_dask(planned(spec, tmp_path / "b", SCRIPT=script), waiter, cluster, limits)
    )
    try:
        # The second run's job asks the scheduler for the seat: let that request land.
        await asyncio.wait((waiting,), timeout=1.0)
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    finally:
        release.touch()
    assert await holding == Status.PASSED
    assert waiter.started() == {}
    assert waiter.finished()["sim"].status == Status.CANCELLED
    # The cancelled request for the seat left no lease behind to expire in 30 s: the
    # seat is free for the next run at once.
    later = planned(spec, tmp_path / "c", SCRIPT=repr("print('later')"))
    async with asyncio.timeout(10):
        assert await run_on_dask(later, Recorder(), cluster, limits) == Status.PASSED


async def test_cancel_stops_remote_process_groups(cluster: str, tmp_path: Path) -> None:
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('ready', child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    plan_ = planned(
        """
        !JobArray
          id: many
          repeats: 3
          jobs: [!Job {id: j, command: PY, args: [-c, SCRIPT]}]
        """,
        tmp_path,
        SCRIPT=repr(script),
    )
    sink = Recorder()
    running = asyncio.create_task(run_on_dask(plan_, sink, cluster, Limits(parallel=2)))
    pids = []
    for job in ("many[0].j", "many[1].j"):
        ready = await sink.first(said(job, "ready"))
        assert isinstance(ready, JobOutput)
        pids.append(int(ready.blocks[0].data.split()[1]))
        pids.append(sink.started()[job].pid)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert {job: e.status for job, e in sink.finished().items()} == {
        "many[0].j": Status.CANCELLED,
        "many[1].j": Status.CANCELLED,
        "many[2].j": Status.CANCELLED,
    }
    assert [pid for pid in pids if not gone(pid)] == []
    notes = [b.data for e in sink.events if isinstance(e, JobOutput) for b in e.blocks]
    assert b"gator: cancelled, sent SIGTERM to the process group\n" in notes


async def test_unreachable_scheduler_is_a_launch_error(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    plan_ = planned("!Job {id: j, command: 'true'}", tmp_path)
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}),
        pytest.raises(LaunchError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1"),
    ):
        await run_on_dask(plan_, Recorder(), f"tcp://127.0.0.1:{port}")


@pytest.fixture
def lonely_scheduler(
    tmp_path: Path,
) -> Iterator[tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    """A scheduler process and one worker process, either of which a test may stop."""
    scheduler = subprocess.Popen(
        [PY, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard"],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    worker = None
    try:
        assert scheduler.stderr is not None
        address = ""
        while not address:
            line = scheduler.stderr.readline().decode()
            assert line, "the scheduler exited before saying where it listens"
            found = re.search(r"Scheduler at:\s+(tcp://\S+)", line)
            address = found.group(1) if found else ""
        worker = subprocess.Popen(
            [PY, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny",
             "--no-dashboard"],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        yield address, scheduler, worker
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.kill()
                process.wait()
        if scheduler.stderr is not None:
            scheduler.stderr.close()


async def test_losing_the_scheduler_fails_the_run(
    lonely_scheduler: tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    address, scheduler, _ = lonely_scheduler
    sink, running, pid = await waiting_job(tmp_path, address)
    try:
        scheduler.kill()
        with pytest.raises(LaunchError, match="lost the connection to the Dask scheduler at"):
            await running
        finished = sink.finished()["slow"]
        assert (finished.status, finished.reason) == (Status.FAILED, "scheduler-lost")
        # Its worker shuts down without a scheduler, and stops the job on its way out.
        await ended(pid)
    finally:
        kill_group(pid)


async def test_a_worker_shutting_down_stops_its_jobs(
    lonely_scheduler: tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    address, _, worker = lonely_scheduler
    sink, running, pid = await waiting_job(tmp_path, address)
    try:
        worker.terminate()  # as a batch system does at the end of the worker's walltime
        await ended(pid)
        assert await running == Status.FAILED
    finally:
        kill_group(pid)
    finished = sink.finished()["slow"]
    assert (finished.status, finished.reason) == (Status.FAILED, "worker-lost")


async def test_killed_worker_fails_its_job_as_worker_lost(cluster: str, tmp_path: Path) -> None:
    """Last in the module: the nanny restarts the worker, but that takes a while."""
    spec = """
        !JobGroup
          id: top
          jobs:
            - !Job {id: victim, command: PY, args: [-c, SCRIPT]}
            - !Job {id: after, on_done: [victim], command: echo, args: [still here]}
        """
    sink, running, pid = await waiting_job(tmp_path, cluster, "top.victim", spec)
    try:
        os.kill(worker_of(pid), signal.SIGKILL)  # the worker running it
        assert await running == Status.FAILED
        await ended(pid)  # stopped by the dead worker's watchdog
    finally:
        kill_group(pid)
    victim, after = sink.finished()["top.victim"], sink.finished()["top.after"]
    assert (victim.status, victim.reason) == (Status.FAILED, "worker-lost")
    assert re.fullmatch(
        r"gator: the Dask worker t(cp|ls)://\S+ running this job was lost", victim.first_error
    )
    assert victim.lines == 2  # "ready", then gator's own line saying why
    assert after.status == Status.PASSED


async def test_own_cluster_fails_a_killed_workers_job_once(tmp_path: Path) -> None:
    """With no scheduler given, gator's own LocalCluster never reruns a lost job."""
    spec = "!Job {id: victim, command: PY, args: [-c, SCRIPT]}"
    # With no scheduler the run starts a cluster of its own first.
    sink, running, pid = await waiting_job(
        tmp_path, None, "victim", spec, Limits(parallel=1), ready_s=60
    )
    try:
        os.kill(worker_of(pid), signal.SIGKILL)  # the worker running it
        async with asyncio.timeout(60):
            assert await running == Status.FAILED
        await ended(pid)  # stopped by the dead worker's watchdog
    finally:
        kill_group(pid)
    victim = sink.finished()["victim"]
    assert (victim.status, victim.reason) == (Status.FAILED, "worker-lost")
    assert re.fullmatch(
        r"gator: the Dask worker t(cp|ls)://\S+ running this job was lost", victim.first_error
    )
    assert [type(e).__name__ for e in sink.events].count("JobStarted") == 1


async def test_peaks_on_a_worker_are_the_jobs_own(cluster: str, tmp_path: Path) -> None:
    from tests.test_launcher import PEAKS

    sink = Recorder()
    assert await run_on_dask(planned(PEAKS, tmp_path), sink, cluster) == Status.FAILED
    finished = sink.finished()
    big, nap = finished["top.big"], finished["top.nap"]
    assert 150 * 2**20 <= big.peak_rss <= 1.1 * 175 * 2**20 and big.peak_source == "launcher"
    assert 200_000 < nap.peak_rss < 8 * 2**20  # not the worker's size
    assert {e.job for e in sink.events if isinstance(e, JobSampled)} == {"top.big", "top.nap"}


def test_a_jobs_end_always_goes_with_the_reply_never_in_a_batch() -> None:
    from gator_nb.engine.dask_worker import _Outbox

    outbox = _Outbox(cast(Any, None), "tcp://worker")
    sampled = JobSampled(job="j", time=1.0, cpu_percent=0.0, rss=1, vms=1, num_procs=1,
                         read_bytes=0, write_bytes=0)  # fmt: skip
    finished = JobFinished(job="j", time=2.0, status=Status.PASSED)
    outbox.add(sampled)
    outbox.add(finished)
    assert outbox.tail() == (sampled, finished)
    outbox._pending.clear()  # what a batch timer firing now would take
    assert outbox.tail() == (finished,)
