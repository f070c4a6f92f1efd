"""Running the ``gator`` command as a user would: a real process, its output captured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PY = sys.executable


def gator(*args: str, runs: Path) -> subprocess.CompletedProcess[str]:
    """``gator ARGS --runs-dir RUNS``, bounded at 120 s."""
    return subprocess.run(
        [PY, "-m", "gator_nb", *args, "--runs-dir", str(runs)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
