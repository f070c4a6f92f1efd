"""The composition root: everything checked before anything is written, then one run opened,
recorded as it really ran, and released when it ends."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest

import gator_nb as gn
from gator_nb.errors import LaunchError
from gator_nb.execution import Execution

PY = sys.executable
HELLO = Path(__file__).parent / "specs" / "hello.yaml"


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"backend": "nope"}, "unknown backend 'nope'; expected one of local, dask"),
        ({"licenses": {"vcs": 0}}, "licence seats must be at least 1, got {'vcs': 0}"),
        ({"parallel": 0}, "parallel must be at least 1, got 0"),
        ({"memory": -5}, "the memory budget must be at least 1 byte, got -5"),
        ({"sample_interval": 0.0}, "the sample interval must be 0.01 to 86400 seconds, got 0.0"),
        ({"sample_interval": float("nan")}, "got nan"),
        ({"scheduler": "tcp://127.0.0.1:1"}, "a scheduler is only used with the dask backend"),
    ],
)
def test_a_bad_option_leaves_no_run_behind(
    tmp_path: Path, options: dict[str, Any], said: str
) -> None:
    runs = tmp_path / "runs"
    with pytest.raises(LaunchError) as caught:
        gn.run(HELLO, runs_dir=runs, **options)
    assert said in str(caught.value)
    assert not runs.exists()


def test_the_dask_backend_without_distributed_exits_2_with_an_install_hint(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['distributed'] = None\n"  # as if it were not installed
        "from gator_nb.cli import main\n"
        f"sys.exit(main(['run', {str(HELLO)!r}, '--backend', 'dask', '--runs-dir', 'runs']))"
    )
    done = subprocess.run([PY, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == (
        "gator: distributed is needed for the dask backend: pip install 'gator-nb[dask]'\n"
    )
    assert not (tmp_path / "runs").exists()


def test_a_machine_that_is_not_linux_is_told_so_in_one_line(tmp_path: Path) -> None:
    code = (
        "import sys, gator_nb.execution\n"
        "from gator_nb.cli import main\n"
        "sys.platform = 'darwin'\n"  # after the imports: psutil reads it when imported
        f"sys.exit(main(['run', {str(HELLO)!r}, '--runs-dir', 'runs']))"
    )
    done = subprocess.run([PY, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("gator: gator-nb runs jobs on Linux (5.3 or later) only;")
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_the_store_records_the_backend_and_the_spec_was_checked_once(tmp_path: Path) -> None:
    execution = Execution(HELLO, runs_dir=tmp_path)
    assert [edge[1] for edge in execution.spec.edges] == ["pass", "pass"]
    execution.writer.close()
    assert gn.load(execution.path).info()["backend"] == "local"


def test_finished_runs_are_not_kept_alive_by_gator(tmp_path: Path) -> None:
    refs = [weakref.ref(gn.run(HELLO, runs_dir=tmp_path)) for _ in range(5)]
    gc.collect()
    assert [ref() for ref in refs] == [None] * 5
