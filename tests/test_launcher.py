"""True peaks: jobs started by the launcher process, with real processes, from the CLI's
engine and from an engine that holds far more memory than its jobs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import gator_nb as gn
from gator_nb.engine.launcher import shared_launcher

PY = sys.executable
MB = 1 << 20
PEAKS = f"""
!JobGroup
  id: top
  jobs:
  - !Job
      id: big
      command: {PY}
      args: ["-c", "import time; b = bytearray(150 << 20); b[::4096] = b'x' * (150 << 8); time.sleep(0.3)"]
  - !Job {{id: nap, command: sleep, args: ["0.4"]}}
  - !Job {{id: nowhere, command: no-such-program-here}}
"""  # noqa: E501


def _peaks(run: gn.Run) -> dict[str, tuple[int | None, str | None]]:
    return {
        str(row.job): (
            None if pd.isna(row.peak_rss) else int(row.peak_rss),
            None if pd.isna(row.peak_source) else str(row.peak_source),
        )
        for row in run.jobs.itertuples()
    }


def test_short_jobs_get_samples_and_true_peaks(
    tmp_path: Path, write_spec: Callable[..., Path]
) -> None:
    run = gn.run(write_spec(PEAKS), runs_dir=tmp_path / "runs")
    peaks = _peaks(run)
    big, source = peaks["top.big"]
    assert big is not None and 150 * MB <= big <= 1.1 * 175 * MB  # + the interpreter
    assert source == "launcher"
    nap, source = peaks["top.nap"]
    # sleep's own few MB from its samples, not the launcher's (its kernel figure is tainted).
    assert nap is not None and 200_000 < nap < 8 * MB and source == "samples"
    assert peaks["top.nowhere"] == (None, None)
    assert set(run.resources["job"]) == {"top.big", "top.nap"}
    [failure] = run.failures()["first_error"]
    assert failure.startswith("gator: command not found: 'no-such-program-here'")


ENGINE_HOLDING_1GB = """
import sys
import gator_nb as gn
ballast = bytearray(1 << 30)
ballast[:: 4096] = b"x" * len(ballast[:: 4096])  # resident, not just reserved
run = gn.run(sys.argv[1], runs_dir=sys.argv[2])
for row in run.jobs.itertuples():
    print(row.job, row.peak_rss, row.peak_source)
"""


@pytest.mark.parametrize("launcher", ["1", "0"], ids=["launcher", "engine"])
def test_an_engine_holding_1gb_does_not_lend_its_peak(
    tmp_path: Path, write_spec: Callable[..., Path], launcher: str
) -> None:
    # With GATOR_LAUNCHER=0 the engine starts the jobs: a 150 MB job's kernel figure is
    # then the engine's 1 GB, so only the samples speak for it (and still must be right).
    spec = write_spec(PEAKS)
    out = subprocess.run(
        [PY, "-c", textwrap.dedent(ENGINE_HOLDING_1GB), str(spec), str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GATOR_LAUNCHER": launcher},
        timeout=60,
    ).stdout
    rows = (line.split() for line in out.splitlines()[:2])
    peaks = {job: (int(peak), source) for job, peak, source in rows}
    big, source = peaks["top.big"]
    assert 150 * MB <= big <= 1.1 * 175 * MB
    assert source == ("launcher" if launcher == "1" else "samples")
    nap, _ = peaks["top.nap"]
    assert 200_000 < nap < 8 * MB


def test_a_killed_launcher_is_replaced_by_the_next_run(
    tmp_path: Path, write_spec: Callable[..., Path]
) -> None:
    spec = write_spec("!Job {id: one, command: echo, args: [hi]}\n")
    assert gn.run(spec, runs_dir=tmp_path / "runs").status == "passed"
    launcher = shared_launcher()
    assert launcher is not None and launcher.usable()
    os.kill(launcher.pid, signal.SIGKILL)
    run = gn.run(spec, runs_dir=tmp_path / "runs")
    assert run.status == "passed"
    again = shared_launcher()
    assert again is not None and again is not launcher and again.usable()
    assert not launcher.usable()
