"""The Python API: gn.run / load / runs, a live Run in a thread, cancel, wait, DataFrames."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

import gator_nb as gn
from gator_nb.events import JobOutput

PY = sys.executable


def test_run_and_its_dataframes(tmp_path: Path, write_spec) -> None:
    spec = write_spec(f"""
        !JobGroup
          id: top
          jobs:
          - !Job {{id: a, command: {PY}, args: ["-c", "import sys; print('hi'); print('careful', file=sys.stderr); b = bytearray(60 * 2**20); import time; time.sleep(0.3)"]}}
          - !Job {{id: b, command: {PY}, args: ["-c", "print('ERROR: broken')"], on_done: [a]}}
    """)  # noqa: E501
    run = gn.run(spec, parallel=2, runs_dir=tmp_path / "runs", sample_interval=0.05)
    assert run.status == "failed"
    assert run.path.parent == tmp_path / "runs" and run.id == run.path.name
    jobs = run.jobs
    assert list(jobs.columns[:13]) == [
        "job",
        "status",
        "exit_code",
        "start",
        "end",
        "duration_s",
        "cpu_s",
        "peak_rss",
        "warnings",
        "errors",
        "first_error",
        "command",
        "cwd",
    ]
    assert str(jobs["start"].dtype) == "datetime64[ns, UTC]"
    assert list(jobs["status"]) == ["passed", "failed"]
    assert list(jobs["warnings"]) == [1, 0] and list(jobs["errors"]) == [0, 1]
    assert jobs["peak_rss"][0] >= 60 * 2**20
    assert jobs["first_error"][1] == "ERROR: broken"
    messages = run.messages
    assert list(messages.columns[:5]) == ["time", "job", "severity", "stream", "message"]
    assert list(
        zip(
            messages["job"],
            messages["severity"],
            messages["stream"],
            messages["message"],
            strict=True,
        )
    ) == [
        ("top.a", "INFO", "stdout", "hi"),
        ("top.a", "WARNING", "stderr", "careful"),
        ("top.b", "ERROR", "stdout", "ERROR: broken"),
    ]
    resources = run.resources
    assert list(resources.columns[:5]) == ["time", "job", "cpu_percent", "rss", "num_procs"]
    assert (resources["job"] == "top.a").sum() >= 2
    assert resources["rss"].max() >= 60 * 2**20
    listed = gn.runs(tmp_path / "runs")
    assert list(listed.columns) == [
        "id",
        "path",
        "spec",
        "status",
        "start",
        "end",
        "jobs",
        "passed",
        "failed",
    ]
    assert listed.to_dict("records")[0] | {"start": None, "end": None} == {
        "id": run.id,
        "path": str(run.path),
        "spec": str(spec),
        "status": "failed",
        "start": None,
        "end": None,
        "jobs": 2,
        "passed": 1,
        "failed": 1,
    }


def test_run_in_the_background_and_cancel(tmp_path: Path, write_spec) -> None:
    spec = write_spec(f"""
        !JobArray
          id: s
          repeats: 4
          jobs: [!Job {{id: j, command: {PY}, args: ["-c", "print('up', flush=True); import time; time.sleep(60)"]}}]
    """)  # noqa: E501
    run = gn.run(spec, parallel=2, runs_dir=tmp_path / "runs", wait=False)
    up = threading.Event()
    assert run.subscribe(lambda e: up.set() if isinstance(e, JobOutput) else None)
    assert up.wait(20)
    assert run.status == "running"
    run.cancel()
    assert run.wait(10) == "cancelled"
    jobs = run.jobs
    assert set(jobs["status"]) == {"cancelled"}
    groups = {int(pid) for pid in jobs["pid"].dropna() if pid}  # each job leads its group
    assert len(groups) >= 1
    assert _alive_in(groups) == []
    again = gn.load(run.id, runs_dir=tmp_path / "runs")
    assert again.status == "cancelled"
    assert again.wait(0) == "cancelled"


def _alive_in(groups: set[int]) -> list[int]:
    """Processes still running (not zombies) in any of the process groups."""
    alive = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) in groups and proc.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(proc.pid)
        except ProcessLookupError:
            continue
    return alive


def test_load_finds_runs_by_prefix_latest_and_path(tmp_path: Path, write_spec) -> None:
    spec = write_spec("!Job {id: a, command: 'true'}")
    first = gn.run(spec, runs_dir=tmp_path)
    second = gn.run(spec, runs_dir=tmp_path)
    assert gn.load("latest", runs_dir=tmp_path).id == second.id
    assert gn.load(first.path).id == first.id
    assert gn.load(first.id[:-2] + first.id[-2:], runs_dir=tmp_path).id == first.id
    with pytest.raises(gn.GatorError, match="no run 'nope'"):
        gn.load("nope", runs_dir=tmp_path)
    with pytest.raises(gn.GatorError, match="matches 2 runs"):
        gn.load("20", runs_dir=tmp_path)


def test_a_bad_spec_raises_with_every_problem(tmp_path: Path, write_spec) -> None:
    spec = write_spec("!Job {id: a, command: x, on_pass: [b, c]}")
    with pytest.raises(gn.SpecError) as caught:
        gn.run(spec, runs_dir=tmp_path / "runs")
    assert [p.message for p in caught.value.problems] == ["no job 'b'", "no job 'c'"]
    assert not (tmp_path / "runs").exists()


def test_importing_the_engine_leaves_heavy_modules_alone() -> None:
    code = (
        "import sys, gator_nb, gator_nb.runner, gator_nb.cli; "
        "print(sorted(m for m in ('pandas', 'matplotlib', 'IPython', 'ipywidgets') "
        "if m in sys.modules))"
    )
    done = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_user_errors_are_gator_errors_with_a_suggestion(tmp_path: Path, write_spec) -> None:
    run = gn.run(write_spec("!Job {id: say_hi, command: 'true'}"), runs_dir=tmp_path)
    with pytest.raises(gn.NoSuchJob, match=r"no job 'say_hii' in run .*did you mean 'say_hi'"):
        run.log("say_hii")
    with pytest.raises(gn.UsageError, match="no severity 'warn'; expected one of DEBUG, INFO"):
        run.messages_of(severity="warn")
    assert run.job("say_hi")["status"] == "passed"
    assert run.log_tail("say_hi") == ([], 0)
