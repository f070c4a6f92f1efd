"""The job wrapper against real child processes: outcomes, output, stopping, limits."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from gator_nb.engine.launch import Launch
from gator_nb.engine.launcher import open_channel
from gator_nb.engine.monitor import Monitor
from gator_nb.engine.process import run_job
from gator_nb.events import (
    JobFinished,
    JobOutput,
    JobSampled,
    JobStarted,
    LineBlock,
    Message,
    Severity,
    Status,
)
from tests.recorder import Recorder as BaseRecorder


class Recorder(BaseRecorder):
    """Events of one job, with what the tests look at in them."""

    @property
    def blocks(self) -> list[LineBlock]:
        return [b for e in self.events if isinstance(e, JobOutput) for b in e.blocks]

    def data(self, stream: str = "stdout") -> bytes:
        return b"".join(b.data for b in self.blocks if b.stream == stream)

    def messages(self, stream: str) -> list[Message]:
        return [m for b in self.blocks if b.stream == stream for m in b.messages]

    @property
    def started(self) -> JobStarted:
        first = self.events[0]
        assert isinstance(first, JobStarted)
        return first

    @property
    def finished(self) -> JobFinished:
        last = self.events[-1]
        assert isinstance(last, JobFinished)
        return last


@pytest.fixture(autouse=True)
async def no_loop_errors() -> AsyncIterator[None]:
    """Fail on exceptions raised in loop callbacks (the loop only logs those)."""
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
    yield
    assert errors == []


@pytest.fixture
def sink() -> Recorder:
    return Recorder()


@pytest.fixture
def monitor(sink: Recorder) -> Monitor:
    return Monitor(sink)


def python(code: str, *, timeout_s: float | None = None, grace_s: float = 2.0) -> Launch:
    """A launch running ``code`` in a fresh interpreter."""
    argv = (sys.executable, "-c", textwrap.dedent(code))
    return Launch(
        job="top.job",
        argv=argv,
        env=dict(os.environ),
        cwd=os.getcwd(),
        timeout_s=timeout_s,
        grace_s=grace_s,
    )


def gone(pid: int) -> bool:
    """True when ``pid`` has exited (an orphan may linger as a zombie until init reaps it)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_exit_zero_passes_and_events_are_in_order(sink: Recorder, monitor: Monitor) -> None:
    launch = python("print('hello')")
    result = await run_job(launch, sink, monitor)
    assert result == sink.finished
    assert (result.status, result.exit_code, result.reason) == (Status.PASSED, 0, "")
    assert result.lines == 1
    assert result.cpu_s > 0
    started = sink.started
    assert started.pid > 0
    assert (started.command, started.cwd) == (launch.argv, launch.cwd)
    assert [type(e) for e in sink.events] == [JobStarted, JobOutput, JobFinished]
    assert sink.data() == b"hello\n"


async def test_exit_code_fails(sink: Recorder, monitor: Monitor) -> None:
    result = await run_job(python("raise SystemExit(3)"), sink, monitor)
    assert (result.status, result.exit_code, result.signal) == (Status.FAILED, 3, None)
    assert result.reason == "exit-code"


async def test_signal_death(sink: Recorder, monitor: Monitor) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    result = await run_job(python(code), sink, monitor)
    assert (result.status, result.reason) == (Status.FAILED, "signal")
    assert (result.exit_code, result.signal) == (None, signal.SIGKILL)


async def test_stderr_line_is_a_warning(sink: Recorder, monitor: Monitor) -> None:
    code = "import sys; print('plain'); print('careful', file=sys.stderr)"
    result = await run_job(python(code), sink, monitor)
    assert (result.status, result.warnings, result.errors, result.lines) == (
        Status.PASSED,
        1,
        0,
        2,
    )
    assert sink.messages("stdout") == []
    [warning] = sink.messages("stderr")
    assert (warning.severity, warning.text) == (Severity.WARNING, "careful")
    assert sink.data("stderr") == b"careful\n"


async def test_error_line_with_exit_zero_fails(sink: Recorder, monitor: Monitor) -> None:
    code = "print('fine'); print('ERROR: first boom'); print('ERROR: second')"
    result = await run_job(python(code), sink, monitor)
    assert (result.status, result.exit_code, result.reason) == (
        Status.FAILED,
        0,
        "error-in-log",
    )
    assert (result.errors, result.first_error) == (2, "ERROR: first boom")
    assert [m.line_no for m in sink.messages("stdout")] == [1, 2]


async def test_huge_line_arrives_whole(sink: Recorder, monitor: Monitor) -> None:
    code = "import sys; sys.stdout.write('x' * 2_000_000 + '\\nend\\n')"
    result = await run_job(python(code), sink, monitor)
    assert result.lines == 2
    assert sink.data() == b"x" * 2_000_000 + b"\nend\n"
    # Blocks hold whole lines only, so the first one holds the entire long line.
    assert sink.blocks[0].data.startswith(b"x" * 2_000_000 + b"\n")


async def test_invalid_utf8_is_kept_raw_and_decoded_leniently(
    sink: Recorder, monitor: Monitor
) -> None:
    code = r"import sys; sys.stdout.buffer.write(b'ok \xff\xfe\nERROR: bad \xc3\n')"
    result = await run_job(python(code), sink, monitor)
    assert sink.data() == b"ok \xff\xfe\nERROR: bad \xc3\n"
    assert (result.status, result.reason) == (Status.FAILED, "error-in-log")
    assert result.first_error == "ERROR: bad \ufffd"


async def test_final_line_without_newline_is_kept(sink: Recorder, monitor: Monitor) -> None:
    code = "import sys; sys.stdout.write('one\\nlast words')"
    result = await run_job(python(code), sink, monitor)
    assert result.lines == 2
    assert sink.data().startswith(b"one\nlast words")


async def test_output_is_batched(sink: Recorder, monitor: Monitor) -> None:
    code = "import sys; sys.stdout.write(''.join(f'{i}\\n' for i in range(200_000)))"
    result = await run_job(python(code), sink, monitor)
    assert result.lines == 200_000
    outputs = [e for e in sink.events if isinstance(e, JobOutput)]
    assert len(outputs) < 20
    assert sum(b.count for b in sink.blocks) == 200_000
    first_lines = [b.first_line for b in sink.blocks]
    assert first_lines == sorted(first_lines)
    assert first_lines[0] == 0


async def test_timeout_kills_a_job_that_ignores_sigterm(sink: Recorder, monitor: Monitor) -> None:
    code = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print('ready', flush=True)
        time.sleep(60)
    """
    task = asyncio.create_task(run_job(python(code, timeout_s=1, grace_s=0.5), sink, monitor))
    await sink.until(lambda: b"ready" in sink.data())
    assert not task.done()
    async with asyncio.timeout(10):
        result = await task
    assert (result.status, result.reason, result.timed_out) == (Status.FAILED, "timeout", True)
    assert result.signal == signal.SIGKILL
    notes = [m.text for m in sink.messages("gator")]
    assert notes == [
        "gator: timed out after 1 s, sent SIGTERM to the process group",
        "gator: the process group was still running 0.5 s after SIGTERM, sent SIGKILL",
    ]
    assert result.first_error == notes[0]
    assert not psutil.pid_exists(sink.started.pid)


async def test_timeout_kills_grandchildren(sink: Recorder, monitor: Monitor) -> None:
    code = """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
        print(child.pid, flush=True)
        time.sleep(60)
    """
    result = await run_job(python(code, timeout_s=1, grace_s=0.5), sink, monitor)
    assert (result.status, result.signal) == (Status.FAILED, signal.SIGTERM)
    grandchild = int(sink.data().split()[0])
    assert gone(grandchild)


async def test_grandchild_holding_the_pipes_is_stopped(sink: Recorder, monitor: Monitor) -> None:
    code = """
        import subprocess, sys
        child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
        print(child.pid)
    """
    result = await run_job(python(code, grace_s=0.3), sink, monitor)
    assert (result.status, result.exit_code) == (Status.PASSED, 0)
    assert gone(int(sink.data().split()[0]))
    [note] = sink.messages("gator")
    assert note.severity == Severity.WARNING
    assert note.text == (
        "gator: the job exited but its output was still held open 0.3 s later,"
        " sent SIGTERM to the process group"
    )


async def test_detached_leftover_in_the_group_is_stopped(sink: Recorder, monitor: Monitor) -> None:
    code = """
        import subprocess, sys
        child = subprocess.Popen(
            [sys.executable, '-c', 'import time; time.sleep(60)'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        print(child.pid)
    """
    result = await run_job(python(code, grace_s=0.5), sink, monitor)
    grandchild = int(sink.data().split()[0])
    assert result.status == Status.PASSED
    assert gone(grandchild)
    [note] = sink.messages("gator")
    assert note.text == (
        "gator: 1 process(es) still running in the job's process group 0.5 s after"
        f" it exited (pid {grandchild}), sent SIGTERM"
    )


async def test_peak_rss_of_a_short_lived_allocation(sink: Recorder, monitor: Monitor) -> None:
    # Through the launcher: started by this test process (hundreds of MB by now), the
    # kernel's figure could be the test process's own and only samples would speak.
    code = "b = bytearray(300 * 2**20); b[::4096] = b'x' * (len(b) // 4096)"
    channel = await open_channel()
    assert channel is not None
    try:
        result = await run_job(python(code), sink, monitor, launcher=channel)
    finally:
        channel.close()
    assert result.status == Status.PASSED
    assert result.peak_rss >= 300 * 2**20 and result.peak_source == "launcher"


async def test_missing_command(sink: Recorder, monitor: Monitor) -> None:
    env = {"PATH": "/nowhere:/usr/bin"}
    launch = Launch(job="j", argv=("frobnicate", "-x"), env=env, cwd=os.getcwd())
    result = await run_job(launch, sink, monitor)
    text = "gator: command not found: 'frobnicate' (searched PATH=/nowhere:/usr/bin)"
    assert (result.status, result.reason, result.exit_code) == (Status.FAILED, "launch", None)
    assert (result.errors, result.first_error, result.lines) == (1, text, 1)
    assert sink.started.pid == 0
    assert [type(e) for e in sink.events] == [JobStarted, JobOutput, JobFinished]
    [block] = sink.blocks
    assert (block.stream, block.count, block.data) == ("gator", 1, text.encode() + b"\n")
    assert block.messages == (Message(line_no=0, severity=Severity.ERROR, text=text),)


async def test_command_not_executable(sink: Recorder, monitor: Monitor, tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    launch = Launch(job="j", argv=(str(script),), env={}, cwd=str(tmp_path))
    result = await run_job(launch, sink, monitor)
    assert result.reason == "launch"
    assert result.first_error == (
        f"gator: command is not executable: {str(script)!r} (Permission denied)"
    )


async def test_missing_cwd(sink: Recorder, monitor: Monitor, tmp_path: Path) -> None:
    cwd = str(tmp_path / "x" / "y")
    launch = Launch(job="j", argv=("true",), env=dict(os.environ), cwd=cwd)
    result = await run_job(launch, sink, monitor)
    assert (result.status, result.reason) == (Status.FAILED, "launch")
    assert result.first_error == f"gator: working directory does not exist: {cwd!r}"


async def test_cancellation_stops_the_group(sink: Recorder, monitor: Monitor) -> None:
    code = """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
        print(child.pid, flush=True)
        time.sleep(60)
    """
    task = asyncio.create_task(run_job(python(code, grace_s=0.5), sink, monitor))
    await sink.until(lambda: b"\n" in sink.data())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    result = sink.finished
    assert (result.status, result.reason, result.signal) == (
        Status.CANCELLED,
        "cancelled",
        signal.SIGTERM,
    )
    assert [m.text for m in sink.messages("gator")] == [
        "gator: cancelled, sent SIGTERM to the process group"
    ]
    assert not psutil.pid_exists(sink.started.pid)  # reaped, not a zombie
    assert gone(int(sink.data().split()[0]))


async def test_running_monitor_samples_the_job(sink: Recorder) -> None:
    monitor = Monitor(sink, interval_s=0.05)
    code = """
        import signal, sys
        signal.signal(signal.SIGUSR1, lambda *_: sys.exit(0))
        print('ready', flush=True)
        signal.pause()
    """
    async with asyncio.TaskGroup() as group:
        sampling = group.create_task(monitor.run())
        job = group.create_task(run_job(python(code), sink, monitor))
        await sink.until(
            lambda: b"ready" in sink.data() and any(isinstance(e, JobSampled) for e in sink.events)
        )
        os.kill(sink.started.pid, signal.SIGUSR1)
        result = await job
        sampling.cancel()
    assert result.status == Status.PASSED
    samples = [e for e in sink.events if isinstance(e, JobSampled)]
    assert samples
    assert all(s.job == "top.job" and s.num_procs == 1 and s.rss > 0 for s in samples)
    assert result.peak_rss >= max(s.rss for s in samples)
    assert sink.events.index(samples[-1]) < sink.events.index(result)
