"""notebooks/resource-usage.ipynb runs top to bottom in a real kernel and draws its plots."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.notebooks import execute


@pytest.mark.notebook
@pytest.mark.timeout(120)
def test_resource_usage_notebook_executes(tmp_path: Path) -> None:
    notebook, work = execute("resource-usage.ipynb", tmp_path, timeout_s=90)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = [out for cell in code for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    text = "\n".join(str(out.get("data", {}).get("text/plain", "")) for out in outputs)
    assert "('passed', 10, " in text
    assert "resources.sims[3].large" in text  # over its request, in the table
    # Each plot cell shows a PNG: run.plot's figures display without pyplot being imported.
    plot_cells = [cell for cell in code if "plot" in cell.source]
    assert len(plot_cells) == 6
    for cell in plot_cells:
        images = [
            out["data"]["image/png"] for out in cell.outputs if "image/png" in out.get("data", {})
        ]
        assert len(images) == 1, cell.source
        assert base64.b64decode(images[0]).startswith(b"\x89PNG")
    assert len(list((work / "gator-runs").glob("*/run.sqlite"))) == 1
