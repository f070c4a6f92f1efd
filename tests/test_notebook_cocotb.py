"""notebooks/cocotb-regression.ipynb runs top to bottom in a real kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.notebooks import execute, text_of

if shutil.which("iverilog") is None:
    pytest.skip(
        "Icarus Verilog is not installed (make test installs Debian's iverilog with apt-get)",
        allow_module_level=True,
    )


@pytest.mark.notebook
@pytest.mark.timeout(240)
def test_cocotb_notebook_executes(tmp_path: Path) -> None:
    notebook, work = execute("cocotb-regression.ipynb", tmp_path)
    text = text_of(notebook)
    assert "('failed'," in text  # some seeds find the bug
    assert "test-failed" in text and "test_sub" in text
    assert "sub(<HEX>, <HEX>) = <HEX>, expected <HEX>" in text
    assert "sub_borrows" in text
    assert "('passed',\n ['alu.build'," in text  # the fix: the build is rerun first
    assert "not-rerun" in text and "fixed" in text
    assert (work / "gator-runs" / "cocotb.xml").exists()
