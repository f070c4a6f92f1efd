"""`--cluster slurm` on a real one-node Slurm (the tests' own, from tests/slurm.py).

Run: ``.venv/bin/python benchmarks/bench_slurm.py [--repeat R]`` as root on Debian (it
installs Slurm with apt when missing). Prints, best of R:

- first job: from `gator run` starting to the first job's start, an empty cluster;
- workers: from asking dask-jobqueue for one / two batch jobs to their workers joining;
- the regression example at ``-j 2``: `gator run --cluster slurm` against the local backend.

Every run is a `gator` process with its own DASK_CONFIG, as in tests/test_slurm.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))
import gator_nb as gn
from tests import slurm as slurm_setup  # the tests' own one-node Slurm

__all__ = ["main"]

ROOT = Path(__file__).parent.parent
JOBQUEUE = """\
jobqueue:
  slurm:
    cores: {cores}
    processes: 1
    memory: {memory}
    queue: debug
    walltime: "00:30:00"
    local-directory: {root}/local
    log-directory: {root}/logs
    worker-extra-args: ["--resources", "CORES={cores}"]
"""


def _config(work: Path, cores: int) -> dict[str, str]:
    directory = work / f"dask-{cores}"
    directory.mkdir(exist_ok=True)
    memory = f"{cores}GB"
    (directory / "jobqueue.yaml").write_text(JOBQUEUE.format(root=work, cores=cores, memory=memory))
    return {"DASK_CONFIG": str(directory)}


def _gator(env: dict[str, str], work: Path, spec: Path, *args: str) -> tuple[float, gn.Run]:
    runs = work / "runs"
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gator_nb", "run", str(spec), "--runs-dir", str(runs), "-q", *args],
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start, gn.load("latest", runs)


def _first_job(env: dict[str, str], work: Path) -> float:
    spec = work / "one.yaml"
    spec.write_text("!Job {id: j, command: 'true'}\n")
    _, run = _gator(env, work, spec, "--cluster", "slurm")
    with run._reader() as reader:
        began = reader.run_info()["start"]
    return float(run.jobs["start"].min().timestamp() - began)


def _workers(env: dict[str, str], jobs: int) -> float:
    """dask-jobqueue alone: scale(jobs=N), then wait for N workers (a fresh process)."""
    code = textwrap.dedent(f"""
        import time
        from dask_jobqueue import SLURMCluster
        from distributed import Client
        with SLURMCluster(scheduler_options={{"dashboard_address": ":0"}}) as cluster:
            with Client(cluster) as client:
                start = time.perf_counter()
                cluster.scale(jobs={jobs})
                client.wait_for_workers({jobs})
                print(time.perf_counter() - start)
    """)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.split()[-1])


def main() -> None:
    """Print the figures above."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    with slurm_setup.one_node_slurm() as slurm, tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        whole = {**slurm.env, **_config(work, 2)}
        halves = {**slurm.env, **_config(work, 1)}
        first = min(_first_job(whole, work) for _ in range(repeat))
        print(f"first job after `gator run` starts (empty cluster): {first:.2f} s")
        for jobs in (1, 2):
            took = min(_workers(halves, jobs) for _ in range(repeat))
            print(f"scale(jobs={jobs}) until {jobs} worker(s) joined: {took:.2f} s")
        spec = ROOT / "examples" / "regression.yaml"
        for label, env, args in (
            ("local", dict(os.environ), ()),
            ("--cluster slurm, one 2-core worker", whole, ("--cluster", "slurm")),
            ("--cluster slurm, two 1-core workers", halves, ("--cluster", "slurm")),
        ):
            took = min(_gator(env, work, spec, "-j", "2", *args)[0] for _ in range(repeat))
            print(f"regression example, -j 2, {label}: {took:.1f} s")


if __name__ == "__main__":
    main()
