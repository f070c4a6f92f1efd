"""The magics in a real Jupyter kernel (nbclient): the run goes on while later cells execute,
``--wait``, the cell result shown once, the bad-spec error, and the quickstart notebook.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.notebook

ROOT = Path(__file__).resolve().parent.parent
WIDGET = "application/vnd.jupyter.widget-view+json"

GATED = """
!JobGroup
  id: gated
  jobs:
    - !Job
        id: gate
        timeout: 30
        command: bash
        args: [-c, "while [ ! -e release ]; do sleep 0.02; done; echo released"]
    - !JobArray
        id: after
        repeats: 3
        on_pass: [gate]
        jobs:
          - !Job {id: echo, command: echo, args: [$GATOR_ARRAY_INDEX]}
"""
QUICK = """
!JobGroup
  id: quick
  jobs:
    - !Job {id: one, command: echo, args: [one]}
"""


def execute(cells: list[str], cwd: Path, *, timeout: int = 60) -> list[Any]:
    """Run the cells in a fresh kernel started in ``cwd``; returns the executed cells."""
    notebook = new_notebook(cells=[new_code_cell(textwrap.dedent(c).strip()) for c in cells])
    for cell in notebook.cells:
        if cell.source.startswith("%%gator") and "jobz" in cell.source:
            cell.metadata["tags"] = ["raises-exception"]
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": cwd}}
    )
    client.execute()
    return list(notebook.cells)


def text(cell: Any) -> str:
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts).strip()


def kinds(cell: Any) -> list[str]:
    return [o.output_type for o in cell.outputs]


def test_magics_in_a_real_kernel(tmp_path: Path) -> None:
    (tmp_path / "gated.yaml").write_text(GATED)
    (tmp_path / "quick.yaml").write_text(QUICK)
    cells = execute(
        [
            """
            %load_ext gator_nb
            import pathlib, time, ipykernel
            from gator_nb.notebook.view import view_of
            print(ipykernel.__version__)
            """,
            "run = %gator gated.yaml --runs-dir runs",
            "run.status",
            # Jobs and the view go on while this cell keeps the kernel busy.
            """
            view = view_of(run)
            before = view.renders
            pathlib.Path("release").touch()
            shown = view.finished.wait(30)  # the final render, from the view's own thread
            print(run.status, shown, view.renders > before, view.seq > 0)
            """,
            "run.wait()",
            "r2 = %gator quick.yaml --wait --runs-dir runs\nprint(r2.status)",
            "%gator quick.yaml --runs-dir runs",
            "type(_).__name__, _.wait()",
            "%%gator --runs-dir runs\n!JobGroup\n  id: x\n  jobz: []",
        ],
        tmp_path,
    )
    version = text(cells[0])
    major, minor = (int(part) for part in version.split(".")[:2])
    assert (major, minor) >= (6, 29) and (major, minor) != (7, 0), version
    shown = cells[1].outputs
    assert kinds(cells[1]) == ["display_data"]  # assigned: shown by the magic, no result
    # Shown live as the widget, then replaced by the final tree once the run ended.
    assert WIDGET not in shown[0].data and "4/4 done" in shown[0].data["text/html"]
    assert shown[0].data["text/plain"].startswith("gator run ")
    assert text(cells[2]) == "'running'"  # the gate waits for a file only cell 3 writes
    assert text(cells[3]) == "passed True True True"
    assert text(cells[4]) == "'passed'"
    assert kinds(cells[5]) == ["display_data", "stream"]
    assert text(cells[5]).endswith("passed")
    assert kinds(cells[6]) == ["display_data"]  # a bare %gator is shown once, not twice
    assert text(cells[7]) == "('Run', 'passed')"
    (error,) = cells[8].outputs  # IPython shows a UsageError as its message alone
    assert (error.output_type, error.name) == ("stream", "stderr")
    assert error.text.splitlines() == [
        "UsageError: bad spec (2 problems), nothing was run:",
        "%%gator cell:1:1: error: $: missing 'jobs' (a list of !Job, !JobGroup or !JobArray)",
        "%%gator cell:3:3: error: $: unknown key 'jobz' for !JobGroup (did you mean 'jobs'?)",
    ]


@pytest.mark.timeout(150)
def test_quickstart_notebook_runs_top_to_bottom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATOR_RUNS_DIR", str(tmp_path / "runs"))
    source = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in source.cells if c.cell_type == "code")
    client = NotebookClient(
        source,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": ROOT / "notebooks"}},
    )
    client.execute()
    code = [c for c in source.cells if c.cell_type == "code"]
    by_source = {c.source.splitlines()[0]: c for c in code}
    assert text(by_source["run.status"]) == "'running'"
    assert text(by_source["run.wait()"]) == "'failed'"
    failures = text(by_source["failures = run.failures()"])
    assert failures.count("regression.tests[") == 5
    assert "UVM_ERROR" in text(
        by_source['job = failures.loc[failures["reason"] == "error-in-log", "job"].iloc[0]']
    )
    plot = by_source["from gator_nb.plots import job_resources"].outputs[0]
    assert "image/png" in plot.data
    summary = by_source["gn.load(run.id)"].outputs[0].data  # a finished run: static HTML
    assert WIDGET not in summary and "26/26 done: 21 passed, 5 failed" in summary["text/html"]
    # The %gator cell's live widget became the final tree when run.wait() returned.
    shown = by_source["run = %gator ../examples/regression.yaml --parallel 2"].outputs[0].data
    assert "26/26 done: 21 passed, 5 failed" in shown["text/html"] and WIDGET not in shown
    assert len(list((tmp_path / "runs").iterdir())) == 1


def test_peaks_from_a_kernel_that_holds_1gb(tmp_path: Path) -> None:
    from tests.test_launcher import PEAKS

    (tmp_path / "peaks.yaml").write_text(PEAKS)
    cells = execute(
        [
            """
            %load_ext gator_nb
            ballast = bytearray(1 << 30)
            ballast[:: 4096] = b"x" * len(ballast[:: 4096])  # resident, not just reserved
            """,
            "run = %gator peaks.yaml --wait --runs-dir runs",
            """
            for row in run.jobs.itertuples():
                print(row.job, row.peak_rss, row.peak_source)
            """,
        ],
        tmp_path,
    )
    peaks = {
        job: (peak, source) for job, peak, source in map(str.split, text(cells[2]).splitlines())
    }
    big, source = int(peaks["top.big"][0]), peaks["top.big"][1]
    assert 150 * 2**20 <= big <= 1.1 * 175 * 2**20 and source == "launcher"
    nap = int(peaks["top.nap"][0])
    assert 200_000 < nap < 8 * 2**20  # sleep's own size, not the kernel's gigabyte
