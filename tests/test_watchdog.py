"""The run's watchdog: a helper process that stops the jobs if the engine dies first."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import psutil

import gator_nb as gn
from gator_nb.engine.watchdog import Watchdog


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"], start_new_session=True)


def test_closing_stops_the_groups_still_listed_and_no_others() -> None:
    listed, removed = _sleeper(), _sleeper()
    try:
        watchdog = Watchdog(grace_s=5)
        watchdog.add(listed.pid)
        watchdog.add(removed.pid)
        watchdog.remove(removed.pid)
        watchdog.close()  # as when the engine's end closes the pipe, however it ended
        assert listed.wait(timeout=10) == -signal.SIGTERM
        assert removed.poll() is None
    finally:
        for proc in (listed, removed):
            proc.kill()
            proc.wait()


def test_a_group_ignoring_sigterm_gets_sigkill_after_the_grace() -> None:
    stubborn = subprocess.Popen(
        ["bash", "-c", "trap '' TERM; echo ready; sleep 60 & wait"],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    try:
        assert stubborn.stdout is not None
        assert stubborn.stdout.readline() == b"ready\n"
        watchdog = Watchdog(grace_s=0.3)
        watchdog.add(stubborn.pid)
        watchdog.close()
        assert stubborn.wait(timeout=10) == -signal.SIGKILL
    finally:
        stubborn.kill()
        stubborn.wait()
        assert stubborn.stdout is not None
        stubborn.stdout.close()


def test_a_run_that_ends_normally_leaves_no_helper(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("!Job {id: j, command: echo, args: [hi]}\n")
    run = gn.run(str(spec), runs_dir=tmp_path / "runs")
    assert run.status == "passed"
    # The launcher (launcher_server.py) stays: one per engine process, for every run.
    helpers = [
        p
        for p in psutil.Process().children(recursive=True)
        if "-S" in p.cmdline() and not p.cmdline()[-2].endswith("launcher_server.py")
    ]
    assert helpers == []
