"""Output rules in the spec (severity, limits, metrics, results) and metrics aggregated up
the tree, through real runs of real processes."""

from __future__ import annotations

import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import gator_nb as gn
from gator_nb.job import metric

PY = sys.executable


def problems(text: str) -> list[str]:
    with pytest.raises(gn.SpecError) as caught:
        gn.load_spec(text=textwrap.dedent(text).lstrip("\n"))
    return [str(p) for p in caught.value.problems]


def test_bad_rules_are_spec_errors_with_their_place() -> None:
    assert problems("""
        !JobGroup
          id: top
          severity:
            - {match: "(unclosed", level: ERROR}
            - {match: "x", level: LOUD}
            - {mach: "x", level: INFO}
          limits: {error: -1, warnings: 3}
          metrics:
            - {name: cov, match: "coverage [0-9]+"}
            - {name: "9bad", match: "(x)"}
          jobs:
            - !Job {id: a, command: "true", results: [3, ""]}
    """) == [
        "<text>:4:15: error: $.severity[0].match: bad regular expression '(unclosed': "
        "missing ), unterminated subpattern at position 0",
        "<text>:5:27: error: $.severity[1].level: expected one of DEBUG, INFO, WARNING, ERROR, "
        "CRITICAL, got a string 'LOUD'",
        "<text>:6:7: error: $.severity[2]: missing 'match'",
        "<text>:6:8: error: $.severity[2]: unknown key 'mach' (did you mean 'match'?); "
        "expected match, level",
        "<text>:7:19: error: $.limits.error: expected a whole number >= 0, got a number (-1)",
        "<text>:7:23: error: $.limits: unknown key 'warnings' (did you mean 'warning'?); "
        "expected warning, error, critical",
        "<text>:9:26: error: $.metrics[0].match: expected a regular expression with exactly one "
        "capture group (the value), got 0 in 'coverage [0-9]+'",
        "<text>:10:14: error: $.metrics[1].name: expected a metric name (letters, digits, '_', "
        "'.'), got a string '9bad'",
        "<text>:12:47: error: $.jobs[0].results[0]: expected a path or glob of a JUnit XML file, "
        "got a number (3)",
        "<text>:12:50: error: $.jobs[0].results[1]: expected a path or glob of a JUnit XML file, "
        "got a string ''",
    ]


def job(name: str, code: str, **fields: str) -> str:
    extra = "".join(f", {key}: {value}" for key, value in fields.items())
    return f'- !Job {{id: {name}, command: {PY}, args: ["-c", {code!r}]{extra}}}'


def run(tmp_path: Path, body: str) -> gn.Run:
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent(body).lstrip("\n"))
    return gn.run(spec, parallel=2, runs_dir=tmp_path / "runs")


def test_severity_rules_are_inherited_nearest_first_and_limits_judge(tmp_path: Path) -> None:
    noisy = "print('ERROR: flaky licence server'); print('WARNING: slow'); print('WARNING: slow')"
    done = run(
        tmp_path,
        f"""
        !JobGroup
          id: top
          severity: [{{match: "flaky licence", level: INFO}}]
          jobs:
            {job("waived", noisy)}
            - !JobGroup
                id: strict
                severity: [{{match: "flaky", level: CRITICAL}}]
                jobs:
                  {job("promoted", noisy)}
            {job("chatty", noisy, limits="{warning: 1}")}
            {job("tolerant", "print('ERROR: a'); print('ERROR: b')", limits="{error: 2}")}
    """,
    )
    rows = done.jobs.set_index("job")
    assert rows.loc["top.waived", ["status", "errors", "warnings"]].tolist() == ["passed", 0, 2]
    assert rows.loc["top.strict.promoted", ["status", "reason"]].tolist() == [
        "failed", "error-in-log",
    ]  # fmt: skip
    assert done.messages_of("top.strict.promoted", "CRITICAL")["message"].tolist() == [
        "ERROR: flaky licence server"
    ]
    assert rows.loc["top.chatty", ["status", "reason", "first_error"]].tolist() == [
        "failed", "limit", "2 warning messages, more than the limit of 1; the first: WARNING: slow",
    ]  # fmt: skip
    assert rows.loc["top.tolerant", ["status", "errors"]].tolist() == ["passed", 2]


def test_metrics_aggregate_up_every_group_and_the_root(tmp_path: Path) -> None:
    report = (
        "import os; i = int(os.environ['GATOR_ARRAY_INDEX']); print(f'GATOR_METRIC cov={i * 10}')"
    )
    done = run(
        tmp_path,
        f"""
        !JobGroup
          id: top
          jobs:
            - !JobArray
                id: arr
                repeats: 4
                jobs:
                  {job("j", report)}
            {
            job(
                "other",
                "print('coverage: 12.5%'); print('GATOR_METRIC cov=abc')",
                metrics='[{name: cov, match: "coverage: ([0-9.]+)%"}]',
            )
        }
    """,
    )
    table = done.group_metrics.set_index(["group", "name"])
    # The four copies report 0, 10, 20, 30: checked by hand.
    assert table.loc[("top.arr", "cov"), ["count", "sum", "min", "max", "mean"]].tolist() == [
        4, 60.0, 0.0, 30.0, 15.0,
    ]  # fmt: skip
    assert table.loc[("top", "cov"), ["count", "sum", "min", "max"]].tolist() == [
        5, 72.5, 0.0, 30.0,
    ]  # fmt: skip
    assert table.loc[("top", "duration_s"), "count"] == 5  # built-in figures too
    assert table.loc[("top", "cpu_s"), "sum"] == pytest.approx(done.jobs["cpu_s"].sum())
    values = done.metrics.set_index("job")["value"]
    assert values["top.other"] == 12.5 and values["top.arr[3].j"] == 30.0
    # A value that is not a number is said in the job's log, not recorded, not lost.
    log = done.log("top.other")
    assert "GATOR_METRIC cov=abc" in log and "metric cov=abc: not a number" in log
    assert done.job("top.other")["metrics"] == {"cov": 12.5}


def test_the_last_value_of_a_metric_wins_and_compare_shows_deltas(tmp_path: Path) -> None:
    body = """
        !JobGroup
          id: top
          jobs:
            {job}
    """
    first = run(tmp_path, body.format(job=job("a", "print('GATOR_METRIC cov=50 hits=1')")))
    again = run(
        tmp_path,
        body.format(job=job("a", "print('GATOR_METRIC cov=50'); print('GATOR_METRIC cov=80')")),
    )
    assert again.metrics["value"].tolist() == [80.0]
    assert again.group_metrics.set_index(["group", "name"]).loc[("top", "cov"), "max"] == 80.0
    table = gn.compare(first, again).set_index("job")
    assert table.loc["top.a", ["cov_a", "cov_b", "cov_delta"]].tolist() == [50.0, 80.0, 30.0]
    assert table.loc["top.a", "hits_a"] == 1.0 and table["hits_b"].isna().all()


def test_the_metric_helper_prints_what_gator_reads(capsys: pytest.CaptureFixture[str]) -> None:
    metric("coverage", 87.5, hits=3)
    assert capsys.readouterr().out == "GATOR_METRIC coverage=87.5 hits=3\n"
    with pytest.raises(ValueError, match="expected a finite number"):
        metric("x", float("nan"))
    with pytest.raises(ValueError, match="expected letters"):
        metric("a b", 1)


def test_results_files_fail_jobs_and_feed_run_tests_and_junit(tmp_path: Path) -> None:
    fixture = Path(__file__).parent / "fixtures" / "tools" / "cocotb-results.xml"
    copy = f"import shutil, os; shutil.copy({str(fixture)!r}, os.environ['GATOR_JOB_DIR'])"
    done = run(
        tmp_path,
        f"""
        !JobGroup
          id: top
          jobs:
            {job("sim", copy, results="$GATOR_JOB_DIR/cocotb-results.xml")}
            {job("forgot", "pass", results="out.xml")}
            {job("crashed", "raise SystemExit(3)", results="out.xml")}
    """,
    )
    rows = done.jobs.set_index("job")
    assert rows.loc["top.sim", ["status", "reason", "tests", "tests_failed"]].tolist() == [
        "failed", "test-failed", 3, 1,
    ]  # fmt: skip
    assert str(rows.loc["top.sim", "first_error"]).startswith("sub(0x")
    assert rows.loc["top.forgot", ["status", "reason"]].tolist() == ["failed", "bad-results"]
    assert "results file 'out.xml' was not written" in str(rows.loc["top.forgot", "first_error"])
    assert rows.loc["top.crashed", "reason"] == "exit-code"  # the cause, not its symptom
    assert done.tests["test"].tolist() == ["test_add", "test_sub", "test_logic"]
    assert done.state.nodes["top"].tests == 3 and done.state.nodes["top"].tests_failed == 1
    root = ET.parse(done.to_junit(tmp_path / "r.xml")).getroot()
    inner = root.find("testsuite[@name='top.sim']")
    assert inner is not None
    assert [c.get("name") for c in inner.iter("testcase")] == ["test_add", "test_sub", "test_logic"]
    assert inner.get("failures") == "1" and root.get("tests") == "5"
    assert "3 tests, 1 failed" in done.tree()
