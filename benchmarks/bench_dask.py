"""Throughput of the dask backend: 1,000 trivial jobs on a 2-worker LocalCluster vs local.

Run: ``.venv/bin/python benchmarks/bench_dask.py [--jobs N] [--parallel P] [--repeat R]``.
Both backends go through ``gn.run`` with the same ``--parallel``; the cluster is started
once, outside the timing (its start-up is printed on its own line).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import textwrap
import time
from pathlib import Path

import gator_nb as gn

__all__ = ["main"]


def _spec(work: Path, jobs: int) -> Path:
    path = work / "trivial.yaml"
    path.write_text(
        textwrap.dedent(f"""
            !JobArray
              id: t
              repeats: {jobs}
              jobs: [!Job {{id: j, command: "true"}}]
        """)
    )
    return path


def _rate(spec: Path, work: Path, jobs: int, repeat: int, **options: object) -> float:
    """Best jobs/s over ``repeat`` runs."""
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        run = gn.run(spec, runs_dir=work / "runs", **options)
        elapsed = time.perf_counter() - start
        assert run.status == "passed", run.status
        best = max(best, jobs / elapsed)
    return best


def main() -> None:
    """Print jobs/s for the local backend and for the dask backend, side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    from distributed import LocalCluster

    work = Path(tempfile.mkdtemp(prefix="gator-bench-dask-"))
    spec = _spec(work, options.jobs)
    n, parallel = options.jobs, options.parallel
    local = _rate(spec, work, n, options.repeat, parallel=parallel)
    start = time.perf_counter()
    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2,
        threads_per_worker=-(-parallel // 2),
        processes=True,
        dashboard_address="127.0.0.1:0",
        memory_limit=0,
        silence_logs=logging.ERROR,
    ) as cluster:
        up = time.perf_counter() - start
        dask = _rate(
            spec, work, n, options.repeat, parallel=parallel, backend="dask",
            scheduler=cluster.scheduler_address,
        )  # fmt: skip
    print(f"{n} trivial jobs, --parallel {parallel}, best of {options.repeat}:")
    print(f"  local backend            {local:8.1f} jobs/s")
    print(f"  dask, 2-worker cluster   {dask:8.1f} jobs/s  ({dask / local:.2f} x local)")
    print(f"  (LocalCluster start-up   {up:8.2f} s, not counted)")


if __name__ == "__main__":  # the cluster's worker processes re-import this module
    main()
