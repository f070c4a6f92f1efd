"""Shared fixtures: spec files written on the fly, and a finished run with failures."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import gator_nb as gn

PY = sys.executable


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write dedented YAML to a file in tmp_path and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write


FAILED_SPEC = f"""
!JobGroup
  id: top
  env: {{FLAVOUR: sour}}
  jobs:
  - !Job {{id: build, command: "true"}}
  - !JobArray
      id: tests
      repeats: 4
      on_pass: [build]
      jobs:
      - !Job
          id: sim
          command: {PY}
          args: ["-c", "import os, sys; i = int(os.environ['GATOR_ARRAY_INDEX']); print(f'UVM_ERROR tb.sv(3) @ {{i*100}}: top.env [SCBD] Mismatch 0x{{i:04x}}') if i % 2 else print('ok'); print(os.environ['FLAVOUR'], os.environ.get('ONLY_BEFORE', '-'))"]
  - !Job {{id: after_tests, command: "true", on_pass: [tests]}}
  - !Job {{id: cleanup, command: "true", on_fail: [tests]}}
"""  # noqa: E501


@pytest.fixture
def failed_run(
    tmp_path: Path, write_spec: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> gn.Run:
    """A build, 4 simulations of which 2 fail (UVM_ERROR), and the jobs that depend on them."""
    monkeypatch.setenv("ONLY_BEFORE", "kept")
    run = gn.run(write_spec(FAILED_SPEC), parallel=2, runs_dir=tmp_path / "runs")
    monkeypatch.delenv("ONLY_BEFORE")
    return run
