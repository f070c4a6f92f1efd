"""Running the project's notebooks top to bottom in a real kernel (nbclient), from a working
directory beside a copy of examples/, so their runs stay out of the repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

ROOT = Path(__file__).parent.parent


def execute(name: str, tmp_path: Path, timeout_s: int = 180) -> tuple[NotebookNode, Path]:
    """Execute ``notebooks/NAME``; returns the executed notebook and its working directory."""
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)  # stripped
    NotebookClient(
        notebook,
        timeout=timeout_s,
        kernel_name="python3",
        resources={"metadata": {"path": str(work)}},
    ).execute()
    return notebook, work


def text_of(notebook: NotebookNode) -> str:
    """Every code cell's printed text and text/plain results, in order."""
    return "\n".join(
        str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )
