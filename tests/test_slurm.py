"""`gator run --cluster slurm` against a real one-node Slurm: the same results as locally,
jobs inside Slurm allocations, lost batch jobs handled, Ctrl-C leaves nothing behind.

Each run is a `gator` process with a Dask config of its own (DASK_CONFIG): importing
dask-jobqueue in this process would write ~/.config/dask/jobqueue.yaml.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import signal
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

import gator_nb as gn
from tests import slurm as slurm_setup

if importlib.util.find_spec("dask_jobqueue") is None:  # not imported here: see above
    pytest.skip("dask-jobqueue is not installed", allow_module_level=True)

pytestmark = pytest.mark.slurm  # `-m "not slurm"` for a quick loop; `make test` runs them

PY = sys.executable
EXAMPLES = Path(__file__).parent.parent / "examples"
# One batch job = one Dask worker with two threads and CORES=2: the whole 2-CPU node, so
# a second batch job waits in Slurm's queue until the first one ends.
JOBQUEUE = """\
jobqueue:
  slurm:
    cores: 2
    processes: 1
    memory: 2GB
    queue: debug
    walltime: "00:30:00"
    death-timeout: 30
    local-directory: {root}/local
    log-directory: {root}/logs
    worker-extra-args: ["--resources", "CORES=2"]
"""
# The job says "ready" (and its pid, and its worker's), then waits until the run ends.
WAITS = (
    "import os, time; print('ready', os.getpid(), os.getppid(), flush=True)\n"
    "while True: time.sleep(1)"
)


@pytest.fixture(scope="module")
def slurm() -> Iterator[slurm_setup.Slurm]:
    try:
        with slurm_setup.one_node_slurm() as running:
            yield running
    except slurm_setup.Unavailable as exc:
        pytest.skip(f"no Slurm for these tests: {exc}")


@dataclass
class Gator:
    """A `gator run` process; its output lines as they come."""

    process: asyncio.subprocess.Process
    lines: list[str]

    async def until(self, pattern: str) -> re.Match[str]:
        """The first line (already read, or read now) that matches ``pattern``."""
        assert self.process.stdout is not None
        for line in self.lines:
            if found := re.search(pattern, line):
                return found
        while raw := await self.process.stdout.readline():
            self.lines.append(raw.decode())
            if found := re.search(pattern, self.lines[-1]):
                return found
        raise AssertionError(f"gator ended without printing {pattern!r}: {self.lines}")

    async def end(self) -> tuple[int, str]:
        """Exit code and stderr, once it exits."""
        out, err = await self.process.communicate()
        self.lines += out.decode().splitlines(keepends=True)
        assert self.process.returncode is not None
        return self.process.returncode, err.decode()


async def gator(
    slurm: slurm_setup.Slurm, tmp_path: Path, spec: Path, *args: str, config: str = JOBQUEUE
) -> Gator:
    """`gator run SPEC --cluster slurm ARGS`, with ``config`` as its jobqueue.yaml."""
    directory = tmp_path / "dask"
    directory.mkdir(exist_ok=True)
    (directory / "jobqueue.yaml").write_text(config.format(root=tmp_path))
    env = {**slurm.env, "DASK_CONFIG": str(directory)}
    process = await asyncio.create_subprocess_exec(
        PY, "-m", "gator_nb", "run", str(spec), "--cluster", "slurm",
        "--runs-dir", str(tmp_path / "runs"), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    return Gator(process, [])


async def no_jobs_left(slurm: slurm_setup.Slurm) -> None:
    """squeue empties: gator closed its cluster, which cancels its batch jobs."""
    assert await asyncio.to_thread(slurm.wait_for_no_jobs, 15) == []


def write(tmp_path: Path, text: str, **subs: str) -> Path:
    text = textwrap.dedent(text).replace("PY", PY)
    for name, value in subs.items():
        text = text.replace(name, value)
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


@pytest.mark.timeout(240)
async def test_the_regression_example_gives_the_same_results_as_locally(
    slurm: slurm_setup.Slurm, tmp_path: Path
) -> None:
    spec = EXAMPLES / "regression.yaml"
    remote = await gator(slurm, tmp_path, spec, "-j", "2", "-q")
    local = await asyncio.to_thread(
        gn.run, spec, parallel=2, runs_dir=tmp_path / "local", sample_interval=0.2
    )
    code, err = await remote.end()
    assert (code, err) == (1, "")
    await no_jobs_left(slurm)
    columns = ["job", "status", "reason", "exit_code", "warnings", "errors", "first_error"]

    def results(run: gn.Run) -> list[tuple[object, ...]]:
        frame = run.jobs.sort_values("job")[columns].astype(object)
        return [tuple(row) for row in frame.itertuples(index=False)]

    assert results(gn.load("latest", tmp_path / "runs")) == results(local)
    assert local.status == "failed"


@pytest.mark.timeout(180)
async def test_jobs_run_inside_slurm_allocations(slurm: slurm_setup.Slurm, tmp_path: Path) -> None:
    script = (
        "import psutil\n"
        "me = psutil.Process()\n"
        "print('ancestry', *[p.name() for p in me.parents()])\n"
        "print('worker', me.parent().environ().get('SLURM_JOB_ID'))\n"
    )
    spec = write(tmp_path, "!Job {id: where, command: PY, args: [-c, SCRIPT]}", SCRIPT=repr(script))
    code, err = await (await gator(slurm, tmp_path, spec, "-q")).end()
    assert (code, err) == (0, "")
    log = gn.load("latest", tmp_path / "runs").log("where")
    ancestry = re.search(r"ancestry (.*)", log)
    assert ancestry and "slurmstepd" in ancestry.group(1).split(), log
    assert re.search(r"^worker \d+$", log, re.M), log  # the Dask worker is a Slurm job
    await no_jobs_left(slurm)


@pytest.mark.timeout(180)
async def test_scancel_of_the_workers_mid_run(slurm: slurm_setup.Slurm, tmp_path: Path) -> None:
    """The worker's batch job is cancelled while it runs two jobs and has others queued:
    the running jobs' attempts are lost (one of them retries and passes as attempt 2),
    the queued jobs run on the next batch job, once each, as attempt 1."""
    marker = tmp_path / "again-ran-once"
    again = (
        f"import os, sys\nif os.path.exists({str(marker)!r}): sys.exit(0)\n"
        f"open({str(marker)!r}, 'w').close()\n" + WAITS
    )
    spec = write(
        tmp_path,
        """
        !JobGroup
          id: top
          resources: [!Cores [1]]
          jobs:
            - !Job {id: lost, command: PY, args: [-c, WAITS]}
            - !Job {id: again, retries: 1, command: PY, args: [-c, AGAIN]}
            - !JobArray
                id: q
                repeats: 4
                jobs: [!Job {id: j, command: PY, args: [-c, "print('quick')"]}]
        """,
        WAITS=repr(WAITS),
        AGAIN=repr(again),
    )
    run = await gator(slurm, tmp_path, spec, "-j", "4", "-v")
    try:
        async with asyncio.timeout(90):
            await run.until(r"\[top\.lost\] ready")
            await run.until(r"\[top\.again\] ready")
        squeue = ("squeue", "-h", "-t", "R", "-o", "%i")
        running = (await asyncio.to_thread(slurm.run, *squeue)).split()
        assert len(running) == 1  # the other batch job gator asked for waits for the node
        await asyncio.to_thread(slurm.run, "scancel", *running)
        async with asyncio.timeout(90):
            code, err = await run.end()
    finally:
        if run.process.returncode is None:
            run.process.kill()
            await run.process.wait()
    assert code == 1, (run.lines, err)
    jobs = gn.load("latest", tmp_path / "runs").jobs.set_index("job")
    assert jobs.loc["top.lost", ["status", "reason"]].tolist() == ["failed", "worker-lost"]
    assert jobs.loc["top.again", ["status", "attempt"]].tolist() == ["passed", 2]
    quick = jobs.loc[[f"top.q[{i}].j" for i in range(4)]]
    assert quick["status"].tolist() == ["passed"] * 4
    assert quick["attempt"].tolist() == [1] * 4
    starts = [line.split()[1] for line in run.lines if line.startswith("start")]
    assert sorted(s for s in starts if ".q[" in s) == [f"top.q[{i}].j" for i in range(4)]
    await no_jobs_left(slurm)


@pytest.mark.timeout(180)
async def test_a_lost_batch_job_is_replaced(slurm: slurm_setup.Slurm, tmp_path: Path) -> None:
    """One batch job is all the run asked for: once it is cancelled, only the one gator
    submits in its place can run the job that waited for the lost one."""
    spec = write(
        tmp_path,
        """
        !JobGroup
          id: top
          jobs:
            - !Job {id: lost, command: PY, args: [-c, WAITS]}
            - !Job {id: after, on_done: [lost], command: PY, args: [-c, "print('after')"]}
        """,
        WAITS=repr(WAITS),
    )
    run = await gator(slurm, tmp_path, spec, "-j", "2", "-v")
    try:
        async with asyncio.timeout(60):
            await run.until(r"\[top\.lost\] ready")
        (first,) = (await asyncio.to_thread(slurm.run, "squeue", "-h", "-o", "%i")).split()
        await asyncio.to_thread(slurm.run, "scancel", first)
        async with asyncio.timeout(60):
            code, err = await run.end()
    finally:
        if run.process.returncode is None:
            run.process.kill()
            await run.process.wait()
    assert code == 1, (run.lines, err)
    jobs = gn.load("latest", tmp_path / "runs").jobs.set_index("job")
    assert jobs.loc["top.lost", ["status", "reason"]].tolist() == ["failed", "worker-lost"]
    assert jobs.loc["top.after", "status"] == "passed"
    await no_jobs_left(slurm)


@pytest.mark.timeout(180)
async def test_ctrl_c_leaves_no_process_and_no_slurm_job(
    slurm: slurm_setup.Slurm, tmp_path: Path
) -> None:
    spec = write(tmp_path, "!Job {id: slow, command: PY, args: [-c, WAITS]}", WAITS=repr(WAITS))
    run = await gator(slurm, tmp_path, spec, "-v")
    async with asyncio.timeout(60):
        ready = await run.until(r"\[slow\] ready (\d+) (\d+)")
    pids = [int(ready.group(1)), int(ready.group(2))]  # the job, and its Dask worker
    started = time.monotonic()
    run.process.send_signal(signal.SIGINT)
    async with asyncio.timeout(30):
        code, err = await run.end()
    assert code == 130, err
    assert time.monotonic() - started < 15
    await no_jobs_left(slurm)
    assert [pid for pid in pids if psutil.pid_exists(pid) and not _zombie(pid)] == []


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.timeout(180)  # the first test to run may install and start Slurm
async def test_a_batch_job_slurm_refuses_is_one_line_and_exit_2(
    slurm: slurm_setup.Slurm, tmp_path: Path
) -> None:
    spec = write(tmp_path, "!Job {id: j, command: 'true'}")
    run = await gator(slurm, tmp_path, spec, config=JOBQUEUE.replace("debug", "nosuchqueue"))
    async with asyncio.timeout(30):
        code, err = await run.end()
    assert code == 2
    assert err.startswith(
        "gator: the slurm cluster cannot start a worker: sbatch: error: Batch job submission"
        " failed: Invalid partition name specified: 1 job(s) failed with it"
    ), err
    assert err.count("\n") == 1, err


async def test_a_jobqueue_config_without_a_job_shape_is_one_line_and_exit_2(
    tmp_path: Path,
) -> None:
    """No cores or memory: dask-jobqueue cannot shape a batch job (no Slurm needed)."""
    (tmp_path / "dask").mkdir()
    (tmp_path / "dask" / "jobqueue.yaml").write_text("jobqueue:\n  slurm:\n    queue: debug\n")
    spec = write(tmp_path, "!Job {id: j, command: 'true'}")
    process = await asyncio.create_subprocess_exec(
        PY, "-m", "gator_nb", "run", str(spec), "--cluster", "slurm",
        "--runs-dir", str(tmp_path / "runs"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**slurm_setup.user_environ(), "DASK_CONFIG": str(tmp_path / "dask")},
    )  # fmt: skip
    async with asyncio.timeout(30):
        _, err = await process.communicate()
    assert process.returncode == 2
    lines = err.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("gator: cannot build the slurm cluster from the Dask config"), lines
