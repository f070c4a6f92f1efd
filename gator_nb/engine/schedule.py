"""Run a Plan: dependency gating, parallelism, cores/memory/licence budgets, cancellation.

Event-driven rather than a task per waiting job, so a 10,000-job plan costs only the
jobs that are actually running. Jobs that become ready start in spec order.
"""

from __future__ import annotations

import asyncio
import heapq
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gator_nb.engine.artefacts import input_env, with_inputs
from gator_nb.engine.backends import Backend
from gator_nb.engine.launch import Launch, Limits, Sink
from gator_nb.engine.output import note_block
from gator_nb.events import (
    Artefact,
    Event,
    JobFinished,
    JobOutput,
    LineBlock,
    Reason,
    RunFinished,
    Severity,
    Status,
)
from gator_nb.spec.plan import Condition, Plan, PlannedJob

__all__ = ["run_plan"]


class _Gate:
    """Tracks which jobs wait on which nodes, and decides when each job may start."""

    def __init__(self, plan: Plan, clock: Callable[[], float] = time.time) -> None:
        self.plan, self.clock = plan, clock
        self.ready_at: dict[int, float] = {}  # job index -> when its dependencies were met
        self.remaining: dict[str, int] = {}  # node path -> leaves not yet finished
        self.failed: dict[str, bool] = {}  # node path -> a leaf under it failed
        self.ancestors: list[list[str]] = []
        for job in plan.jobs:
            chain = [job.path]
            up = job.group
            while up is not None:
                chain.append(up)
                up = plan.groups[up].parent
            self.ancestors.append(chain)
        for group in plan.groups.values():
            self.remaining[group.path] = group.end - group.first
            self.failed[group.path] = False
        for job in plan.jobs:
            self.remaining[job.path] = 1
            self.failed[job.path] = False
        self.status: dict[str, Status] = {j.path: Status.PENDING for j in plan.jobs}
        self.waiting: dict[int, int] = {}  # job index -> conditions not yet decided
        self.waiters: dict[str, list[tuple[int, Condition]]] = {}
        self.ready: list[int] = []
        for job in plan.jobs:
            self.waiting[job.index] = 0
            for condition in job.conditions:
                open_targets = [t for t in condition.targets if self.remaining[t] > 0]
                self.waiting[job.index] += 1 if open_targets else 0
                for target in open_targets:
                    self.waiters.setdefault(target, []).append((job.index, condition))
            if self.waiting[job.index] == 0:
                self.ready_at[job.index] = clock()
                heapq.heappush(self.ready, job.index)

    def holds(self, condition: Condition) -> bool:
        """Whether a decided condition lets its job run."""
        if condition.kind == "done":
            return True
        results = []
        for target in condition.targets:
            if target in self.status:  # a single job: its own status counts
                results.append(self.status[target])
            else:  # a group fails when any job under it failed; skips don't count
                results.append(Status.FAILED if self.failed[target] else Status.PASSED)
        if condition.kind == "pass":
            return all(r == Status.PASSED for r in results)
        return bool(results) and all(r in (Status.FAILED, Status.CANCELLED) for r in results)

    def finish(self, index: int, status: Status) -> list[tuple[int, str]]:
        """Record a finished job; returns jobs that can now never run, with why."""
        job = self.plan.jobs[index]
        self.status[job.path] = status
        bad = status in (Status.FAILED, Status.CANCELLED)
        decided: list[tuple[int, Condition]] = []
        for node in self.ancestors[index]:
            self.remaining[node] -= 1
            self.failed[node] = self.failed[node] or bad
            if self.remaining[node] == 0:
                decided += self.waiters.pop(node, [])
        doomed = []
        for waiter, condition in decided:
            if self.status[self.plan.jobs[waiter].path] != Status.PENDING:
                continue
            if any(self.remaining[t] for t in condition.targets):
                continue  # another target of the same condition is still running
            if not self.holds(condition):
                doomed.append((waiter, _why(condition)))
                self.status[self.plan.jobs[waiter].path] = Status.SKIPPED
                continue
            self.waiting[waiter] -= 1
            if self.waiting[waiter] == 0:
                self.ready_at[waiter] = self.clock()
                heapq.heappush(self.ready, waiter)
        return doomed


def _result(
    task: asyncio.Task[JobFinished], job: PlannedJob, sink: Sink, clock: Callable[[], float]
) -> JobFinished:
    """The job's result; a bug in a backend fails that job, not the whole run."""
    try:
        return task.result()
    except Exception as exc:  # noqa: BLE001 - reported as the job's failure, not lost
        finished = JobFinished(
            job=job.path,
            time=clock(),
            status=Status.FAILED,
            reason=Reason.INTERNAL,
            first_error=f"gator: {exc!r}",
        )
        sink(finished)
        return finished


def _why(condition: Condition) -> str:
    wanted = {"pass": "did not pass", "fail": "did not fail"}[condition.kind]
    return f"on_{condition.kind} {condition.name}: {wanted}"


@dataclass(slots=True)
class _Budget:
    limits: Limits
    cores: int = 0
    memory: int = 0
    licenses: dict[str, int] = field(default_factory=dict)

    def needs(self, job: PlannedJob) -> tuple[int, int]:
        # A request bigger than the whole budget would never start: clamp it so the
        # job runs alone instead of waiting forever.
        cores = min(job.cores, self.limits.parallel)
        memory = job.memory or 0
        if self.limits.memory is not None:
            memory = min(memory, self.limits.memory)
        return cores, memory

    def shortfall(self, job: PlannedJob) -> str:
        """What ``job`` waits for: "" (nothing: it fits), "machine" or "licence"."""
        cores, memory = self.needs(job)
        if self.cores + cores > self.limits.parallel:
            return "machine"
        if self.limits.memory is not None and self.memory + memory > self.limits.memory:
            return "machine"
        for name, count in job.licenses:
            limit = self.limits.licenses.get(name)
            if limit is not None and self.licenses.get(name, 0) + min(count, limit) > limit:
                return "licence"
        return ""

    def take(self, job: PlannedJob, sign: int = 1) -> None:
        cores, memory = self.needs(job)
        self.cores += sign * cores
        self.memory += sign * memory
        for name, count in job.licenses:
            limit = self.limits.licenses.get(name, count)
            self.licenses[name] = self.licenses.get(name, 0) + sign * min(count, limit)


async def run_plan(
    plan: Plan,
    sink: Sink,
    backend: Backend,
    *,
    limits: Limits | None = None,
    base_env: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
    artefacts: Mapping[str, tuple[Artefact, ...]] | None = None,
) -> Status:
    """Run every job of ``plan``; returns the run's status (passed, failed or cancelled).

    ``artefacts``: files of jobs outside the plan that its jobs' ``inputs`` may name (a
    rerun's parent's), by job path.

    Cancelling the task stops every running job's process group, marks the jobs that
    never started ``cancelled`` and emits ``RunFinished`` before re-raising.
    """
    dispatch = _Dispatch(plan, sink, backend, limits or Limits(), base_env, clock)
    dispatch.artefacts.update(artefacts or {})
    try:
        while True:
            dispatch.start_ready()
            if not dispatch.running:
                break
            done, _ = await asyncio.wait(dispatch.running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                dispatch.finished(task)
    except asyncio.CancelledError:
        await dispatch.cancel()
        sink(RunFinished(time=clock(), status=Status.CANCELLED))
        raise
    status = Status.FAILED if dispatch.failed else Status.PASSED
    sink(RunFinished(time=clock(), status=status))
    return status


class _Dispatch:
    """Starts ready jobs within the budget, and settles each one as it ends or retries."""

    def __init__(
        self,
        plan: Plan,
        sink: Sink,
        backend: Backend,
        limits: Limits,
        base_env: Mapping[str, str] | None,
        clock: Callable[[], float],
    ) -> None:
        self.plan, self.sink, self.backend, self.limits, self.clock = (
            plan,
            sink,
            backend,
            limits,
            clock,
        )
        self.gate, self.budget = _Gate(plan, clock), _Budget(limits)
        self.env = dict(os.environ if base_env is None else base_env)
        self.running: dict[asyncio.Task[JobFinished], int] = {}
        self.failed = False
        self.attempts: dict[int, int] = {}  # job index -> attempts started
        self.next_line: dict[int, int] = {}  # where a retry's lines continue the log
        self.retrying: set[int] = set()
        # Each finished job's artefacts (and, in a rerun, the parent run's): inputs' source.
        self.artefacts: dict[str, tuple[Artefact, ...]] = {}

    def start_ready(self) -> None:
        blocked = []
        gate = self.gate
        while gate.ready:
            index = heapq.heappop(gate.ready)
            job = self.plan.jobs[index]
            wanting = self.budget.shortfall(job)
            if wanting:
                blocked.append(index)
                if wanting == "machine":
                    # Hold the jobs behind it back, or a stream of small jobs would keep a
                    # big one waiting for ever; a licence wait lets the others pass.
                    break
                continue
            self.budget.take(job)
            gate.status[job.path] = Status.RUNNING
            attempt = self.attempts[index] = self.attempts.get(index, 0) + 1
            inputs = input_env(job.inputs, self.artefacts)
            launch = Launch(
                job=job.path,
                argv=tuple(with_inputs(arg, inputs) for arg in job.argv),
                env={**self.env, **job.env, **inputs},
                cwd=with_inputs(job.cwd, inputs),
                timeout_s=job.timeout_s,
                grace_s=self.limits.grace_s,
                ready=gate.ready_at.get(index),
                attempt=attempt,
                first_line=self.next_line.get(index, 0),
                cores=job.cores,
                memory=job.memory,
                licenses=job.licenses,
                severity=job.severity,
                limits=job.limits,
                metrics=job.metrics,
                results=job.results,
                outputs=job.outputs,
            )
            job_dir = job.env.get("GATOR_JOB_DIR")
            problem = _make_job_dir(job_dir) if job_dir and attempt == 1 else None
            if problem is not None:  # an unwritable or full run dir fails this job only
                run = _cannot_start(job.path, problem, self.sink, self.clock)
            else:
                run = self.backend.run(launch, self._job_sink(index))
            task = asyncio.create_task(run)
            self.running[task] = index
        for index in blocked:
            heapq.heappush(gate.ready, index)

    def _job_sink(self, index: int) -> Sink:
        """The sink for one attempt: a failure with retries left is not the job's end."""
        job, attempt = self.plan.jobs[index], self.attempts[index]

        def sink(event: Event) -> None:
            if (
                isinstance(event, JobFinished)
                and event.status == Status.FAILED
                and attempt <= job.retries
            ):
                self.retrying.add(index)
                self.next_line[index] = event.lines + 1
                self.sink(JobOutput(job=job.path, blocks=(_retry_note(event, attempt, job),)))
                return
            self.sink(event)

        return sink

    def finished(self, task: asyncio.Task[JobFinished]) -> None:
        index = self.running.pop(task)
        job = self.plan.jobs[index]
        self.budget.take(job, -1)
        result = _result(task, job, self.sink, self.clock)
        if result.artefacts:
            self.artefacts[job.path] = result.artefacts
        if index in self.retrying:
            self.retrying.discard(index)
            self.gate.status[job.path] = Status.PENDING
            self.gate.ready_at[index] = self.clock()
            heapq.heappush(self.gate.ready, index)
            return
        self.failed = self.failed or result.status == Status.FAILED
        _skip(self.plan, self.gate, self.sink, self.gate.finish(index, result.status), self.clock)

    async def cancel(self) -> None:
        for task in self.running:
            task.cancel()
        # Each job's own cleanup stops its process group and reports it cancelled.
        await asyncio.gather(*self.running, return_exceptions=True)
        for job in self.plan.jobs:
            if self.gate.status[job.path] == Status.PENDING:
                self.sink(
                    JobFinished(
                        job=job.path,
                        time=self.clock(),
                        status=Status.CANCELLED,
                        reason=Reason.CANCELLED,
                    )
                )


def _retry_note(event: JobFinished, attempt: int, job: PlannedJob) -> LineBlock:
    """The line in the job's log that says an attempt failed and another follows."""
    why = event.reason + (f" {event.exit_code}" if event.reason == "exit-code" else "")
    text = f"gator: attempt {attempt} of {job.retries + 1} failed ({why}); trying again"
    return note_block(text, Severity.WARNING, event.lines, event.time)


def _make_job_dir(path: str) -> str | None:
    """Create the job's GATOR_JOB_DIR; None, or why it could not be created."""
    # os.mkdir, not makedirs: jobs/ exists after the first, and this runs once per job.
    try:
        try:
            os.mkdir(path)
        except FileNotFoundError:
            os.makedirs(path, exist_ok=True)
    except FileExistsError:
        pass
    except OSError as exc:
        return f"gator: cannot create the job's directory {path}: {exc.strerror or exc}"
    return None


async def _cannot_start(job: str, why: str, sink: Sink, clock: Callable[[], float]) -> JobFinished:
    """A job that fails before it is launched: its log says why."""
    now = clock()
    sink(JobOutput(job=job, blocks=(note_block(why, Severity.ERROR, 0, now),)))
    finished = JobFinished(
        job=job,
        time=now,
        status=Status.FAILED,
        reason=Reason.JOB_DIR,
        errors=1,
        first_error=why,
        lines=1,
    )
    sink(finished)
    return finished


def _skip(
    plan: Plan, gate: _Gate, sink: Sink, doomed: list[tuple[int, str]], clock: Callable[[], float]
) -> None:
    """Mark jobs skipped, and in turn whatever waited on them."""
    while doomed:
        index, why = doomed.pop()
        path = plan.jobs[index].path
        sink(
            JobFinished(
                job=path,
                time=clock(),
                status=Status.SKIPPED,
                reason=Reason.DEPENDENCY,
                first_error=why,
            )
        )
        doomed += gate.finish(index, Status.SKIPPED)
