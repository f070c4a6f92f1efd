"""Loading a big finished run: 10,000 jobs and 10,000,000 log lines.

Writes a synthetic run through the real StoreWriter (the engine's own event types), then
times what triage does: ``run.jobs``, ``run.failures()``, ``run.messages_of(job)`` and
the WARNING+ messages of every job, which must not read every line.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import gator_nb as gn
from gator_nb.events import (
    JobFinished,
    JobOutput,
    JobSampled,
    JobStarted,
    LineBlock,
    Message,
    RunFinished,
    Severity,
    Status,
)
from gator_nb.store import GroupRow, JobRow, RunInfo, StoreWriter

JOBS, LINES, PER_BLOCK = 10_000, 1_000, 500


def write(run_dir: Path) -> None:
    writer = StoreWriter(run_dir)
    rows = [
        JobRow(
            job=f"top.tests[{i}].sim",
            group=f"top.tests[{i}]",
            index=i,
            array_index=i,
            command="sim",
            argv=("sim",),
            cwd="/",
            env={},
            cores=1,
            memory=None,
            licenses=(),
            timeout_s=None,
            depends=(),
        )
        for i in range(JOBS)
    ]
    groups = [
        GroupRow(path="top", parent=None, kind="group", index=0, array_index=None),
        GroupRow(path="top.tests", parent="top", kind="array", index=1, array_index=None),
    ]
    groups += [
        GroupRow(
            path=f"top.tests[{i}]", parent="top.tests", kind="copy", index=i + 2, array_index=i
        )
        for i in range(JOBS)
    ]
    writer.begin(
        RunInfo(
            id=run_dir.name,
            spec="big.yaml",
            spec_text="",
            start=0.0,
            cwd="/",
            argv=(),
            hostname="h",
        ),
        rows,
        groups,
    )
    line = b"UVM_INFO tb.sv(40) @ 1234: uvm_test_top.env.agent [DRV] sent addr=0x0000abcd\n"
    data = line * PER_BLOCK
    for i, row in enumerate(rows):
        writer.put(
            JobStarted(job=row.job, time=1.0, pid=i, command=("sim",), cwd="/", hostname="h")
        )
        blocks = tuple(
            LineBlock(
                stream="stdout",
                time=2.0,
                first_line=first,
                count=PER_BLOCK,
                data=data,
                messages=(
                    Message(line_no=first + 7, severity=Severity.WARNING, text="UVM_WARNING slow"),
                ),
            )
            for first in range(0, LINES, PER_BLOCK)
        )
        writer.put(JobOutput(job=row.job, blocks=blocks))
        writer.put(
            JobSampled(
                job=row.job,
                time=2.0,
                cpu_percent=99.0,
                rss=2**26,
                vms=2**27,
                num_procs=1,
                read_bytes=0,
                write_bytes=0,
            )
        )
        failed = i % 97 == 0
        writer.put(
            JobFinished(
                job=row.job,
                time=3.0,
                status=Status.FAILED if failed else Status.PASSED,
                exit_code=1 if failed else 0,
                lines=LINES,
                reason="exit-code" if failed else "",
                first_error=f"UVM_ERROR tb.sv(9) @ {i}: bad 0x{i:x}" if failed else "",
            )
        )
    writer.put(RunFinished(time=4.0, status=Status.FAILED))
    writer.close()


def timed(label: str, action: object) -> object:
    start = time.perf_counter()
    result = action()  # type: ignore[operator]
    print(f"{label}: {time.perf_counter() - start:.3f}s")
    return result


def main() -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="gator-load-")) / "20260101-000000-big0"
    start = time.perf_counter()
    write(run_dir)
    size = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
    print(
        f"wrote {JOBS:,} jobs x {LINES:,} lines in {time.perf_counter() - start:.1f}s, "
        f"{size / 2**20:.0f} MiB on disk"
    )
    run = gn.load(run_dir)
    jobs = timed("run.jobs (10,000 rows)", lambda: run.jobs)
    assert len(jobs) == JOBS  # type: ignore[arg-type]
    timed("run.failures() with buckets", run.failures)
    timed("run.messages_of(one job) WARNING+", lambda: run.messages_of("top.tests[5000].sim"))
    warnings = timed("WARNING+ of all jobs (no raw reads)", lambda: run.messages_of(None))
    print(f"  {len(warnings):,} rows")  # type: ignore[arg-type]
    timed("every line of one job (1,000)", lambda: run.messages_of("top.tests[1].sim", None))


if __name__ == "__main__":
    sys.exit(main())
