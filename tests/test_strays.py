"""Processes a job leaves behind outside its process group are stopped when it ends, and
its log says so (issue 13: 6).
"""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest

import gator_nb as gn
from gator_nb.engine.strays import MARKER, find_marked

PY = sys.executable
# `setsid sleep &`: a new session, output to /dev/null, the job exits at once.
SETSID = (
    "import subprocess, sys\n"
    "p = subprocess.Popen(['setsid', 'sleep', '300'], stdout=subprocess.DEVNULL,"
    " stderr=subprocess.DEVNULL)\n"
    "open(sys.argv[1], 'w').write(str(p.pid))\n"
)
# The classic double fork, keeping the job's stdout open.
DOUBLE_FORK = (
    "import os, sys, time\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(300)\n"
    "    os._exit(0)\n"
    "os.wait()\n"
    "while not os.path.getsize(sys.argv[1]) if os.path.exists(sys.argv[1]) else True:\n"
    "    time.sleep(0.01)\n"
)


@pytest.mark.parametrize("code", [SETSID, DOUBLE_FORK], ids=["setsid", "double-fork"])
def test_a_daemon_a_job_leaves_is_stopped_and_named(code: str, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"!Job {{id: d, command: {PY}, args: [-c, {code!r}, {str(pid_file)!r}]}}")
    run = gn.run(spec, runs_dir=tmp_path / "runs")
    daemon = int(pid_file.read_text())
    # before: the job passed and its daemon lived on after the run
    assert not psutil.pid_exists(daemon) or psutil.Process(daemon).status() == "zombie"
    assert run.status == "passed"
    assert (
        "gator: 1 process(es) the job started outside its process group were still running"
        f" after it ended (pid {daemon} "
    ) in run.log("d")


def test_find_marked_sees_only_its_own_token() -> None:
    child = psutil.Popen(
        [PY, "-c", "import time; print('up', flush=True); time.sleep(30)"],
        env={MARKER: "abc123"},
        stdout=-1,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"up\n"
        assert find_marked("abc123", 0) == [child.pid]
        assert find_marked("abc12", 0) == []
        assert find_marked("abc123", child.pid) == []  # only pids above the leader's
    finally:
        child.kill()
        child.wait()
        assert child.stdout is not None
        child.stdout.close()
