"""Stopping runs from Python: Ctrl-C during ``gn.run`` cancels the run, and ``cancel()``
on a run loaded from another process stops it (issue 13: 7).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import gator_nb as gn
from gator_nb.errors import GatorError

PY = sys.executable
SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"


def _spec(tmp_path: Path, pid_file: Path) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"!Job {{id: s, command: {PY}, args: [-c, {SLEEPER!r}, {str(pid_file)!r}]}}")
    return spec


def _job_pid(pid_file: Path, proc: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        # Another process's job: its pid file is the only sign that it started.
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    return int(pid_file.read_text())


def _gone(pid: int) -> bool:
    try:
        psutil.Process(pid).wait(timeout=15)
    except psutil.TimeoutExpired:
        return False
    except psutil.NoSuchProcess:
        pass
    return True


def test_ctrl_c_during_gn_run_cancels_the_run(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = (
        "import sys, gator_nb as gn\n"
        "try:\n"
        f"    gn.run({str(_spec(tmp_path, pid_file))!r}, runs_dir={str(tmp_path / 'runs')!r})\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', gn.load('latest', runs_dir="
        f"{str(tmp_path / 'runs')!r}).status, flush=True)\n"
    )
    with subprocess.Popen([PY, "-c", script], stdout=subprocess.PIPE, text=True) as proc:
        job = _job_pid(pid_file, proc)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    # before: the run stayed 'running' and its job alive in a surviving process
    assert out.strip() == "interrupted cancelled"
    assert _gone(job)


def test_cancel_of_a_loaded_live_run_stops_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    runs = tmp_path / "runs"
    command = [PY, "-m", "gator_nb", "run", str(_spec(tmp_path, pid_file)), "--runs-dir", str(runs)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        job = _job_pid(pid_file, p)
        run = gn.load("latest", runs_dir=runs)
        assert run.status == "running"
        run.cancel()  # before: did nothing and said nothing
        assert p.wait(timeout=30) == 130
    assert run.status == "cancelled"
    assert _gone(job)
    run.cancel()  # a finished run: nothing to do


def test_cancel_says_so_when_it_cannot_reach_the_engine(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    runs = tmp_path / "runs"
    command = [PY, "-m", "gator_nb", "run", str(_spec(tmp_path, pid_file)), "--runs-dir", str(runs)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        _job_pid(pid_file, p)
        run = gn.load("latest", runs_dir=runs)
        (run.path / "control").unlink()  # as on a file system without FIFOs
        with pytest.raises(GatorError, match="cannot reach the engine of run"):
            run.cancel()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 130
    assert run.status == "cancelled"
