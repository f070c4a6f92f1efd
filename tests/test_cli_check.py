"""`gator check` and `python -m gator_nb`: plan summaries, problems, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gator_nb.cli import main

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_check_prints_the_plan(write_spec, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_spec("""
        !JobGroup
          id: top
          jobs:
          - !JobGroup {id: inner, jobs: [!Job {id: say_hi, command: echo}]}
          - !JobArray
              id: counting
              on_pass: [say_hi]
              repeats: 4
              jobs: [!Job {id: echo_count, command: echo, args: [$GATOR_ARRAY_INDEX, $UNSET_X]}]
    """)
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"{path}: ok: 5 jobs, 3 groups (1 arrays), depth 3",
        "dependencies:",
        "  top.counting  on_pass  top.inner.say_hi",
    ]
    assert err.splitlines() == [
        f"{path}:9:14: warning: $.jobs[1].jobs[0].args: $UNSET_X is not set; left as written"
    ]


def test_check_lists_every_problem_and_exits_2(
    write_spec, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_spec("""
        !JobGroup
          id: top
          jobs:
          - !Job {id: a, comand: echo}
          - !Job {id: b, command: echo, on_pass: [c]}
    """)
    assert main(["check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{path}:4:5: error: $.jobs[0]: missing 'command' (a !Job needs a program to run)",
        f"{path}:4:18: error: $.jobs[0]: unknown key 'comand' for !Job (did you mean 'command'?)",
        f"{path}:5:43: error: $.jobs[1].on_pass[0]: no job 'c'",
        "gator: 3 problems; nothing was run",
    ]


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 2
    assert "the following arguments are required: SPEC" in capsys.readouterr().err


def test_missing_spec_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml:1:1: error: $: cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("spec", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_check_clean(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(spec)]) == 0
    assert capsys.readouterr().err == ""


def test_python_dash_m_is_the_same_command(write_spec) -> None:
    path = write_spec("!Job {id: a, command: [x]}")
    done = subprocess.run(
        [sys.executable, "-m", "gator_nb", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        f"{path}:1:23: error: $.command: expected a string, got a list"
    )
    assert "Traceback" not in done.stderr
