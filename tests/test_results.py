"""Results files (JUnit XML from real cocotb and pytest runs) and the verdict they feed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gator_nb.engine.results import ResultsProblem, read_results
from gator_nb.engine.verdict import Counts, judge
from gator_nb.events import Reason, Status, TestCase

TOOLS = Path(__file__).parent / "fixtures" / "tools"


def test_cocotb_results_have_every_case_and_the_failure_message() -> None:
    cases = read_results(["cocotb-results.xml"], str(TOOLS))
    assert [(c.suite, c.test, c.status) for c in cases] == [
        ("test_alu", "test_add", "passed"),
        ("test_alu", "test_sub", "failed"),
        ("test_alu", "test_logic", "passed"),
    ]
    assert cases[1].message.startswith("sub(0x")
    assert all(c.duration_s is not None and c.duration_s >= 0 for c in cases)


def test_pytest_junitxml_failures_errors_and_skips() -> None:
    cases = read_results(["pytest-junit.xml"], str(TOOLS))
    assert [(c.test, c.status) for c in cases] == [
        ("test_mixed.test_pass", "passed"),
        ("test_mixed.test_fail", "failed"),
        ("test_mixed.test_error", "error"),
        ("test_mixed.test_skip", "skipped"),
    ]
    assert cases[2].message == 'failed on setup with "RuntimeError: fixture broke"'


def test_a_results_file_written_by_pytest_now(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text("def test_ok():\n    pass\n")
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
         "asyncio_default_fixture_loop_scope=function", "--junitxml=out/r.xml", "test_one.py"],
        cwd=tmp_path, check=True, capture_output=True,
    )  # fmt: skip
    assert [(c.test, c.status) for c in read_results(["out/*.xml"], str(tmp_path))] == [
        ("test_one.test_ok", "passed")
    ]


def test_a_bare_testsuite_and_a_failure_without_a_message(tmp_path: Path) -> None:
    (tmp_path / "r.xml").write_text(
        '<testsuite name="regress"><testcase classname="mm_tests" name="test_random">'
        "<failure/></testcase><testcase name='b'><error>boom\ntrace</error></testcase>"
        "<testcase name='c'><skipped/></testcase></testsuite>"
    )
    cases = read_results(["r.xml"], str(tmp_path))
    assert [(c.suite, c.test, c.status, c.message) for c in cases] == [
        ("regress", "mm_tests.test_random", "failed", "mm_tests.test_random failed"),
        ("regress", "b", "error", "boom\ntrace"),
        ("regress", "c", "skipped", ""),
    ]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "results file 'r.xml' was not written"),
        ("<testsuites><testsuite>", "is not well-formed XML"),
        ("<html><body/></html>", "is not JUnit XML: its root is <html>"),
        (
            '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            "<testsuite><testcase name='&b;'/></testsuite>",
            "was refused",
        ),
    ],
)
def test_bad_results_files_are_one_line_problems(
    tmp_path: Path, content: str | None, said: str
) -> None:
    if content is not None:
        (tmp_path / "r.xml").write_text(content)
    with pytest.raises(ResultsProblem) as caught:
        read_results(["r.xml"], str(tmp_path))
    assert said in str(caught.value) and "\n" not in str(caught.value)


def test_brackets_in_a_job_path_are_not_a_glob(tmp_path: Path) -> None:
    job_dir = tmp_path / "top.sims[3].sim"
    job_dir.mkdir()
    shutil.copy(TOOLS / "cocotb-results.xml", job_dir / "results.xml")
    assert len(read_results([str(job_dir / "results.xml")], "/")) == 3


PASSED_CASE = TestCase(suite="s", test="a", status="passed")
FAILED_CASE = TestCase(suite="s", test="b", status="failed", message="Mismatch 0x3\nmore")


FAIL, OK = Status.FAILED, Status.PASSED
ERR, LIM, TEST = Reason.ERROR_IN_LOG, Reason.LIMIT, Reason.TEST_FAILED


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, (OK, Reason.NONE, "")),
        ({"counts": Counts(errors=1, first_error="E: x")}, (FAIL, ERR, "E: x")),
        ({"counts": Counts(errors=2, first_error="E: x"), "limits": {"error": 2}},
         (OK, Reason.NONE, "E: x")),
        ({"counts": Counts(errors=3, first_error="E: x"), "limits": {"error": 2}},
         (FAIL, LIM, "3 error messages, more than the limit of 2; the first: E: x")),
        ({"counts": Counts(warnings=4, first_warning="W: y"), "limits": {"warning": 3}},
         (FAIL, LIM, "4 warning messages, more than the limit of 3; the first: W: y")),
        ({"counts": Counts(errors=1, criticals=1, first_error="F: z"), "limits": {"error": 5}},
         (FAIL, ERR, "F: z")),
        ({"tests": [PASSED_CASE, FAILED_CASE]}, (FAIL, TEST, "Mismatch 0x3")),
        ({"tests": [FAILED_CASE], "exit_code": 1}, (FAIL, TEST, "Mismatch 0x3")),
        ({"tests": [FAILED_CASE], "exit_code": -9}, (FAIL, Reason.SIGNAL, "")),
        ({"bad_results": "gator: results file 'r.xml' was not written"},
         (FAIL, Reason.BAD_RESULTS, "gator: results file 'r.xml' was not written")),
        ({"bad_results": "missing", "exit_code": 2}, (FAIL, Reason.EXIT_CODE, "")),
    ],
)  # fmt: skip
def test_verdicts(kwargs: dict[str, object], expected: tuple[Status, Reason, str]) -> None:
    arguments: dict[str, object] = {"exit_code": 0, "counts": Counts(), **kwargs}
    verdict = judge(**arguments)  # type: ignore[arg-type]
    assert (verdict.status, verdict.reason, verdict.first_error) == expected
