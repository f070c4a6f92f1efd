"""The run store against real SQLite files, real log files and real processes."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gator_nb.errors import StoreError
from gator_nb.events import (
    JobFinished,
    JobOutput,
    JobSampled,
    JobStarted,
    LineBlock,
    Message,
    Reason,
    RunFinished,
    Severity,
    Status,
)
from gator_nb.store import (
    SCHEMA_VERSION,
    GroupRow,
    JobRow,
    RunInfo,
    StoreReader,
    StoreWriter,
    list_runs,
)

ROOT = Path(__file__).resolve().parents[1]
JOBS = ("top.build", "top.counting[0].echo_count", "top.counting[1].echo_count")


def run_info(run_id: str = "20261127-221503-7f3a", start: float = 1000.0) -> RunInfo:
    return RunInfo(
        id=run_id,
        spec="flow.yaml",
        spec_text="!JobGroup\nid: top\n",
        start=start,
        cwd="/tmp",
        argv=("gator", "run", "flow.yaml"),
        hostname="box",
    )


def plan() -> tuple[list[JobRow], list[GroupRow]]:
    jobs = [
        JobRow(
            job=path,
            group=path.rpartition(".")[0],
            index=i,
            array_index=None if i == 0 else i - 1,
            command=f"echo {i}",
            argv=("echo", str(i)),
            cwd="/tmp",
            env={"N": str(i)},
            cores=1,
            memory=None if i else 2**20,
            licenses=(("vcs", 1),) if i == 0 else (),
            timeout_s=5.0 if i == 0 else None,
            depends=(("pass", "top.build"),) if i else (),
        )
        for i, path in enumerate(JOBS)
    ]
    groups = [
        GroupRow(path="top", parent=None, kind="group", index=0, array_index=None),
        GroupRow(path="top.counting", parent="top", kind="array", index=1, array_index=None),
        *(GroupRow(path=f"top.counting[{i}]", parent="top.counting", kind="group", index=i,
                   array_index=i) for i in range(2)),
    ]  # fmt: skip
    return jobs, groups


def block(
    first: int,
    lines: list[bytes],
    *,
    stream: str = "stdout",
    time: float = 1.0,
    marks: dict[int, Severity] | None = None,
) -> LineBlock:
    marks = marks or {}
    return LineBlock(
        stream=stream,
        time=time,
        first_line=first,
        count=len(lines),
        data=b"".join(line + b"\n" for line in lines),
        messages=tuple(
            Message(line_no=first + i, severity=marks[i], text=lines[i].decode(errors="replace"))
            for i in sorted(marks)
        ),
    )


def started(job: str, time: float = 1.0) -> JobStarted:
    return JobStarted(
        job=job, time=time, pid=4242, command=("echo", "hi there"), cwd="/w", hostname="box"
    )


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[StoreWriter]:
    w = StoreWriter(tmp_path / "run", flush_s=0.05)
    jobs, groups = plan()
    w.begin(run_info(), jobs, groups)
    yield w
    w.close()


def test_plan_and_events_round_trip(writer: StoreWriter) -> None:
    job = JOBS[1]
    writer.put(started(job, 10.0))
    writer.put(JobOutput(job=job, blocks=(block(0, [b"a", b"b"]),)))
    for t, cpu, rss in ((11.0, 50.0, 100), (12.0, 150.0, 300)):
        writer.put(
            JobSampled(job=job, time=t, cpu_percent=cpu, rss=rss, vms=rss * 2,
                       num_procs=2, read_bytes=int(t), write_bytes=int(t) * 10)
        )  # fmt: skip
    writer.put(
        JobFinished(job=job, time=13.5, status=Status.FAILED, exit_code=3, reason=Reason.EXIT_CODE,
                    cpu_s=0.5, peak_rss=200, warnings=1, errors=2, first_error="boom", lines=2,
                    extra={"coverage": 0.75})
    )  # fmt: skip
    writer.put(RunFinished(time=14.0, status=Status.FAILED))
    writer.close()

    reader = StoreReader(writer.run_dir)
    info = reader.run_info()
    assert (info["id"], info["status"], info["start"], info["end"]) == (
        "20261127-221503-7f3a", "failed", 1000.0, 14.0,
    )  # fmt: skip
    assert info["argv"] == ("gator", "run", "flow.yaml")
    assert (info["jobs"], info["passed"], info["failed"], info["pending"]) == (3, 0, 1, 2)
    assert (writer.run_dir / "spec.yaml").read_text() == "!JobGroup\nid: top\n"

    rows = reader.jobs()
    assert [r["job"] for r in rows] == list(JOBS)
    build, done = rows[0], rows[1]
    assert build["status"] == "pending"
    assert build["licenses"] == (("vcs", 1),)
    assert (build["memory"], build["timeout_s"]) == (2**20, 5.0)
    assert (build["env"], build["argv"]) == ({"N": "0"}, ("echo", "0"))
    assert (build["duration_s"], build["cpu_percent_mean"]) == (None, None)
    assert done["depends"] == (("pass", "top.build"),)
    assert (done["command"], done["argv"]) == ("echo 'hi there'", ("echo", "hi there"))
    expected = {
        "status": "failed", "exit_code": 3, "signal": None, "timed_out": False,
        "reason": "exit-code", "start": 10.0, "end": 13.5, "duration_s": 3.5, "cpu_s": 0.5,
        "peak_rss": 300, "warnings": 1, "errors": 2, "first_error": "boom", "lines": 2,
        "pid": 4242, "hostname": "box", "attempt": 1, "cwd": "/w", "extra": {"coverage": 0.75},
        "cpu_percent_mean": 100.0, "peak_vms": 600, "read_bytes": 12, "write_bytes": 120,
        "group": "top.counting[0]", "index": 1, "array_index": 0,
    }  # fmt: skip
    assert {k: done[k] for k in expected} == expected

    assert [g["path"] for g in reader.groups()] == [
        "top", "top.counting", "top.counting[0]", "top.counting[1]",
    ]  # fmt: skip
    assert reader.groups()[1] == {
        "path": "top.counting", "parent": "top", "kind": "array", "index": 1,
        "array_index": None, "params": (),
    }  # fmt: skip
    assert list(reader.samples()) == [
        {"time": 11.0, "job": job, "cpu_percent": 50.0, "rss": 100, "vms": 200,
         "num_procs": 2, "read_bytes": 11, "write_bytes": 110},
        {"time": 12.0, "job": job, "cpu_percent": 150.0, "rss": 300, "vms": 600,
         "num_procs": 2, "read_bytes": 12, "write_bytes": 120},
    ]  # fmt: skip
    assert list(reader.samples(JOBS[0])) == []
    reader.close()


def test_every_line_is_rebuilt_with_severity_stream_time_and_text(writer: StoreWriter) -> None:
    job = JOBS[0]
    writer.put(started(job))
    out1 = block(0, [b"plain", b"\x1b[31mERROR: red\x1b[0m", b"bad \xff\xfe utf8"],
                 time=2.0, marks={1: Severity.ERROR})  # fmt: skip
    err = block(3, [b"stderr note", b"10%\r50%\r100% done"], stream="stderr", time=3.0,
                marks={0: Severity.WARNING})  # fmt: skip
    note = block(5, [b"gator: timed out"], stream="gator", time=4.0, marks={0: Severity.CRITICAL})
    writer.put(JobOutput(job=job, blocks=(out1, err)))
    writer.put(JobOutput(job=job, blocks=(note,)))
    writer.put(JobFinished(job=job, time=5.0, status=Status.FAILED, lines=6))
    writer.close()

    with StoreReader(writer.run_dir) as reader:
        lines = list(reader.messages(job))
        assert lines == list(reader.messages())  # the other jobs have no output
        assert reader.log_text(job) == "\n".join(line["message"] for line in lines)
    assert [(d["line_no"], d["severity"], d["stream"], d["time"], d["message"]) for d in lines] == [
        (0, "INFO", "stdout", 2.0, "plain"),
        (1, "ERROR", "stdout", 2.0, "ERROR: red"),
        (2, "INFO", "stdout", 2.0, "bad \ufffd\ufffd utf8"),
        (3, "WARNING", "stderr", 3.0, "stderr note"),
        (4, "INFO", "stderr", 3.0, "100% done"),
        (5, "CRITICAL", "gator", 4.0, "gator: timed out"),
    ]
    assert {d["job"] for d in lines} == {job}


def test_min_severity_reads_only_the_messages_table(writer: StoreWriter) -> None:
    job = JOBS[2]
    marks = {0: Severity.DEBUG, 1: Severity.WARNING, 3: Severity.ERROR, 4: Severity.CRITICAL}
    writer.put(JobOutput(job=job, blocks=(block(0, [b"d", b"w", b"i", b"e", b"c"], marks=marks),)))
    writer.close()
    # Deleting the log proves the filtered path never touches it.
    (writer.run_dir / "logs" / f"{job}.log").unlink()
    with StoreReader(writer.run_dir) as reader:
        got = [(d["line_no"], d["severity"]) for d in reader.messages(min_severity=Severity.ERROR)]
        assert got == [(3, "ERROR"), (4, "CRITICAL")]
        warn = list(reader.messages(job, min_severity=Severity.WARNING))
        assert [d["message"] for d in warn] == ["w", "e", "c"]
        assert warn[0] == {"time": 1.0, "job": job, "line_no": 1, "severity": "WARNING",
                           "stream": "stdout", "message": "w"}  # fmt: skip


def test_min_severity_at_or_below_info_keeps_info_lines(writer: StoreWriter) -> None:
    job = JOBS[0]
    marks = {0: Severity.DEBUG, 2: Severity.ERROR}
    writer.put(JobOutput(job=job, blocks=(block(0, [b"d", b"i", b"e"], marks=marks),)))
    writer.close()
    with StoreReader(writer.run_dir) as reader:
        info = [d["message"] for d in reader.messages(job, min_severity=Severity.INFO)]
        debug = [d["message"] for d in reader.messages(job, min_severity=Severity.DEBUG)]
    assert (info, debug) == (["i", "e"], ["d", "i", "e"])


def test_live_job_counts_come_from_the_tables(writer: StoreWriter) -> None:
    job = JOBS[1]
    writer.put(started(job))
    marks = {0: Severity.WARNING, 2: Severity.ERROR, 3: Severity.ERROR}
    writer.put(JobOutput(job=job, blocks=(block(0, [b"w", b"i", b"e1", b"e2"], marks=marks),)))
    assert writer.flush(timeout_s=10)
    with StoreReader(writer.run_dir) as reader:
        row = reader.jobs()[1]
    assert (row["status"], row["warnings"], row["errors"], row["first_error"], row["lines"]) == (
        "running", 1, 2, "e1", 4,
    )  # fmt: skip


READER = """
import json, sys
from pathlib import Path
from gator_nb.events import Severity
from gator_nb.store import StoreReader
r = StoreReader(Path(sys.argv[1]))
print(json.dumps({
    "status": r.run_info()["status"],
    "jobs": {j["job"]: [j["status"], j["pid"]] for j in r.jobs()},
    "errors": [m["message"] for m in r.messages(min_severity=Severity.ERROR)],
}))
"""


def test_another_process_reads_a_live_store(writer: StoreWriter) -> None:
    job = JOBS[0]
    writer.put(started(job))
    writer.put(JobOutput(job=job, blocks=(block(0, [b"ok", b"bad"], marks={1: Severity.ERROR}),)))
    assert writer.flush(timeout_s=10)
    out = subprocess.run(
        [sys.executable, "-c", READER, str(writer.run_dir)],
        capture_output=True, text=True, check=True, timeout=20,
    )  # fmt: skip
    seen = json.loads(out.stdout)
    assert seen == {
        "status": "running",
        "jobs": {JOBS[0]: ["running", 4242], JOBS[1]: ["pending", None],
                 JOBS[2]: ["pending", None]},
        "errors": ["bad"],
    }  # fmt: skip
    assert writer.alive  # the writer was live throughout


KILLED_WRITER = """
import sys
import time
from pathlib import Path
from gator_nb.events import JobOutput, LineBlock, Message, Severity
from gator_nb.store import JobRow, RunInfo, StoreWriter
w = StoreWriter(Path(sys.argv[1]), flush_s=0.01)
run = RunInfo(id="k", spec="s.yaml", spec_text="", start=1.0, cwd="/", argv=(), hostname="h")
job = JobRow(job="top.j", group="top", index=0, array_index=None, command="x", argv=("x",),
             cwd="/", env={}, cores=1, memory=None, licenses=(), timeout_s=None, depends=())
w.begin(run, [job], [])
def out(first):
    data = b"".join(b"line %d\\n" % (first + i) for i in range(100))
    msg = Message(line_no=first + 7, severity=Severity.ERROR, text="line %d" % (first + 7))
    return JobOutput(job="top.j", blocks=(LineBlock(stream="stdout", time=float(first),
                     first_line=first, count=100, data=data, messages=(msg,)),))
for first in range(0, 5000, 100):
    w.put(out(first))
assert w.flush(timeout_s=20)
print("committed", flush=True)
first = 5000
while True:  # keep writing until killed, so the kill lands mid-batch
    w.put(out(first))
    first += 100
    if first % 10000 == 0:
        w.flush(timeout_s=20)
"""


def test_sigkill_after_commit_leaves_every_committed_line(tmp_path: Path) -> None:
    run_dir = tmp_path / "killed"
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(run_dir)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    ) as child:  # fmt: skip
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == "committed\n"
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=20)
    assert child.returncode == -signal.SIGKILL
    with StoreReader(run_dir) as reader:
        assert reader.run_info()["status"] == "running"
        lines = list(reader.messages("top.j"))
        errors = list(reader.messages("top.j", min_severity=Severity.ERROR))
    assert len(lines) >= 5000  # everything before "committed"
    assert len(lines) % 100 == 0  # whole blocks only
    assert [d["message"] for d in lines] == [f"line {i}" for i in range(len(lines))]
    assert [d["line_no"] for d in errors] == list(range(7, len(lines), 100))
    assert all(lines[d["line_no"]]["severity"] == "ERROR" for d in errors)


def test_close_loses_nothing_and_is_idempotent(tmp_path: Path) -> None:
    # A flush interval far beyond the test proves close() drains, not the timer.
    w = StoreWriter(tmp_path / "run", flush_s=3600)
    jobs, groups = plan()
    w.begin(run_info(), jobs, groups)
    for first in range(0, 20_000, 10):
        raw = [b"n%d" % (first + i) for i in range(10)]
        w.put(JobOutput(job=JOBS[2], blocks=(block(first, raw, marks={9: Severity.WARNING}),)))
    w.set_status("cancelled", 99.0)
    w.close()
    w.close()
    w.put(JobOutput(job=JOBS[2], blocks=(block(20_000, [b"late"]),)))  # dropped, no raise
    with StoreReader(w.run_dir) as reader:
        lines = [d["message"] for d in reader.messages(JOBS[2])]
        warnings = list(reader.messages(min_severity=Severity.WARNING))
        assert (reader.run_info()["status"], reader.run_info()["end"]) == ("cancelled", 99.0)
        w.set_status("passed", 100.0)  # after close: written directly
        assert (reader.run_info()["status"], reader.run_info()["end"]) == ("passed", 100.0)
    assert lines == [f"n{i}" for i in range(20_000)]
    assert len(warnings) == 2000


def test_events_for_a_job_outside_the_plan_get_a_row(writer: StoreWriter) -> None:
    writer.put(started("extra.job"))
    writer.put(JobOutput(job="extra.job", blocks=(block(0, [b"x"]),)))
    writer.put(JobFinished(job="extra.job", time=2.0, status=Status.PASSED, lines=1))
    writer.close()
    with StoreReader(writer.run_dir) as reader:
        row = reader.jobs()[-1]
        assert (row["job"], row["status"], row["lines"]) == ("extra.job", "passed", 1)
        assert reader.log_text("extra.job") == "x"
        with pytest.raises(StoreError, match="no job 'nope'"):
            reader.log_text("nope")


def test_begin_refuses_an_existing_store(writer: StoreWriter) -> None:
    again = StoreWriter(writer.run_dir)
    jobs, groups = plan()
    with pytest.raises(StoreError, match="already exists"):
        again.begin(run_info(), jobs, groups)


def test_reader_refuses_newer_missing_and_broken_stores(
    writer: StoreWriter, tmp_path: Path
) -> None:
    writer.close()
    db = writer.run_dir / "run.sqlite"
    with sqlite3.connect(db) as con:
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    newer = rf"run\.sqlite: store version {SCHEMA_VERSION + 1} is newer"
    with pytest.raises(StoreError, match=newer) as err:
        StoreReader(writer.run_dir)
    assert str(db) in str(err.value)
    with pytest.raises(StoreError, match="no run store") as err:
        StoreReader(tmp_path / "empty")
    assert str(tmp_path / "empty" / "run.sqlite") in str(err.value)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "run.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="cannot read the store"):
        StoreReader(tmp_path / "junk")


def test_list_runs_skips_unreadable_dirs_oldest_first(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    jobs, groups = plan()
    for run_id, start in (("b-newer", 2000.0), ("a-older", 1000.0)):
        w = StoreWriter(runs / run_id)
        w.begin(run_info(run_id, start), jobs, groups)
        w.put(JobFinished(job=JOBS[0], time=start + 1, status=Status.PASSED))
        w.put(JobFinished(job=JOBS[1], time=start + 1, status=Status.FAILED))
        w.put(RunFinished(time=start + 2, status=Status.FAILED))
        w.close()
    (runs / "no-store").mkdir()
    (runs / "broken").mkdir()
    (runs / "broken" / "run.sqlite").write_bytes(b"x" * 4096)
    assert list_runs(runs) == [
        {"id": run_id, "path": str(runs / run_id), "spec": "flow.yaml", "status": "failed",
         "start": start, "end": start + 2, "jobs": 3, "passed": 1, "failed": 1}
        for run_id, start in (("a-older", 1000.0), ("b-newer", 2000.0))
    ]  # fmt: skip
    assert list_runs(tmp_path / "missing") == []


def test_a_failed_write_loses_only_that_row_and_names_its_job(writer: StoreWriter) -> None:
    writer.put(JobOutput(job=JOBS[0], blocks=(block(0, [b"kept"]),)))
    assert writer.flush(timeout_s=10)
    bad = JobSampled(job=JOBS[0], time=1.0, cpu_percent=[1.0], rss=0, vms=0,  # type: ignore[arg-type]
                     num_procs=1, read_bytes=0, write_bytes=0)  # fmt: skip
    # sqlite cannot bind a list: fails in the writer thread, in the same batch as good rows
    writer.put(JobOutput(job=JOBS[1], blocks=(block(0, [b"same batch"]),)))
    writer.put(bad)
    assert not writer.flush(timeout_s=10)
    assert list(writer.lost) == [JOBS[0]]
    writer.put(JobOutput(job=JOBS[0], blocks=(block(1, [b"after"]),)))
    writer.close()  # before: every later event was dropped, and close() raised
    writer.close()  # idempotent
    with StoreReader(writer.run_dir) as reader:
        assert [d["message"] for d in reader.messages(JOBS[0])] == ["kept", "after"]
        assert [d["message"] for d in reader.messages(JOBS[1])] == ["same batch"]


def test_a_running_run_whose_engine_died_reads_as_cancelled(tmp_path: Path) -> None:
    jobs, groups = plan()
    for name, pid, expected in (("alive", os.getpid(), "running"), ("dead", None, "cancelled")):
        if pid is None:
            child = subprocess.Popen(["true"])
            child.wait()
            pid = child.pid
        writer = StoreWriter(tmp_path / name)
        info = dataclasses.replace(
            run_info(start=time.time()), pid=pid, hostname=socket.gethostname()
        )
        writer.begin(info, jobs, groups)
        writer.close()
        with StoreReader(tmp_path / name) as reader:
            row = reader.run_info()
        assert (row["status"], row["interrupted"]) == (expected, expected == "cancelled")
