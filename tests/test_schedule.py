"""The scheduler with real processes: ordering, outcomes, budgets and cancellation."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

import gator_nb as gn
from gator_nb.engine.backends import LocalBackend
from gator_nb.engine.launch import Limits
from gator_nb.engine.monitor import Monitor
from gator_nb.engine.schedule import run_plan
from gator_nb.events import Event, JobFinished, JobOutput, JobStarted, RunFinished, Status
from gator_nb.spec import plan

PY = sys.executable


async def run_spec(text: str, tmp_path: Path, **limits: object) -> tuple[Status, list[Event]]:
    spec = gn.load_spec(text=textwrap.dedent(text).replace("PY", PY))
    planned = plan(spec, cwd=str(tmp_path), run_id="r", run_dir=str(tmp_path / "run"))
    events: list[Event] = []
    monitor = Monitor(events.append, interval_s=0.05)
    sampling = asyncio.create_task(monitor.run())
    try:
        status = await run_plan(
            planned,
            events.append,
            LocalBackend(monitor),
            limits=Limits(**limits),  # type: ignore[arg-type]
        )
    finally:
        sampling.cancel()
    return status, events


def finished(events: list[Event]) -> dict[str, JobFinished]:
    return {e.job: e for e in events if isinstance(e, JobFinished)}


def order(events: list[Event]) -> list[tuple[str, str]]:
    return [
        ("start" if isinstance(e, JobStarted) else "end", e.job)
        for e in events
        if isinstance(e, JobStarted | JobFinished)
    ]


def most_at_once(events: list[Event]) -> int:
    now = peak = 0
    for kind, _ in order(events):
        now += 1 if kind == "start" else -1
        peak = max(peak, now)
    return peak


def output(events: list[Event], job: str) -> str:
    return b"".join(
        b.data for e in events if isinstance(e, JobOutput) and e.job == job for b in e.blocks
    ).decode()


async def test_seed_example_runs_in_dependency_order(tmp_path: Path) -> None:
    status, events = await run_spec(
        (Path(__file__).parent / "specs" / "hello.yaml").read_text(),
        tmp_path,
        parallel=2,
    )
    assert status == Status.PASSED
    steps = order(events)
    counting = [i for i, (_, job) in enumerate(steps) if "counting" in job]
    assert steps.index(("end", "top.inner.say_hi")) < min(counting)
    assert max(counting) < steps.index(("start", "top.say_bye"))
    assert [output(events, f"top.counting[{i}].echo_count") for i in range(4)] == [
        f"{i}\n" for i in range(4)
    ]
    assert output(events, "top.say_bye") == "bye\n"
    assert isinstance(events[-1], RunFinished) and events[-1].status == Status.PASSED


async def test_failure_paths(tmp_path: Path) -> None:
    status, events = await run_spec(
        """
        !JobGroup
          id: top
          jobs:
          - !Job {id: broken, command: PY, args: ["-c", "raise SystemExit(3)"]}
          - !Job {id: on_pass_job, command: "true", on_pass: [broken]}
          - !Job {id: after_skip, command: "true", on_pass: [on_pass_job]}
          - !Job {id: cleanup, command: "true", on_fail: [broken]}
          - !Job {id: always, command: "true", on_done: [broken, after_skip]}
          - !Job {id: not_failed, command: "true", on_fail: [cleanup]}
          - !JobArray {id: empty, repeats: 0, jobs: [!Job {id: x, command: "false"}]}
          - !Job {id: after_empty, command: "true", on_pass: [empty]}
    """,
        tmp_path,
        parallel=2,
    )
    results = finished(events)
    assert status == Status.FAILED
    assert {job: r.status.value for job, r in results.items()} == {
        "top.broken": "failed",
        "top.on_pass_job": "skipped",
        "top.after_skip": "skipped",
        "top.cleanup": "passed",
        "top.always": "passed",
        "top.not_failed": "skipped",
        "top.after_empty": "passed",
    }
    assert (results["top.broken"].exit_code, results["top.broken"].reason) == (3, "exit-code")
    assert results["top.on_pass_job"].first_error == "on_pass broken: did not pass"
    assert results["top.not_failed"].first_error == "on_fail cleanup: did not fail"


async def test_group_passes_with_skips_and_fails_with_a_failure(tmp_path: Path) -> None:
    status, events = await run_spec(
        """
        !JobGroup
          id: top
          jobs:
          - !JobGroup
              id: g
              jobs:
              - !Job {id: ok, command: "true"}
              - !Job {id: cleanup, command: "true", on_fail: [ok]}
          - !Job {id: after_g, command: "true", on_pass: [g]}
          - !JobGroup
              id: h
              jobs: [!Job {id: bad, command: "false"}, !Job {id: ok, command: "true"}]
          - !Job {id: on_h_fail, command: "true", on_fail: [h]}
          - !Job {id: on_h_pass, command: "true", on_pass: [h]}
    """,
        tmp_path,
    )
    results = {job: r.status.value for job, r in finished(events).items()}
    assert results["top.g.cleanup"] == "skipped"
    assert results["top.after_g"] == "passed"
    assert results["top.on_h_fail"] == "passed"
    assert results["top.on_h_pass"] == "skipped"
    assert status == Status.FAILED


SLEEPERS = """
    !JobGroup
      id: top
      jobs:
      - !JobArray
          id: many
          repeats: 6
          jobs: [!Job {id: s, command: PY, args: ["-c", "import time; time.sleep(0.3)"]}]
"""


async def test_parallel_limit_is_never_exceeded(tmp_path: Path) -> None:
    status, events = await run_spec(SLEEPERS, tmp_path, parallel=2)
    assert status == Status.PASSED
    assert most_at_once(events) == 2


async def test_ready_jobs_start_in_spec_order(tmp_path: Path) -> None:
    _, events = await run_spec(SLEEPERS.replace("0.3", "0.01"), tmp_path, parallel=1)
    starts = [job for kind, job in order(events) if kind == "start"]
    assert starts == [f"top.many[{i}].s" for i in range(6)]


async def test_cores_memory_and_licences_are_budgets(tmp_path: Path) -> None:
    sleep = '[-c, "import time; time.sleep(0.3)"]'
    _, events = await run_spec(
        f"""
        !JobGroup
          id: top
          jobs:
          - !JobArray
              id: wide
              repeats: 2
              resources: [!Cores [2]]
              jobs: [!Job {{id: s, command: PY, args: {sleep}}}]
    """,
        tmp_path,
        parallel=3,
    )
    assert most_at_once(events) == 1
    _, events = await run_spec(
        f"""
        !JobArray
          id: lic
          repeats: 3
          resources: [!License [vcs, 1]]
          jobs: [!Job {{id: s, command: PY, args: {sleep}}}]
    """,
        tmp_path,
        parallel=3,
        licenses={"vcs": 1},
    )
    assert most_at_once(events) == 1
    _, events = await run_spec(
        f"""
        !JobArray
          id: mem
          repeats: 4
          resources: [!Memory [2, GB]]
          jobs: [!Job {{id: s, command: PY, args: {sleep}}}]
    """,
        tmp_path,
        parallel=4,
        memory=5 * 1024**3,
    )
    assert most_at_once(events) == 2


async def test_cancel_stops_everything(tmp_path: Path) -> None:
    text = SLEEPERS.replace("time.sleep(0.3)", "print('up', flush=True); time.sleep(60)")
    spec = gn.load_spec(text=textwrap.dedent(text).replace("PY", PY))
    planned = plan(spec, cwd=str(tmp_path))
    events: list[Event] = []
    up = asyncio.Event()

    def sink(event: Event) -> None:
        events.append(event)
        if sum(isinstance(e, JobOutput) for e in events) == 2:
            up.set()

    monitor = Monitor(sink, interval_s=0.05)
    task = asyncio.create_task(
        run_plan(planned, sink, LocalBackend(monitor), limits=Limits(parallel=2, grace_s=0.5))
    )
    async with asyncio.timeout(20):
        await up.wait()
    pids = [e.pid for e in events if isinstance(e, JobStarted)]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert {r.status for r in finished(events).values()} == {Status.CANCELLED}
    assert len(finished(events)) == 6
    assert isinstance(events[-1], RunFinished) and events[-1].status == Status.CANCELLED
    assert not [p for p in pids if psutil.pid_exists(p)]


async def test_a_job_waiting_for_cores_is_not_overtaken(tmp_path: Path) -> None:
    sleep = '[-c, "import time; time.sleep(0.3)"]'
    _, events = await run_spec(
        f"""
        !JobGroup
          id: top
          jobs:
          - !Job {{id: small, command: PY, args: {sleep}}}
          - !Job {{id: wide, command: PY, args: {sleep}, resources: [!Cores [2]]}}
          - !Job {{id: after, command: PY, args: {sleep}}}
    """,
        tmp_path,
        parallel=2,
    )
    starts = [job for kind, job in order(events) if kind == "start"]
    assert starts == ["top.small", "top.wide", "top.after"]
    assert most_at_once(events) == 1


FLAKY = (  # fails the first time it runs, passes the second
    "import os, sys; p = '{marker}'; seen = os.path.exists(p); open(p, 'w').close(); "
    "print('second' if seen else 'first'); sys.exit(0 if seen else 3)"
)


async def test_retries_run_a_failed_job_again(tmp_path: Path) -> None:
    flaky = tmp_path / "flaky"
    status, events = await run_spec(
        f"""
        !JobGroup
          id: top
          retries: 1
          jobs:
          - !Job
              id: flaky
              command: PY
              args: ["-c", "{FLAKY.format(marker=flaky)}"]
          - !Job {{id: broken, command: "false", retries: 2}}
          - !Job {{id: after, command: "true", on_pass: [flaky]}}
    """,
        tmp_path,
        parallel=1,
    )
    results = finished(events)
    assert {job: r.status.value for job, r in results.items()} == {
        "top.flaky": "passed",
        "top.broken": "failed",
        "top.after": "passed",
    }
    assert status == Status.FAILED
    attempts = [(e.job, e.attempt) for e in events if isinstance(e, JobStarted)]
    assert attempts == [
        ("top.flaky", 1),
        ("top.flaky", 2),
        ("top.broken", 1),
        ("top.broken", 2),
        ("top.broken", 3),
        ("top.after", 1),
    ]
    assert output(events, "top.flaky") == (
        "first\ngator: attempt 1 of 2 failed (exit-code 3); trying again\nsecond\n"
    )
    lines = [
        (b.first_line, b.count)
        for e in events
        if isinstance(e, JobOutput) and e.job == "top.flaky"
        for b in e.blocks
    ]
    assert lines == [(0, 1), (1, 1), (2, 1)]  # one numbering across attempts
    assert results["top.flaky"].lines == 3
