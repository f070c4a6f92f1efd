"""Hostile specs and options: size bombs, deep nesting, self-aliases, special files, huge
numbers — each refused quickly with FILE:LINE:COL, never a traceback (issue 13: 5, 15, 16, 17).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import gator_nb as gn
from gator_nb.errors import GatorError, SpecError
from tests.commands import gator

PY = sys.executable
BIG = "9" * 400


def problems(text: str, max_jobs: int = 1_000_000) -> list[str]:
    with pytest.raises(SpecError) as caught:
        gn.load_spec(text=text, max_jobs=max_jobs)
    return [str(p) for p in caught.value.problems]


def _alias_bomb(levels: int) -> str:
    """Nine lines of YAML, 10**levels jobs (each level repeats the previous ten times)."""
    lines = ["!JobGroup", "  id: top", "  jobs:", "  - &x0 !Job {id: j, command: 'true'}"]
    for i in range(1, levels + 1):
        lines.append(f"  - &x{i} !JobGroup {{id: g{i}, jobs: [{', '.join([f'*x{i - 1}'] * 10)}]}}")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once() -> None:
    found = problems(_alias_bomb(7))  # before: grew without limit (24 GB, OOM-killed)
    assert found == [
        "<text>:1:1: error: $: the spec expands to 11,111,111 jobs, more than the limit of"
        " 1,000,000 (raise it with --max-jobs N, or max_jobs=N)"
    ]


@pytest.mark.parametrize(
    ("jobs", "what"),
    [("[!Job {id: j, command: x}]", "100,000,000 jobs"), ("[]", "100,000,001 groups")],
)
def test_huge_repeats_are_refused_before_building(jobs: str, what: str) -> None:
    # before: 2 GB in 20 s, or a loop of nothing (benchmarks/bench_hardening.py times it)
    found = problems(f"!JobArray {{id: a, repeats: 100000000, jobs: {jobs}}}")
    assert found[0].startswith(f"<text>:1:1: error: $: the spec expands to {what}, more than")


def test_the_limit_can_be_raised() -> None:
    spec = gn.load_spec(text="!JobArray {id: a, repeats: 20, jobs: [!Job {id: j, command: x}]}")
    assert spec.root.id == "a"
    assert problems(
        "!JobArray {id: a, repeats: 20, jobs: [!Job {id: j, command: x}]}", max_jobs=10
    )[0].startswith("<text>:1:1: error: $: the spec expands to 20 jobs, more than the limit of 10")


def test_self_alias_and_deep_nesting_give_no_recursion_error() -> None:
    assert problems("!JobGroup &r {id: top, jobs: [*r]}") == [
        "<text>:1:1: error: $: this node contains itself (through an alias)"
    ]
    deep = "!JobGroup {id: g, jobs: [" * 150 + "!Job {id: j, command: x}" + "]}" * 150
    assert problems(deep)[0].endswith("150 levels of groups, expected at most 100")
    deeper = "!JobGroup {id: g, jobs: [" * 400 + "!Job {id: j, command: x}" + "]}" * 400
    found = problems(deeper)
    assert found[0].startswith("<text>:1:") and "nested too deeply" in found[0]


def test_special_and_huge_spec_files_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(SpecError) as caught:
        gn.load_spec(fifo)  # before: blocked for ever waiting for a writer
    assert str(caught.value.problems[0]) == (
        f"{fifo}:1:1: error: $: expected a regular file, got a FIFO"
    )
    with pytest.raises(SpecError) as caught:
        gn.load_spec("/dev/zero")  # before: read without limit
    assert "expected a regular file" in str(caught.value.problems[0])
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as out:
        out.truncate(33 << 20)
    with pytest.raises(SpecError) as caught:
        gn.load_spec(huge)
    assert "expected a spec of at most 32 MiB" in str(caught.value.problems[0])


def test_huge_numbers_are_spec_errors() -> None:
    found = problems(
        f"!Job {{id: a, command: x, timeout: {BIG}, retries: {'9' * 5000},"
        f" resources: [!Cores [{BIG}], !License [l, {BIG}], !Memory [1.0e+300, TB]]}}"
    )
    assert [p.split(": error: ")[1].split(",")[0] for p in found] == [
        "$.timeout: expected a number of seconds > 0 and <= 1e+09",
        "$.retries: expected an integer >= 0 and <= 2",
        "$.resources[0]: !Cores expects at most 1",
        "$.resources[1]: !License expects at most 1",
        "$.resources[2]: !Memory expects a size up to 1 EB",
    ]
    assert all(len(p) < 300 for p in found)  # 5,000 digits are not repeated back
    assert problems(f"!JobArray {{id: a, repeats: {'9' * 5000}, jobs: []}}")[0].startswith(
        "<text>:1:1: error: $: the spec expands to about 1.0e+30 groups"
    )


def test_small_ones() -> None:
    assert problems('!Job {id: a, command: ""}') == [
        "<text>:1:23: error: $.command: expected a program to run, got an empty string"
    ]
    assert problems("!Job {id: a, command: !Job x}") == [
        "<text>:1:23: error: $.command: expected a string, got !Job 'x' (a tag where none belongs)"
    ]
    assert problems("!JobGroup {id: t, jobs: [&a !Job {id: a, command: x}, *a]}") == [
        "<text>:1:26: error: $.jobs[1].id: duplicate id 'a' (the same node again, through an alias)"
    ]


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--memory", "inf"], "argument --memory: expected a size > 0"),
        (["--memory=-5GB"], "argument --memory: expected a size > 0"),
        (["--sample-interval", "0"], "argument --sample-interval: expected seconds from 0.01"),
        (["--sample-interval", "-1"], "argument --sample-interval: expected seconds from 0.01"),
        (["--sample-interval", "nan"], "argument --sample-interval: expected seconds from 0.01"),
        (["--sample-interval", "1e-9"], "argument --sample-interval: expected seconds from 0.01"),
        (["--scheduler", "tcp://h:1"], "gator: a scheduler is only used with the dask backend"),
        (["--parallel", "9" * 5000], "argument --parallel/-j: expected a whole number >= 1"),
    ],
)
def test_bad_numbers_on_the_command_line_exit_2(
    option: list[str], expected: str, tmp_path: Path, write_spec
) -> None:
    spec = write_spec("!Job {id: a, command: 'true'}")
    done = gator("run", str(spec), *option, runs=tmp_path / "runs")
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()


def test_bad_numbers_in_the_python_api_raise(tmp_path: Path, write_spec) -> None:
    spec = write_spec("!Job {id: a, command: 'true'}")
    for options in (
        {"sample_interval": 0.0},
        {"sample_interval": float("nan")},
        {"memory": -5},
        {"scheduler": "tcp://h:1"},
    ):
        with pytest.raises(GatorError):
            gn.run(spec, runs_dir=tmp_path / "runs", **options)
    assert not (tmp_path / "runs").exists()


def test_cli_check_takes_max_jobs(tmp_path: Path, write_spec) -> None:
    spec = write_spec("!JobArray {id: a, repeats: 5, jobs: [!Job {id: j, command: x}]}")
    done = subprocess.run(
        [PY, "-m", "gator_nb", "check", str(spec), "--max-jobs", "3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "the spec expands to 5 jobs, more than the limit of 3" in done.stderr


def test_a_matrix_counts_every_combination() -> None:
    values = "[" + ", ".join(str(i) for i in range(100)) + "]"
    found = problems(
        f"!JobArray {{id: a, matrix: {{x: {values}, y: {values}}}, repeats: 200,"
        " jobs: [!Job {id: j, command: x}]}"
    )
    assert found[0].startswith("<text>:1:1: error: $: the spec expands to 2,000,000 jobs")
