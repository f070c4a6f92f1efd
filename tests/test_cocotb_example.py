"""examples/cocotb end to end: a real cocotb testbench on Icarus Verilog, its failures read
from cocotb's own results.xml (cocotb logs them at WARNING and the simulator exits 0)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

import gator_nb as gn

SPEC = Path(__file__).parents[1] / "examples" / "cocotb" / "regression.yaml"

if shutil.which("iverilog") is None or shutil.which("vvp") is None:
    pytest.skip(
        "Icarus Verilog is not installed (make test installs Debian's iverilog with apt-get)",
        allow_module_level=True,
    )
if importlib.util.find_spec("cocotb") is None:
    pytest.skip("cocotb is not installed (it is in the [dev] extra)", allow_module_level=True)


# The example runs `python3` as a user with this environment active would.
ACTIVE = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture(scope="module")
def buggy(tmp_path_factory: pytest.TempPathFactory) -> gn.Run:
    runs = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", ACTIVE)
        return gn.run(SPEC, parallel=2, runs_dir=runs, seed=1, env={"ALU_BUG": "1"})


@pytest.mark.timeout(180)
def test_the_seeds_that_find_the_bug_fail_on_test_sub(buggy: gn.Run) -> None:
    jobs = buggy.jobs.set_index("job")
    sims = jobs[jobs.index.str.startswith("alu.sims[")]
    failed = sims[sims["status"] == "failed"]
    assert jobs.loc["alu.build", "status"] == "passed"
    assert 0 < len(failed) < len(sims) == 6, "some seeds find the corner, some miss it"
    assert set(failed["reason"]) == {"test-failed"}
    assert set(failed["tests_failed"]) == {1} and set(sims["tests"]) == {3}
    tests = buggy.tests
    assert len(tests) == 18  # every case of every simulation, not 6 job cases
    broken = tests[tests["status"] == "failed"]
    assert set(broken["test"]) == {"test_sub"}
    assert set(broken["job"]) == set(failed.index)
    # One bucket, named by what failed, with the harmless vpi warning waived by the spec.
    assert buggy.artefacts["name"].tolist() == ["vvp"]
    (bucket,) = buggy.buckets()["bucket"]
    assert bucket == "sub(<HEX>, <HEX>) = <HEX>, expected <HEX>"
    assert set(sims["warnings"]) == {0}
    passed = sims[sims["status"] == "passed"].index
    borrows = buggy.metrics.query("name == 'sub_borrows'")
    assert set(borrows["job"]) == set(passed)  # test_sub reports it only when it passes
    group = buggy.group_metrics.set_index(["group", "name"]).loc[("alu.sims", "sub_borrows")]
    assert group["count"] == len(passed)
    assert group["mean"] == pytest.approx(borrows["value"].mean())


@pytest.mark.timeout(180)
def test_the_fix_rerun_rebuilds_and_passes(buggy: gn.Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", ACTIVE)
    fixed = gn.rerun(buggy, env={"ALU_BUG": "0"})  # the build is rerun: it needs it
    failed = set(buggy.failures()["job"])
    assert set(fixed.jobs["job"]) == {"alu.build"} | failed
    assert fixed.status == "passed" and set(fixed.tests["status"]) == {"passed"}
    changes = gn.compare(buggy, fixed)["change"].value_counts().to_dict()
    assert changes == {"fixed": len(failed), "not-rerun": 6 - len(failed), "unchanged": 1}
    # The same seeds as the run that failed: the same operands, now right.
    seeds = buggy.jobs.set_index("job")["seed"]
    assert (fixed.jobs.set_index("job")["seed"] == seeds[fixed.jobs["job"]]).all()
