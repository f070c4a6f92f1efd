"""notebooks/debug-failed-regression.ipynb runs top to bottom in a real kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "debug-failed-regression.ipynb"


@pytest.mark.notebook
@pytest.mark.timeout(240)
def test_debug_notebook_executes(tmp_path: Path) -> None:
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copytree(NOTEBOOK.parent.parent / "examples", tmp_path / "examples")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    ).execute()
    outputs = {i: cell.outputs for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"}
    text = "\n".join(
        str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", ""))
        for cell in outputs.values()
        for out in cell
    )
    assert "'failed'" in text  # the regression fails on purpose
    assert "UVM_ERROR <PATH>(<N>) @ <TIME>" in text  # buckets shown
    assert "(True,\n 'failed'," in text  # the rerun is a child of the first run
    assert "still failing" in text
    assert "(True, True)" in text
    assert list((work / "gator-runs").glob("*.html"))
