"""The run tree and its aggregates: a pure fold of events (or of a finished run's rows).

Every group/array aggregates its children (counts per status, warnings, errors, CPU
seconds, peak memory, first failure). ``views.render`` turns it into the rows every front
end shows; ``version`` changes whenever anything in it does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gator_nb.aggregate import Aggregate
from gator_nb.events import (
    Event,
    JobFinished,
    JobMetric,
    JobOutput,
    JobSampled,
    JobStarted,
    RunFinished,
    Status,
)

__all__ = [
    "NodeState",
    "RunState",
    "format_bytes",
    "format_duration",
    "group_metric_rows",
    "group_rows",
    "why_failed",
]


@dataclass(slots=True)
class NodeState:
    """One job or group instance and what happened under it."""

    path: str
    kind: str  # job | group | array | copy
    parent: str | None
    children: list[str] = field(default_factory=list)
    total: int = 0
    counts: dict[Status, int] = field(default_factory=dict)
    warnings: int = 0
    errors: int = 0
    cpu_s: float = 0.0
    peak_rss: int = 0
    start: float | None = None
    end: float | None = None
    first_failure: tuple[str, str] | None = None  # (job path, first error or reason)
    status: Status = Status.PENDING  # jobs: their own; groups: derived by `outcome`
    tests: int = 0  # test cases from results files, under this node
    tests_failed: int = 0  # of which failed or errored
    params: tuple[tuple[str, str], ...] = ()  # an array copy's matrix values
    values: dict[str, float] = field(default_factory=dict)  # jobs: each metric's last value
    metrics: dict[str, Aggregate] = field(default_factory=dict)  # groups: over their jobs
    cpu_percent: float | None = None  # running jobs: the latest sample's
    rss: int | None = None  # running jobs: the latest sample's tree RSS

    @property
    def done(self) -> int:
        return self.total - self.counts.get(Status.PENDING, 0) - self.counts.get(Status.RUNNING, 0)

    @property
    def outcome(self) -> Status:
        """A group passes when none of its jobs failed; it is running until all are done."""
        if self.kind == "job":
            return self.status
        if self.counts.get(Status.FAILED, 0):
            return Status.FAILED if self.done == self.total else Status.RUNNING
        if self.done < self.total:
            return (
                Status.RUNNING if self.done or self.counts.get(Status.RUNNING) else Status.PENDING
            )
        if self.counts.get(Status.CANCELLED, 0):
            return Status.CANCELLED
        return Status.PASSED


class RunState:
    """Fold of a run's events into its tree of :class:`NodeState`."""

    def __init__(
        self, jobs: Iterable[tuple[str, str | None]], groups: Iterable[tuple[Any, ...]]
    ) -> None:
        """Build the tree from ``(path, group)`` jobs and ``(path, parent, kind[, params])``
        groups (``params``: an array copy's matrix values)."""
        self.nodes: dict[str, NodeState] = {}
        self.roots: list[str] = []
        self.version = 0
        self.status = Status.RUNNING
        self.start: float | None = None
        self.end: float | None = None
        for path, parent, kind, *params in groups:
            self._add(
                NodeState(
                    path=path, kind=kind, parent=parent, params=tuple(params[0] if params else ())
                )
            )
        for path, group in jobs:
            self._add(
                NodeState(path=path, kind="job", parent=group, total=1, counts={Status.PENDING: 1})
            )
            for node in self.chain(group):
                node.total += 1
                node.counts[Status.PENDING] = node.counts.get(Status.PENDING, 0) + 1

    def _add(self, node: NodeState) -> None:
        self.nodes[node.path] = node
        if node.parent is None:
            self.roots.append(node.path)
        else:
            self.nodes[node.parent].children.append(node.path)

    def chain(self, path: str | None) -> Iterable[NodeState]:
        """The node at ``path`` and all its ancestors."""
        while path is not None:
            node = self.nodes[path]
            yield node
            path = node.parent

    @property
    def jobs(self) -> list[NodeState]:
        return [n for n in self.nodes.values() if n.kind == "job"]

    def apply(self, event: Event) -> None:
        """Fold one event in; O(depth of the job)."""
        if isinstance(event, JobStarted):
            self._move(event.job, Status.RUNNING)
            for node in self.chain(event.job):
                node.start = event.time if node.start is None else min(node.start, event.time)
            self.start = event.time if self.start is None else min(self.start, event.time)
        elif isinstance(event, JobFinished):
            self._finish(event)
        elif isinstance(event, JobMetric):
            self.record(event.job, event.name, event.value)
        elif isinstance(event, JobSampled):
            node = self.nodes[event.job]
            if node.status != Status.RUNNING:
                return  # a sample that raced the job's end
            node.cpu_percent, node.rss = event.cpu_percent, event.rss
        elif isinstance(event, JobOutput):
            return  # counted from JobFinished; lines are the store's business
        elif isinstance(event, RunFinished):
            self.status, self.end = event.status, event.time
        self.version += 1

    def _move(self, path: str, status: Status) -> None:
        old = self.nodes[path].status
        self.nodes[path].status = status
        for node in self.chain(path):
            node.counts[old] -= 1
            node.counts[status] = node.counts.get(status, 0) + 1

    def record(self, job: str, name: str, value: float) -> None:
        """Job ``job`` reported ``value`` for metric ``name`` (replacing an earlier one)."""
        node = self.nodes[job]
        old = node.values.get(name)
        node.values[name] = value
        for group in self.chain(node.parent):
            aggregate = group.metrics.setdefault(name, Aggregate())
            if old is None:
                aggregate.add(value)
            else:
                aggregate.replace(old, value)

    def metric(self, path: str, name: str) -> Aggregate | None:
        """The aggregate of ``name`` over the jobs under group ``path``, up to date."""
        aggregate = self.nodes[path].metrics.get(name)
        if aggregate is None:
            return None
        return aggregate.fresh(
            lambda: (j.values[name] for j in self.leaves(path) if name in j.values)
        )

    def leaves(self, path: str) -> Iterable[NodeState]:
        """The jobs under the node at ``path`` (itself if it is a job)."""
        stack = [self.nodes[path]]
        while stack:
            node = stack.pop()
            if node.kind == "job":
                yield node
            stack.extend(self.nodes[child] for child in node.children)

    def _figures(self, job: str, start: float | None, end: float, cpu_s: float, peak: int) -> None:
        if start is not None:
            self.record(job, "duration_s", max(end - start, 0.0))
        self.record(job, "cpu_s", cpu_s)
        if peak:
            self.record(job, "peak_rss", float(peak))

    def _finish(self, event: JobFinished) -> None:
        self._move(event.job, event.status)
        job = self.nodes[event.job]
        job.cpu_percent = job.rss = None
        failed_tests = sum(t.status in ("failed", "error") for t in event.tests)
        start = self.nodes[event.job].start
        if event.status.done and event.status != Status.SKIPPED and start is not None:
            self._figures(event.job, start, event.time, event.cpu_s, event.peak_rss)
        failure = None
        if event.status == Status.FAILED:
            failure = (event.job, why_failed(event.first_error, event.reason))
        for node in self.chain(event.job):
            node.warnings += event.warnings
            node.errors += event.errors
            node.cpu_s += event.cpu_s
            node.peak_rss = max(node.peak_rss, event.peak_rss)
            node.tests += len(event.tests)
            node.tests_failed += failed_tests
            node.end = event.time if node.end is None else max(node.end, event.time)
            if failure and node.first_failure is None:
                node.first_failure = failure

    @classmethod
    def from_rows(
        cls,
        jobs: Iterable[Mapping[str, Any]],
        groups: Iterable[Mapping[str, Any]],
        status: Status,
        metrics: Iterable[Mapping[str, Any]] = (),
    ) -> RunState:
        """The tree of a run read back from its store (``gator show``, a loaded ``Run``).

        Each job row's figures are added up its chain once, as the live fold does;
        ``metrics`` are ``(job, name, value)`` rows.
        """
        rows = list(jobs)
        state = cls(
            ((str(r["job"]), r["group"] or None) for r in rows),
            (
                (str(g["path"]), g["parent"], str(g["kind"]), tuple(g.get("params") or ()))
                for g in groups
            ),
        )
        for row in rows:
            state._settle(row)
        for metric in metrics:
            state.record(str(metric["job"]), str(metric["name"]), float(metric["value"]))
        state.status = status
        if status.done:  # a finished run's elapsed time stops at its last job's end
            ends = [end for r in state.roots if (end := state.nodes[r].end) is not None]
            state.end = max(ends) if ends else None
        return state

    def _settle(self, row: Mapping[str, Any]) -> None:
        job = str(row["job"])
        status = Status(str(row["status"]))
        start, end = row.get("start"), row.get("end")
        if status != Status.PENDING:
            self._move(job, status)
        failure = None
        if status == Status.FAILED:
            failure = (job, why_failed(row.get("first_error"), row.get("reason")))
        if status.done and status != Status.SKIPPED and isinstance(start, float):
            end_s = end if isinstance(end, float) else start
            cpu_s, peak = float(row.get("cpu_s") or 0.0), int(row.get("peak_rss") or 0)
            self._figures(job, start, end_s, cpu_s, peak)
        for node in self.chain(job):
            if isinstance(start, float):
                node.start = start if node.start is None else min(node.start, start)
            if not status.done:
                continue
            node.tests += int(row.get("tests") or 0)
            node.tests_failed += int(row.get("tests_failed") or 0)
            node.warnings += int(row.get("warnings") or 0)
            node.errors += int(row.get("errors") or 0)
            node.cpu_s += float(row.get("cpu_s") or 0.0)
            node.peak_rss = max(node.peak_rss, int(row.get("peak_rss") or 0))
            if isinstance(end, float):
                node.end = end if node.end is None else max(node.end, end)
            if failure and node.first_failure is None:
                node.first_failure = failure
        if isinstance(start, float):
            self.start = start if self.start is None else min(self.start, start)


def why_failed(first_error: str | None, reason: str | None, exit_code: int | None = None) -> str:
    """What a failed job's row says: its first error, else its reason (with the exit code)."""
    if first_error:
        return first_error
    reason = reason or ""
    return f"{reason} {exit_code}" if reason == "exit-code" and exit_code is not None else reason


def format_bytes(size: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def format_duration(seconds: float) -> str:
    """75.3 -> '1m15s'; 4.25 -> '4.2s'."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def group_rows(state: RunState) -> list[dict[str, Any]]:
    """One plain row per group/array/copy with its aggregates (for ``run.groups``)."""
    rows = []
    for node in state.nodes.values():
        if node.kind == "job":
            continue
        counts = {s.value: node.counts.get(s, 0) for s in Status}
        end = node.end if node.outcome.done else None
        rows.append({
            "group": node.path, "kind": node.kind, "parent": node.parent, "jobs": node.total,
            **counts, "status": node.outcome.value, "warnings": node.warnings,
            "errors": node.errors, "cpu_s": node.cpu_s, "peak_rss": node.peak_rss or None,
            "start": node.start, "end": end,
            "duration_s": None if end is None or node.start is None else end - node.start,
            "first_failure": node.first_failure[0] if node.first_failure else None,
            "first_error": node.first_failure[1] if node.first_failure else None,
        })  # fmt: skip
    return rows


def group_metric_rows(state: RunState) -> list[dict[str, Any]]:
    """One row per group (array copies and the root included) per metric reported under it:
    ``count``, ``sum``, ``min``, ``max``, ``mean`` (for ``run.group_metrics``)."""
    rows = []
    for node in state.nodes.values():
        for name in sorted(node.metrics):
            aggregate = state.metric(node.path, name)
            assert aggregate is not None
            rows.append({
                "group": node.path, "name": name, "count": aggregate.count,
                "sum": aggregate.sum, "min": aggregate.min, "max": aggregate.max,
                "mean": aggregate.mean,
            })  # fmt: skip
    return rows
