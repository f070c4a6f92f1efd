"""Triage: failure buckets, reproduction, reruns and comparisons."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import gator_nb as gn
from gator_nb import frames
from gator_nb.triage import bucket, change, rerun_selection

PY = sys.executable


@pytest.mark.parametrize(
    ("lines", "same"),
    [
        (  # UVM scoreboard mismatches differing in path, time, address and data
            [
                "UVM_ERROR /work/tb/env/scoreboard.sv(112) @ 21900000: uvm_test_top.env.scoreboard"
                " [SCBD] Mismatch at addr 0x000003e8: expected 0x1cf70910, got 0x1cf72910",
                "UVM_ERROR /ci/b7/tb/env/scoreboard.sv(112) @ 56240 ns: uvm_test_top.env.scoreboard"
                " [SCBD] Mismatch at addr 0x0000e528: expected 0x3923eeaa, got 0x3823eeaa",
            ],
            True,
        ),
        (  # the same UVM_FATAL from two agents of an array of agents
            [
                "UVM_FATAL tb/agent/bus_driver.sv(96) @ 22460000: uvm_test_top.env.agent[2].driver"
                " [DRVTO] Timed out waiting for grant after 1000 cycles",
                "UVM_FATAL tb/agent/bus_driver.sv(96) @ 460: uvm_test_top.env.agent[0].driver"
                " [DRVTO] Timed out waiting for grant after 250 cycles",
            ],
            True,
        ),
        (  # Verilator: a missing module vs a width error are different causes
            [
                "%Error: rtl/alu.v:42:7: Cannot find file containing module: 'adder'",
                "%Error-WIDTH: rtl/alu.v:50:3: Operator ASSIGN expects 8 bits",
            ],
            False,
        ),
        (  # cocotb: sim times differ
            [
                "  5000.00ns ERROR    cocotb.regression   test_fifo_overflow failed",
                " 12000.00ns ERROR    cocotb.regression   test_fifo_overflow failed",
            ],
            True,
        ),
        (  # pytest parametrised failures with different values
            [
                "FAILED t/test_fifo.py::test_overflow[seed=3] - AssertionError: assert 17 == 16",
                "FAILED t/test_fifo.py::test_overflow[seed=9] - AssertionError: assert 4 == 16",
            ],
            True,
        ),
        (  # two different pytest tests stay apart
            [
                "FAILED tests/test_fifo.py::test_overflow - AssertionError",
                "FAILED tests/test_fifo.py::test_underflow - AssertionError",
            ],
            False,
        ),
        (  # timestamps in Python logging
            [
                "2024-05-01 10:11:12,345 - tb - ERROR - link down after 3 retries",
                "2024-06-11 08:01:02,001 - tb - ERROR - link down after 7 retries",
            ],
            True,
        ),
    ],
)
def test_buckets_group_the_same_cause(lines: list[str], same: bool) -> None:
    assert (len({bucket(line) for line in lines}) == 1) is same


def test_bucket_shapes() -> None:
    assert (
        bucket(
            "UVM_ERROR /work/tb/sb.sv(112) @ 21900000: uvm_test_top.env.sb [SCBD] got 0x1cf72910"
        )
        == "UVM_ERROR <PATH>(<N>) @ <TIME>: uvm_test_top.env.sb [SCBD] got <HEX>"
    )
    assert bucket("", "timeout") == "<timeout>"
    assert bucket("ERROR: sim ended at 12:01:02 with 32'hdeadbeef") == (
        "ERROR: sim ended at <TIME> with <HEX>"
    )


def test_change_words() -> None:
    assert [
        change(a, b)
        for a, b in [
            ("passed", "failed"),
            ("failed", "passed"),
            ("failed", "failed"),
            (None, "passed"),
            ("passed", None),
            ("passed", "passed"),
            ("skipped", "passed"),
        ]
    ] == [
        "new failure",
        "fixed",
        "still failing",
        "added",
        "removed",
        "unchanged",
        "skipped -> passed",
    ]
    assert change("passed", None, rerun=True) == "not-rerun"


def test_rerun_selection_follows_skips_to_their_failure() -> None:
    statuses = {"a": "failed", "b": "skipped", "c": "skipped", "d": "passed", "e": "skipped"}
    depends = {"a": [], "b": ["a"], "c": ["b"], "d": [], "e": ["d"]}
    assert rerun_selection(statuses, depends) == {"a", "b", "c"}
    assert rerun_selection(statuses, depends, failed=False) == set(statuses)


def test_failures_buckets_and_command(failed_run: gn.Run) -> None:
    failures = failed_run.failures()
    assert list(failures["job"]) == ["top.tests[1].sim", "top.tests[3].sim"]
    assert list(failures["reason"]) == ["error-in-log", "error-in-log"]
    assert set(failures["bucket"]) == {
        "UVM_ERROR tb.sv(<N>) @ <TIME>: top.env [SCBD] Mismatch <HEX>"
    }
    buckets = failed_run.buckets()
    assert list(buckets.columns) == ["bucket", "jobs", "example", "first_error", "reasons"]
    assert (len(buckets), int(buckets["jobs"][0]), buckets["example"][0]) == (
        1,
        2,
        "top.tests[1].sim",
    )
    line = failed_run.command("top.tests[3].sim")
    assert line.startswith(f"cd {Path.cwd()} && env FLAVOUR=sour GATOR_ARRAY_INDEX=3 ")
    done = subprocess.run(line, shell=True, capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[0] == "UVM_ERROR tb.sv(3) @ 300: top.env [SCBD] Mismatch 0x0003"
    with pytest.raises(gn.GatorError, match=r"no job 'top.tests\[3\].simm' in run .* \(did you"):
        failed_run.command("top.tests[3].simm")


def test_messages_of_reads_only_what_it_needs(failed_run: gn.Run) -> None:
    errors = failed_run.messages_of("top.tests[1].sim", severity="ERROR")
    assert list(errors["message"]) == ["UVM_ERROR tb.sv(3) @ 100: top.env [SCBD] Mismatch 0x0001"]
    everything = failed_run.messages_of("top.tests[1].sim", severity=None)
    assert list(everything["severity"]) == ["ERROR", "INFO"]
    assert failed_run.log("top.tests[0].sim") == "ok\nsour kept"


def test_rerun_selects_exactly_the_failures_and_their_skips(failed_run: gn.Run) -> None:
    assert set(failed_run.jobs.query("status == 'skipped'")["job"]) == {"top.after_tests"}
    child = gn.rerun(failed_run)
    assert child.parent == failed_run.id
    # The build the failed simulations wait on is rebuilt (deps=True, the default).
    assert list(child.jobs["job"]) == [
        "top.build", "top.tests[1].sim", "top.tests[3].sim", "top.after_tests",
    ]  # fmt: skip
    assert list(child.jobs["status"]) == ["passed", "failed", "failed", "skipped"]
    alone = gn.rerun(failed_run, deps=False)
    assert list(alone.jobs["job"]) == ["top.tests[1].sim", "top.tests[3].sim", "top.after_tests"]
    # The same environment as the first run, not the caller's current one.
    assert child.log("top.tests[1].sim").splitlines()[-1] == "sour kept"
    comparison = gn.compare(failed_run, child)
    assert dict(zip(comparison["job"], comparison["change"], strict=True)) == {
        "top.build": "unchanged",
        "top.tests[0].sim": "not-rerun",
        "top.tests[1].sim": "still failing",
        "top.tests[2].sim": "not-rerun",
        "top.tests[3].sim": "still failing",
        "top.after_tests": "unchanged",
        "top.cleanup": "not-rerun",
    }


def _jobs(rows: list[dict[str, object]]) -> object:
    return frames.jobs(rows)


def test_compare_constructed_runs() -> None:
    before = frames.jobs(
        [
            {"job": "a", "status": "passed", "duration_s": 2.0, "peak_rss": 100},
            {"job": "b", "status": "failed", "duration_s": 1.0, "peak_rss": 100},
            {"job": "c", "status": "failed", "duration_s": 1.0, "peak_rss": 100},
            {"job": "d", "status": "passed", "duration_s": 1.0, "peak_rss": 100},
        ]
    )
    after = frames.jobs(
        [
            {"job": "a", "status": "failed", "duration_s": 4.0, "peak_rss": 50},
            {"job": "b", "status": "passed", "duration_s": 1.0, "peak_rss": 100},
            {"job": "c", "status": "failed", "duration_s": 3.0, "peak_rss": 300},
            {"job": "e", "status": "passed", "duration_s": 1.0, "peak_rss": 100},
        ]
    )
    table = frames.compare(before, after)
    assert list(table["job"]) == ["a", "b", "c", "d", "e"]
    assert list(table["change"]) == ["new failure", "fixed", "still failing", "removed", "added"]
    assert list(table["duration_ratio"][:3]) == [2.0, 1.0, 3.0]
    assert list(table["peak_rss_ratio"][:3]) == [0.5, 1.0, 3.0]


def test_cli_rerun_compare_and_report(failed_run: gn.Run, tmp_path: Path) -> None:
    runs = str(failed_run.path.parent)
    gator = [PY, "-m", "gator_nb"]
    done = subprocess.run(
        [*gator, "rerun", failed_run.id, "--runs-dir", runs],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout.startswith(f"gator: rerun of {failed_run.id} as ")
    assert "FAIL   top.tests[1].sim  (error-in-log)" in done.stdout  # the run's own line log
    child = done.stdout.split()[-1]
    quiet = subprocess.run(
        [*gator, "rerun", failed_run.id, "--runs-dir", runs, "-q", "--parallel", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert quiet.returncode == 1
    assert quiet.stdout.count("\n") == 1 and quiet.stdout.startswith("gator: failed: 4/4 done")
    done = subprocess.run(
        [*gator, "compare", failed_run.id, child, "--runs-dir", runs],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "still failing   top.tests[1].sim" not in done.stdout
    assert "still failing  top.tests[1].sim  (failed -> failed)" in done.stdout
    assert "      3 not-rerun" in done.stdout  # counted, listed only with --all
    assert "top.tests[0].sim" not in done.stdout and "removed" not in done.stdout
    junit = tmp_path / "r.xml"
    done = subprocess.run(
        [*gator, "report", child, "--junit", str(junit), "--runs-dir", runs],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ET.parse(junit).getroot().get("tests") == "4"  # the rebuilt build too
