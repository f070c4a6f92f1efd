"""%gator and %%gator in IPython's in-process test shell: parsing, errors, return values."""

from __future__ import annotations

import os
import re
import signal
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.testing.globalipapp import get_ipython
from IPython.utils.capture import capture_output

import gator_nb as gn

GATED = """
!JobGroup
  id: gated
  jobs:
    - !Job
        id: wait_for_release
        timeout: 20
        command: bash
        args: [-c, "while [ ! -e {release} ]; do sleep 0.02; done"]
"""
QUICK = """
!JobGroup
  id: quick
  jobs:
    - !Job {id: one, command: echo, args: [one]}
    - !Job {id: two, command: echo, args: [two]}
"""


@pytest.fixture(scope="module")
def ip() -> Any:
    shell = get_ipython()
    shell.run_line_magic("load_ext", "gator_nb")
    return shell


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return tmp_path / "runs"


def test_line_magic_returns_the_run_at_once(
    ip: Any, write_spec: Callable[..., Path], runs: Path, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    spec = write_spec(GATED.format(release=release))
    run = ip.run_line_magic("gator", f"{spec} --runs-dir {runs}")
    assert isinstance(run, gn.Run)
    assert run.path.parent == runs
    assert run.status == "running"  # the job cannot end before the release file exists
    release.touch()
    assert run.wait(timeout=20) == "passed"


def test_wait_blocks_until_the_run_ends(
    ip: Any, write_spec: Callable[..., Path], runs: Path
) -> None:
    run = ip.run_line_magic("gator", f"{write_spec(QUICK)} --wait --runs-dir {runs}")
    assert run.status == "passed"
    assert list(run.jobs["status"]) == ["passed", "passed"]


def test_parallel_limits_jobs_at_once(ip: Any, write_spec: Callable[..., Path], runs: Path) -> None:
    spec = write_spec("""
        !JobArray
          id: naps
          repeats: 3
          jobs:
            - !Job {id: nap, command: sleep, args: ["0.1"]}
    """)
    run = ip.run_line_magic("gator", f"{spec} -j 1 --wait --runs-dir {runs}")
    jobs = run.jobs.sort_values("start")
    assert (jobs["start"].iloc[1:].to_numpy() >= jobs["end"].iloc[:-1].to_numpy()).all()


def test_memory_licences_and_sample_interval_as_gator_run_takes_them(
    ip: Any, write_spec: Callable[..., Path], runs: Path
) -> None:
    spec = write_spec("""
        !JobArray
          id: sims
          repeats: 2
          resources: [!License [sim, 1], !Memory [1, GB]]
          jobs:
            - !Job {id: sim, command: sleep, args: ["0.3"]}
    """)
    line = f"{spec} -j 2 --memory 4GB --licenses sim=1 --sample-interval 0.05 --wait"
    run = ip.run_line_magic("gator", f"{line} --runs-dir {runs}")
    jobs = run.jobs.sort_values("start")
    assert run.status == "passed"
    assert jobs["start"].iloc[1] >= jobs["end"].iloc[0]  # one seat: one at a time
    assert run.resources.groupby("job").size().min() >= 3  # 0.3 s sampled every <= 50 ms


def test_cell_magic_runs_the_yaml_in_the_cell(ip: Any, runs: Path) -> None:
    run = ip.run_cell_magic("gator", f"--wait --runs-dir {runs} --parallel 2", QUICK)
    assert run.status == "passed"
    assert sorted(run.jobs["job"]) == ["quick.one", "quick.two"]


def test_a_bad_cell_spec_lists_every_problem(ip: Any, runs: Path) -> None:
    body = textwrap.dedent("""
        !JobGroup
          id: top
          jobs:
            - !Job {id: a, command: echo, on_pass: [nothere]}
            - !Job {id: b, comand: echo}
    """).lstrip()
    with pytest.raises(UsageError) as caught:
        ip.run_cell_magic("gator", f"--runs-dir {runs}", body)
    assert str(caught.value).splitlines() == [
        "bad spec (3 problems), nothing was run:",
        "%%gator cell:4:45: error: $.jobs[0].on_pass[0]: no job 'nothere'",
        "%%gator cell:5:7: error: $.jobs[1]: missing 'command' (a !Job needs a program to run)",
        "%%gator cell:5:20: error: $.jobs[1]: unknown key 'comand' for !Job"
        " (did you mean 'command'?)",
    ]
    assert not runs.exists()  # nothing ran, no run directory


def test_a_bad_spec_file_names_the_file(
    ip: Any, write_spec: Callable[..., Path], runs: Path
) -> None:
    spec = write_spec("""
        !JobGroup
          id: top
          jobs:
            - !Job {id: a, command: echo}
            - !Job {id: a, command: echo}
    """)
    with pytest.raises(UsageError, match=r"bad spec \(1 problem\)") as caught:
        ip.run_line_magic("gator", f"{spec} --runs-dir {runs}")
    assert f"{spec}:" in str(caught.value)


@pytest.mark.parametrize(
    ("line", "cell", "message"),
    [
        ("", None, "usage: %gator SPEC"),
        ("no-such.yaml", None, "no spec file 'no-such.yaml'"),
        ("x.yaml --parallel 0", None, "--parallel must be at least 1, got 0"),
        ("x.yaml --frobnicate", None, "unrecognized arguments: --frobnicate"),
        ("x.yaml --backend ssh", None, "invalid choice: 'ssh'"),
        ("x.yaml", "!Job {}", "%%gator takes the spec from the cell body, not a file name"),
        ("", "  \n", "%%gator: the cell is empty"),
        (
            "--memory lots",
            "!Job {id: a, command: 'true'}",
            "expected a size > 0 and <= 1EB like 512MB",
        ),
        ("--licenses sim", "!Job {id: a, command: 'true'}", "expected NAME=N with N >= 1"),
        ("--sample-interval 0", "!Job {id: a, command: 'true'}", "sample interval must be"),
    ],
)
def test_usage_errors(ip: Any, line: str, cell: str | None, message: str) -> None:
    magic = (
        (lambda: ip.run_line_magic("gator", line))
        if cell is None
        else (lambda: ip.run_cell_magic("gator", line, cell))
    )
    with pytest.raises(UsageError, match=re.escape(message)):
        magic()


def test_a_usage_error_shows_no_traceback(
    ip: Any, runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = ip.run_cell(f"%%gator --runs-dir {runs}\n!JobGroup\n  id: x\n  jobz: []\n")
    assert isinstance(result.error_in_exec, UsageError)
    err = capsys.readouterr().err
    assert "UsageError: bad spec (2 problems)" in err
    assert "Traceback" not in err


def test_the_run_is_shown_once_and_kept_in_underscore(
    ip: Any, write_spec: Callable[..., Path], runs: Path
) -> None:
    with capture_output() as captured:
        result = ip.run_cell(f"%gator {write_spec(QUICK)} --wait --runs-dir {runs}")
    run = result.result
    assert isinstance(run, gn.Run)
    assert ip.user_ns["_"] is run
    (shown,) = captured.outputs  # the magic's own display; the cell's result adds none
    assert shown.data["text/plain"].startswith(f"gator run {run.id}: running;")
    with capture_output() as again:
        ip.run_cell("_")  # a later cell showing the run shows it again, finished
    (later,) = again.outputs
    assert later.data["text/plain"].startswith(f"gator run {run.id}: passed; 2/2 done")


def test_interrupting_wait_cancels_the_run(
    ip: Any, write_spec: Callable[..., Path], runs: Path, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    spec = write_spec(f"""
        !JobGroup
          id: forever
          jobs:
            - !Job
                id: sleeper
                command: bash
                args: [-c, "touch {ready}; sleep 60"]
    """)

    def interrupt_once_started() -> None:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # another process's file: nothing to await
        os.kill(os.getpid(), signal.SIGINT)  # what the kernel's interrupt button does

    threading.Thread(target=interrupt_once_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        ip.run_line_magic("gator", f"{spec} --wait --runs-dir {runs}")
    run = gn.load("latest", runs_dir=runs)
    assert run.status == "cancelled"
    assert list(run.jobs["status"]) == ["cancelled"]


def test_rerun_reruns_only_the_failures(
    ip: Any, write_spec: Callable[..., Path], runs: Path
) -> None:
    spec = write_spec("""
        !JobGroup
          id: top
          jobs:
            - !Job {id: ok, command: "true"}
            - !Job {id: bad, command: "false"}
            - !Job {id: after, command: "true", on_pass: [bad]}
    """)
    first = ip.run_line_magic("gator", f"{spec} --wait --runs-dir {runs}")
    assert first.status == "failed"
    again = ip.run_line_magic("gator", f"--rerun {first.id} --wait --runs-dir {runs}")
    assert again.parent == first.id
    assert list(again.jobs["job"]) == ["top.bad", "top.after"]
    every = ip.run_line_magic("gator", f"--rerun {first.id} --all --wait --runs-dir {runs}")
    assert list(every.jobs["job"]) == ["top.ok", "top.bad", "top.after"]
    with pytest.raises(UsageError, match="no run 'nope'"):
        ip.run_line_magic("gator", f"--rerun nope --runs-dir {runs}")
    with pytest.raises(UsageError, match="takes no spec"):
        ip.run_line_magic("gator", f"{spec} --rerun {first.id} --runs-dir {runs}")


def test_cluster_option_runs_on_a_cluster_of_the_runs_own(
    ip: Any, write_spec: Callable[..., Path], runs: Path
) -> None:
    """`%gator --cluster local`: the jobs run on Dask workers, not under the kernel."""
    pytest.importorskip("distributed")
    spec = write_spec(
        "!Job {id: parent, command: python3, args: [-c, 'import os; print(os.getppid())']}"
    )
    with capture_output():
        run = ip.run_line_magic("gator", f"{spec} --runs-dir {runs} --cluster local --wait")
    assert run.status == "passed"
    assert int(run.log("parent").split()[0]) != os.getpid()
    with pytest.raises(UsageError, match="argument --cluster: invalid choice: 'nosuch'"):
        ip.run_line_magic("gator", f"{spec} --runs-dir {runs} --cluster nosuch")


def test_env_overrides_seed_and_rerun_options(ip: Any, runs: Path) -> None:
    spec = """
        !JobGroup
          id: top
          env: {MODE: spec}
          jobs:
            - !Job {id: build, command: sh, args: [-c, "echo built > out.txt"], outputs: {o: out.txt}, cwd: $GATOR_JOB_DIR}
            - !Job {id: show, command: sh, args: [-c, "echo $MODE $GATOR_SEED; exit 1"], inputs: [build.o]}
    """  # noqa: E501
    body = textwrap.dedent(spec)
    run = ip.run_cell_magic("gator", f"--wait --runs-dir {runs} -e MODE=magic --seed 3", body)
    assert run.seed == 3 and run.status == "failed"
    seed = int(run.jobs.set_index("job")["seed"]["top.show"])
    assert run.log("top.show").splitlines()[0] == f"magic {seed}"
    again = ip.run_line_magic(
        "gator", f"--rerun {run.id} --runs-dir {runs} --wait --no-deps -e MODE=again"
    )
    assert again.jobs["job"].tolist() == ["top.show"]  # the build's artefact is reused
    assert again.log("top.show").splitlines()[0] == f"again {seed}"
    only = ip.run_line_magic("gator", f"--rerun {run.id} --runs-dir {runs} --wait --only top.build")
    assert only.jobs["job"].tolist() == ["top.build"]
    with pytest.raises(UsageError, match="-e expects NAME=VALUE"):
        ip.run_line_magic("gator", f"--rerun {run.id} --runs-dir {runs} -e nope")


def test_max_jobs_refuses_a_big_cell_spec(ip: Any, runs: Path) -> None:
    cell = "!JobArray {id: a, repeats: 5, jobs: [!Job {id: j, command: 'true'}]}"
    with pytest.raises(UsageError, match="the spec expands to 5 jobs, more than the limit of 3"):
        ip.run_cell_magic("gator", f"--max-jobs 3 --runs-dir {runs}", cell)
    assert not runs.exists()
