"""`gator run` end to end in a real subprocess: output, exit codes, signals, live reading."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import gator_nb as gn
from tests.commands import gator

EXAMPLES = Path(__file__).parent.parent / "examples"
PY = sys.executable


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return tmp_path / "runs"


def test_seed_example_end_to_end(runs: Path) -> None:
    done = gator("run", str(EXAMPLES / "hello.yaml"), "--parallel", "2", runs=runs)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("gator: run ")
    assert lines.index("start  top.inner.say_hi") < lines.index("start  top.counting[0].echo_count")
    assert lines[-1].startswith("gator: passed: 6/6 done: 6 passed;")
    shown = gator("show", "latest", runs=runs)
    assert shown.returncode == 0
    assert "+ top  6/6 (6 passed)" in shown.stdout
    assert "    + counting[3].echo_count  passed" in shown.stdout
    assert gator("logs", "latest", "top.counting[2].echo_count", runs=runs).stdout == "2\n"
    listed = gator("runs", runs=runs)
    assert "passed" in listed.stdout and "hello.yaml" in listed.stdout
    run = gn.load("latest", runs_dir=runs)
    assert run.status == "passed"
    assert list(run.jobs["status"]) == ["passed"] * 6


def test_short_form_and_failure_exit_code(runs: Path) -> None:
    done = subprocess.run(
        [PY, "-m", "gator_nb", str(EXAMPLES / "tree.yaml"), "-q", "--runs-dir", str(runs)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stdout.startswith("gator: failed: ")
    assert len(done.stdout.splitlines()) == 1  # -q: only the summary


def test_bad_spec_and_bad_usage_exit_2(runs: Path, write_spec) -> None:
    bad = write_spec("!Job {id: a, command: x, on_pass: [nope]}")
    done = gator("run", str(bad), runs=runs)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0].endswith("error: $.on_pass[0]: no job 'nope'")
    assert "Traceback" not in done.stderr
    assert not runs.exists()  # nothing ran, nothing was written
    assert gator("run", str(bad), "--parallel", "0", runs=runs).returncode == 2
    assert gator("show", "nope", runs=runs).returncode == 2


def test_show_and_logs_of_a_job(runs: Path, write_spec) -> None:
    spec = write_spec(f"""
        !JobGroup
          id: top
          jobs:
          - !Job
              id: noisy
              command: {PY}
              args: ["-c", "import sys; print('hello'); print('ERROR: boom', file=sys.stderr); sys.exit(4)"]
    """)  # noqa: E501
    assert gator("run", str(spec), runs=runs).returncode == 1
    shown = gator("show", "latest", "top.noisy", runs=runs).stdout
    assert "top.noisy: failed" in shown
    assert "exit code    4" in shown and "first error  ERROR: boom" in shown
    assert gator("logs", "latest", "top.noisy", runs=runs).stdout == "hello\nERROR: boom\n"


def test_logs_filter_and_show_a_subtree(runs: Path, write_spec) -> None:
    spec = write_spec(f"""
        !JobGroup
          id: top
          jobs:
          - !JobGroup
              id: inner
              jobs:
              - !Job
                  id: chatty
                  command: {PY}
                  args: ["-c", "[print(f'line {{i}}') for i in range(50000)]; print('WARNING: w1'); print('line end')"]
          - !Job {{id: other, command: "true"}}
    """)  # noqa: E501
    assert gator("run", str(spec), runs=runs).returncode == 0

    def logs(*options: str) -> list[str]:
        done = gator("logs", "latest", "top.inner.chatty", *options, runs=runs)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    assert len(logs()) == 50002
    assert logs("--tail", "2") == ["WARNING: w1", "line end"]
    assert logs("--severity", "warning") == ["WARNING: w1"]
    assert logs("--grep", "^line 4999[0-9]$", "--tail", "3") == [
        "line 49997", "line 49998", "line 49999",
    ]  # fmt: skip
    bad = gator("logs", "latest", "top.inner.chatty", "--grep", "(", runs=runs)
    assert bad.returncode == 2 and "bad --grep" in bad.stderr and "Traceback" not in bad.stderr
    bad = gator("logs", "latest", "top.inner.chatty", "--severity", "loud", runs=runs)
    assert bad.returncode == 2 and "no severity 'loud'" in bad.stderr
    shown = gator("show", "latest", "top.inner", runs=runs).stdout.splitlines()
    assert shown[1].startswith("+ inner  1/1") and "chatty" in shown[2]
    assert not any("other" in line for line in shown)


def _start(spec: Path, runs: Path, parallel: str = "2") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PY, "-m", "gator_nb", "run", str(spec), "--parallel", parallel, "--runs-dir", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _lines(proc: subprocess.Popen[str]) -> Iterator[str]:
    assert proc.stdout is not None
    for line in proc.stdout:
        yield line.rstrip("\n")


def _wait_for(proc: subprocess.Popen[str], wanted: str) -> None:
    for line in _lines(proc):
        if line == wanted:
            return
    raise AssertionError(f"the run ended before printing {wanted!r}")


SLEEPY = """
    !JobArray
      id: s
      repeats: 3
      jobs:
      - !Job
          id: j
          command: {py}
          args: ["-c", "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); print('up', flush=True); time.sleep(60)"]
"""  # noqa: E501


def test_ctrl_c_stops_every_process_and_keeps_the_store(runs: Path, write_spec) -> None:
    spec = write_spec(SLEEPY.format(py=PY))
    with _start(spec, runs) as proc:
        _wait_for(proc, "start  s[1].j")
        tree_before = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        assert len(tree_before) >= 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        assert proc.stderr is not None
        assert "gator: interrupted" in proc.stderr.read()
    left = [p for p in tree_before if psutil.pid_exists(p)]
    assert [p for p in left if psutil.Process(p).status() != psutil.STATUS_ZOMBIE] == []
    run = gn.load("latest", runs_dir=runs)
    assert run.status == "cancelled"
    assert set(run.jobs["status"]) == {"cancelled"}


def test_sigkill_of_the_cli_leaves_a_readable_store_and_no_jobs(runs: Path, write_spec) -> None:
    spec = write_spec(SLEEPY.format(py=PY))
    with _start(spec, runs) as proc:
        _wait_for(proc, "start  s[1].j")
        run_dir = next(runs.iterdir())
        deadline = time.monotonic() + 20
        while "up" not in gn.load(run_dir).log("s[0].j") and time.monotonic() < deadline:
            time.sleep(0.05)  # another process's store: nothing to await but its commits
        tree = psutil.Process(proc.pid).children(recursive=True)
        jobs = [p for p in tree if "-S" not in p.cmdline()]  # not the launcher itself
        assert len(jobs) == 4  # two jobs, each with its child
        proc.kill()
        proc.wait(timeout=10)
    # The jobs lead their own sessions; the launcher (which started them) stops them.
    assert _ended([p.pid for p in jobs], timeout_s=15) == []
    run = gn.load(run_dir)
    assert run.status == "cancelled"  # its engine is gone, whatever the store last said
    assert run.wait(0) == "cancelled"
    assert run.log("s[0].j") == "up"
    assert list(run.jobs["job"]) == ["s[0].j", "s[1].j", "s[2].j"]


def _ended(pids: list[int], timeout_s: float) -> list[int]:
    """Wait for processes that are not our children to exit; returns those still alive."""
    fds = {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            fds[os.pidfd_open(pid)] = pid
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout_s
    alive = dict(fds)
    try:
        while alive and (left := deadline - time.monotonic()) > 0:
            for fd, _ in poller.poll(left * 1000):
                poller.unregister(fd)
                alive.pop(fd)
    finally:
        for fd in fds:
            os.close(fd)
    return sorted(alive.values())


def test_a_live_run_can_be_read_from_another_process(
    runs: Path, write_spec, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    spec = write_spec(f"""
        !Job
          id: j
          command: {PY}
          args: ["-c", "import os, time\\nfor i in range(3): print('line', i, flush=True)\\nwhile not os.path.exists('{release}'): time.sleep(0.02)\\nprint('done')"]
    """)  # noqa: E501
    reader = [
        PY,
        "-c",
        "import sys, gator_nb as gn; r = gn.load('latest', runs_dir=sys.argv[1]);"
        "print(r.status, '|'.join(r.messages['message']))",
        str(runs),
    ]
    with _start(spec, runs, parallel="1") as proc:
        _wait_for(proc, "start  j")
        deadline = time.monotonic() + 20
        seen = ""
        while time.monotonic() < deadline and not seen.endswith("line 2"):
            done = subprocess.run(reader, capture_output=True, text=True, check=True)
            seen = done.stdout.strip()
        assert seen == "running line 0|line 1|line 2"
        release.touch()
        assert proc.wait(timeout=30) == 0
    assert gn.load("latest", runs_dir=runs).log("j") == "line 0\nline 1\nline 2\ndone"


def test_show_of_a_big_run_lists_groups_and_failures(runs: Path, write_spec) -> None:
    spec = write_spec("""
        !JobGroup
          id: top
          jobs:
          - !JobArray
              id: many
              repeats: 201
              jobs: [!Job {id: j, command: bash, args: [-c, "[ $GATOR_ARRAY_INDEX -ne 7 ] || exit 3"]}]
    """)  # noqa: E501
    assert gator("run", str(spec), "-q", runs=runs).returncode == 1
    lines = gator("show", "latest", runs=runs).stdout.splitlines()
    assert lines[1:] == [
        lines[1],  # the root row, with its durations
        lines[2],
        "201 jobs; the 1 that failed (--all for every job):",
        lines[4],
    ]
    assert lines[4].startswith("  x top.many[7].j  failed  ")
    assert lines[4].endswith("  - exit-code")
    assert lines[1].startswith("x top  201/201 (1 failed, 200 passed)")
    assert lines[2].startswith("  x many  201/201 (1 failed, 200 passed)")
    assert len(gator("show", "latest", "--all", runs=runs).stdout.splitlines()) == 1 + 2 + 201
