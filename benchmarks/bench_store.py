"""Micro benchmark of the run store: write 1,000,000 lines, read them all back.

Run: ``.venv/bin/python benchmarks/bench_store.py [--lines N] [--jobs J]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from gator_nb.events import JobFinished, JobOutput, JobStarted, LineBlock, Message, Severity, Status
from gator_nb.store import JobRow, RunInfo, StoreReader, StoreWriter

__all__ = ["main"]

BLOCK_LINES = 800
MESSAGE_EVERY = 50  # 2% of lines are WARNING or ERROR


def _events(jobs: int, lines_per_job: int) -> list[JobOutput]:
    events = []
    for j in range(jobs):
        for first in range(0, lines_per_job, BLOCK_LINES):
            count = min(BLOCK_LINES, lines_per_job - first)
            raw = [
                b"UVM_INFO tb/top.sv(%d) @ %d: uvm_test_top [SEQ] item %d sent"
                % (i % 997, i * 10, i)
                for i in range(first, first + count)
            ]
            messages = tuple(
                Message(
                    line_no=i,
                    severity=Severity.ERROR if i % 100 == 0 else Severity.WARNING,
                    text=raw[i - first].decode(),
                )
                for i in range(first, first + count)
                if i % MESSAGE_EVERY == 0
            )
            data = b"\n".join(raw) + b"\n"
            block = LineBlock(
                stream="stdout",
                time=float(first),
                first_line=first,
                count=count,
                data=data,
                messages=messages,
            )
            events.append(JobOutput(job=f"bench.job[{j}]", blocks=(block,)))
    return events


def _plan(jobs: int) -> list[JobRow]:
    return [
        JobRow(job=f"bench.job[{j}]", group="bench", index=j, array_index=j, command="sim",
               argv=("sim",), cwd="/", env={}, cores=1, memory=None, licenses=(),
               timeout_s=None, depends=())
        for j in range(jobs)
    ]  # fmt: skip


def main() -> None:
    """Write and read back the lines; print lines/s both ways."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=10)
    args = parser.parse_args()
    per_job = args.lines // args.jobs
    total = per_job * args.jobs
    events = _events(args.jobs, per_job)
    run = RunInfo(id="bench", spec="bench.yaml", spec_text="", start=time.time(), cwd="/",
                  argv=(), hostname="localhost")  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "bench"
        writer = StoreWriter(run_dir)
        writer.begin(run, _plan(args.jobs), [])
        t0 = time.perf_counter()
        for j in range(args.jobs):
            writer.put(JobStarted(job=f"bench.job[{j}]", time=0.0, pid=1, command=("sim",),
                                  cwd="/", hostname="localhost"))  # fmt: skip
        for event in events:
            writer.put(event)
        for j in range(args.jobs):
            writer.put(JobFinished(job=f"bench.job[{j}]", time=1.0, status=Status.PASSED,
                                   lines=per_job))  # fmt: skip
        put_s = time.perf_counter() - t0
        writer.close()
        write_s = time.perf_counter() - t0

        with StoreReader(run_dir) as reader:
            t0 = time.perf_counter()
            read = sum(1 for _ in reader.messages())
            read_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            flagged = sum(1 for _ in reader.messages(min_severity=Severity.WARNING))
            flagged_s = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())

    assert read == total, (read, total)
    print(f"{total:,} lines in {len(events):,} blocks over {args.jobs} jobs, {size / 1e6:.0f} MB")
    print(f"write: {total / write_s:12,.0f} lines/s ({write_s:.2f} s; put() {put_s:.3f} s)")
    print(f"read all lines:  {total / read_s:12,.0f} lines/s ({read_s:.2f} s)")
    print(
        f"read {flagged:,} WARNING+ rows: {flagged / flagged_s:12,.0f} rows/s ({flagged_s:.3f} s)"
    )


if __name__ == "__main__":
    main()
