"""notebooks/debug-failed-regression.ipynb runs top to bottom in a real kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebooks import execute, text_of


@pytest.mark.notebook
@pytest.mark.timeout(240)
def test_debug_notebook_executes(tmp_path: Path) -> None:
    notebook, work = execute("debug-failed-regression.ipynb", tmp_path)
    text = text_of(notebook)
    assert "'failed'" in text  # the regression fails on purpose
    assert "UVM_ERROR <PATH>(<N>) @ <TIME>" in text  # buckets shown
    assert "(True,\n 'failed'," in text  # the rerun is a child of the first run
    assert "still failing" in text
    assert "(True, True)" in text
    assert list((work / "gator-runs").glob("*.html"))
