"""Steering a regression: params and matrices, seeds, run-time env, artefacts between real
processes, and reruns that rebuild what failed jobs need."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gator_nb as gn

PY = sys.executable
SHOW = "import os; print(' '.join(f'{k}={os.environ[k]}' for k in sorted(os.environ) if k.startswith(('GATOR_PARAM', 'GATOR_SEED', 'GATOR_ARRAY', 'WAVES', 'MODE'))))"  # noqa: E501


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def problems(text: str) -> list[str]:
    with pytest.raises(gn.SpecError) as caught:
        gn.load_spec(text=textwrap.dedent(text).lstrip("\n"))
    return [str(p) for p in caught.value.problems]


MATRIX = f"""
!JobGroup
  id: reg
  params: {{width: 8, mode: fast}}
  jobs:
    - !JobArray
        id: tests
        matrix: {{test: [smoke, stress], width: [16, 32]}}
        repeats: 2
        jobs:
          - !Job
              id: sim
              command: {PY}
              args: ["-c", "{SHOW}", "{{{{ test }}}}-{{{{width}}}}"]
              env: {{MODE: "{{{{ mode }}}}-{{{{ test }}}}"}}
"""


def test_a_matrix_is_the_product_first_name_slowest_times_repeats(tmp_path: Path) -> None:
    done = gn.run(write(tmp_path, MATRIX), parallel=2, runs_dir=tmp_path / "runs", seed=7)
    jobs = done.jobs
    assert len(jobs) == 8
    assert jobs[["param_test", "param_width", "param_mode"]].values.tolist() == [
        ["smoke", "16", "fast"], ["smoke", "16", "fast"], ["smoke", "32", "fast"],
        ["smoke", "32", "fast"], ["stress", "16", "fast"], ["stress", "16", "fast"],
        ["stress", "32", "fast"], ["stress", "32", "fast"],
    ]  # fmt: skip
    assert jobs.iloc[5]["command"].endswith("stress-16")  # {{ }} in args, inner value wins
    log = done.log("reg.tests[5].sim")
    assert "GATOR_ARRAY_INDEX=5 GATOR_PARAM_MODE=fast GATOR_PARAM_TEST=stress" in log
    assert "GATOR_PARAM_WIDTH=16" in log and "MODE=fast-stress" in log
    pivot = jobs.pivot_table(
        index="param_width", columns="param_test", values="duration_s", aggfunc="count"
    )
    assert pivot.values.tolist() == [[2, 2], [2, 2]]
    assert "tests[5].sim test=stress width=16" in done.tree()


def test_unknown_params_and_bad_matrices_are_spec_errors() -> None:
    assert problems("""
        !JobArray
          id: a
          params: {widht: 8}
          matrix: {test: [], seed: [1, {x: 2}]}
          jobs:
            - !Job {id: j, command: "run-{{ width }}", args: ["{{test}}"], cwd: "{{ nope }}"}
    """) == [
        "<text>:4:18: error: $.matrix.test: expected a non-empty list of values, got a list",
        "<text>:4:32: error: $.matrix.seed[1]: expected a string or number, got a mapping",
        "<text>:6:29: error: $.jobs[0].command: unknown param '{{ width }}' "
        "(did you mean 'widht'?)",
        "<text>:6:73: error: $.jobs[0].cwd: unknown param '{{ nope }}'",
    ]


def test_seeds_are_derived_recorded_and_kept(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        f"""
        !JobArray
          id: s
          repeats: 3
          jobs:
            - !Job {{id: j, command: {PY}, args: ["-c", "{SHOW}"]}}
            - !Job {{id: fixed, command: {PY}, args: ["-c", "{SHOW}"], params: {{seed: 42}}}}
    """,
    )

    def seeds(run: gn.Run) -> list[int]:
        return [int(s) for s in run.jobs["seed"]]

    a = gn.run(spec, runs_dir=tmp_path / "runs", seed=1)
    b = gn.run(spec, runs_dir=tmp_path / "runs", seed=1)
    c = gn.run(spec, runs_dir=tmp_path / "runs", seed=2)
    assert a.seed == 1 and c.seed == 2
    assert seeds(a) == seeds(b) != seeds(c)
    assert len(set(seeds(a)[::2])) == 3  # each copy its own
    assert seeds(a)[1::2] == seeds(c)[1::2] == [42, 42, 42]  # a seed param wins
    assert f"GATOR_SEED={seeds(a)[0]}" in a.log("s[0].j")
    assert f"GATOR_SEED={seeds(a)[0]}" in a.command("s[0].j")
    again = gn.rerun(a, failed=False)
    assert seeds(again) == seeds(a) and again.seed == 1
    random = gn.run(spec, runs_dir=tmp_path / "runs")
    assert 0 <= random.seed < 2**31


def test_run_time_env_wins_over_the_spec_at_every_level(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        f"""
        !JobGroup
          id: top
          env: {{WAVES: "0"}}
          jobs:
            - !JobGroup
                id: inner
                env: {{WAVES: "1"}}
                jobs:
                  - !Job {{id: j, command: {PY}, args: ["-c", "{SHOW}", "${{WAVES:-off}}"]}}
    """,
    )
    plain = gn.run(spec, runs_dir=tmp_path / "runs")
    assert "WAVES=1" in plain.log("top.inner.j")
    forced = gn.run(spec, runs_dir=tmp_path / "runs", env={"WAVES": "2"})
    assert "WAVES=2" in forced.log("top.inner.j") and forced.jobs["command"][0].endswith(" 2")
    assert forced.info()["overrides"] == {"WAVES": "2"}
    assert "WAVES=2" in forced.command("top.inner.j")
    done = subprocess.run(
        [PY, "-m", "gator_nb", "run", str(spec), "-e", "WAVES=3", "-e", "MODE=x", "-q",
         "--runs-dir", str(tmp_path / "runs")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "MODE=x WAVES=3" in gn.load("latest", tmp_path / "runs").log("top.inner.j")
    rerun = gn.rerun(forced, failed=False, env={"MODE": "y"})
    assert "MODE=y WAVES=2" in rerun.log("top.inner.j")  # the parent's overrides, and more


def test_posix_expansion_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write(
        tmp_path,
        f"""
        !Job
          id: j
          command: {PY}
          args: ["-c", "import sys; print(sys.argv[1:])", "${{A:-da}}", "${{B-db}}", "${{C:-dc}}",
                 "${{D:?set D to the design}}"]
    """,
    )
    monkeypatch.setenv("B", "")
    monkeypatch.setenv("C", "")
    monkeypatch.delenv("A", raising=False)
    monkeypatch.delenv("D", raising=False)
    done = subprocess.run(
        [PY, "-m", "gator_nb", "check", str(spec)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "error: $.args: $D: set D to the design" in done.stderr
    monkeypatch.setenv("D", "alu")
    run = gn.run(spec, runs_dir=tmp_path / "runs")
    assert run.log("j").strip() == "['da', '', 'dc', 'alu']"  # ${B-db}: set but empty


PIPELINE = """
!JobGroup
  id: flow
  jobs:
    - !Job
        id: build
        command: {py}
        args: ["-c", "import pathlib; pathlib.Path('out').mkdir(exist_ok=True); pathlib.Path('out/model.bin').write_text(pathlib.Path('{source}').read_text())"]
        outputs: {{model: out/model.bin}}
        cwd: $GATOR_JOB_DIR
    - !JobArray
        id: sims
        repeats: 2
        jobs:
          - !Job
              id: sim
              inputs: [build.model]
              command: {py}
              args: ["-c", "import os, sys; text = open(os.environ['GATOR_INPUT_MODEL']).read(); print('model:', text); sys.exit(1 if 'bug' in text and os.environ['GATOR_ARRAY_INDEX'] == '1' else 0)"]
"""  # noqa: E501


def test_artefacts_flow_and_reruns_rebuild_what_failed_jobs_need(tmp_path: Path) -> None:
    source = tmp_path / "source.txt"
    source.write_text("v1 bug")
    spec = write(tmp_path, PIPELINE.format(py=PY, source=source))
    first = gn.run(spec, parallel=2, runs_dir=tmp_path / "runs")
    artefacts = first.artefacts
    assert artefacts[["job", "name", "bytes"]].values.tolist() == [["flow.build", "model", 6]]
    model = artefacts["path"][0]
    assert Path(model).is_absolute() and Path(model).read_text() == "v1 bug"
    assert "model: v1 bug" in first.log("flow.sims[0].sim")  # read the producer's file
    starts = first.jobs.set_index("job")["start"]
    assert starts["flow.sims[0].sim"] >= first.jobs.set_index("job")["end"]["flow.build"]
    assert first.jobs.set_index("job")["status"]["flow.sims[1].sim"] == "failed"

    source.write_text("v2 fixed")  # the fix, in the source the build reads
    stale = gn.rerun(first, deps=False)  # uses the parent's model: still the bug
    assert stale.jobs["job"].tolist() == ["flow.sims[1].sim"]
    assert stale.status == "failed" and "model: v1 bug" in stale.log("flow.sims[1].sim")
    fixed = gn.rerun(first)  # rebuilds the model the failed simulation needs
    assert fixed.jobs["job"].tolist() == ["flow.build", "flow.sims[1].sim"]
    assert fixed.status == "passed" and "model: v2 fixed" in fixed.log("flow.sims[1].sim")
    changes = gn.compare(first, fixed).set_index("job")["change"].to_dict()
    assert changes == {
        "flow.build": "unchanged",
        "flow.sims[0].sim": "not-rerun",
        "flow.sims[1].sim": "fixed",
    }
    only = gn.rerun(first, only=["flow.sims[0]"], deps=False)
    assert only.jobs["job"].tolist() == ["flow.sims[0].sim"]
    with pytest.raises(gn.NoSuchJob, match=r"no job or group 'flow\.simz'"):
        gn.rerun(first, only=["flow.simz"])


def test_missing_outputs_fail_the_producer_and_skip_its_consumers(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        """
        !JobGroup
          id: flow
          jobs:
            - !Job {id: build, command: "true", outputs: {model: "*.bin"}}
            - !Job {id: sim, command: "true", inputs: [build.model]}
    """,
    )
    done = gn.run(spec, runs_dir=tmp_path / "runs")
    rows = done.jobs.set_index("job")
    assert rows.loc["flow.build", ["status", "reason"]].tolist() == ["failed", "missing-output"]
    assert "model (*.bin)" in str(rows.loc["flow.build", "first_error"])
    assert rows.loc["flow.sim", "status"] == "skipped"


def test_unknown_inputs_are_spec_errors() -> None:
    assert problems("""
        !JobGroup
          id: g
          jobs:
            - !Job {id: build, command: x, outputs: {model: m.bin}}
            - !Job {id: a, command: x, inputs: [build.modle, nobody.x, g.y, "no-dot"]}
    """) == [
        "<text>:5:41: error: $.jobs[1].inputs[0]: job 'build' has no output 'modle' "
        "(did you mean 'model'?)",
        "<text>:5:54: error: $.jobs[1].inputs[1]: no job 'nobody'",
        "<text>:5:64: error: $.jobs[1].inputs[2]: 'g' contains this job, so it can never "
        "finish first",
        "<text>:5:69: error: $.jobs[1].inputs[3]: expected PRODUCER.NAME (a job and one of "
        "its outputs), got a string 'no-dot'",
    ]
