"""The Dask backend carries what the local one does: artefacts between jobs on a shared
filesystem, results files' test cases, metrics and seeds (a real LocalCluster)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

import gator_nb as gn

pytest.importorskip("distributed")
PY = sys.executable
FIXTURE = Path(__file__).parent / "fixtures" / "tools" / "cocotb-results.xml"
SIM = (
    "import os, shutil; print(open(os.environ['GATOR_INPUT_MODEL']).read(),"
    " os.environ['GATOR_SEED']);"
    " print('GATOR_METRIC cov=' + {'a': '1', 'b': '3'}[os.environ['GATOR_PARAM_MODE']]);"
    f" shutil.copy({str(FIXTURE)!r}, os.environ['GATOR_JOB_DIR'])"
)


@pytest.mark.timeout(120)
def test_artefacts_tests_and_metrics_cross_dask_workers(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent(f"""
        !JobGroup
          id: flow
          jobs:
            - !Job
                id: build
                command: {PY}
                args: ["-c", "open('model.bin', 'w').write('built')"]
                cwd: $GATOR_JOB_DIR
                outputs: {{model: model.bin}}
            - !JobArray
                id: sims
                matrix: {{mode: [a, b]}}
                jobs:
                  - !Job
                      id: sim
                      inputs: [build.model]
                      command: {PY}
                      args: ["-c", {SIM!r}]
                      results: $GATOR_JOB_DIR/cocotb-results.xml
    """)
    )
    done = gn.run(spec, backend="dask", parallel=2, runs_dir=tmp_path / "runs", seed=5)
    jobs = done.jobs.set_index("job")
    assert done.info()["backend"] == "dask"
    assert done.artefacts["name"].tolist() == ["model"]
    for sim in ("flow.sims[0].sim", "flow.sims[1].sim"):
        assert done.log(sim).startswith(f"built {jobs.loc[sim, 'seed']}\n")
        assert jobs.loc[sim, "reason"] == "test-failed" and jobs.loc[sim, "tests"] == 3
    local = gn.run(spec, parallel=2, runs_dir=tmp_path / "runs", seed=5)
    assert local.jobs["seed"].tolist() == done.jobs["seed"].tolist()  # seeds: not the backend's
    cov = done.group_metrics.set_index(["group", "name"]).loc[("flow.sims", "cov")]
    assert (cov["count"], cov["mean"]) == (2, 2.0)
    assert len(done.tests) == 6
