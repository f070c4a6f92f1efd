"""A plan and its parts: the leaf jobs ready to launch, group instances and the conditions
jobs wait on; ``Plan.subset`` restricts one to some of its jobs (reruns).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

from gator_nb.errors import Problem
from gator_nb.paths import ancestors
from gator_nb.spec.model import Location, Spec

__all__ = ["Condition", "Plan", "PlannedGroup", "PlannedJob"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """A job waits until every leaf under ``targets`` is done, then checks ``kind``.

    ``kind`` is pass, fail or done; ``targets`` are job or group instance paths.
    """

    kind: str
    name: str
    targets: tuple[str, ...]
    at: Location


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedJob:
    """One leaf job, ready to launch: everything expanded and inherited."""

    path: str
    index: int
    group: str | None
    array_index: int | None
    command: str
    args: tuple[str, ...]
    cwd: str
    env: Mapping[str, str]  # the spec's overlay plus GATOR_* (the launch adds os.environ)
    timeout_s: float | None
    retries: int
    cores: int
    memory: int | None
    licenses: tuple[tuple[str, int], ...]
    conditions: tuple[Condition, ...]
    at: Location
    severity: tuple[tuple[str, str], ...] = ()  # (regex, level), the nearest node's first
    limits: tuple[tuple[str, int], ...] = ()  # (warning|error|critical, most messages)
    metrics: tuple[tuple[str, str], ...] = ()  # (name, regex), one rule per name
    results: tuple[str, ...] = ()  # JUnit XML paths or globs, variables expanded
    params: tuple[tuple[str, str], ...] = ()  # every param in scope (matrix values too)
    seed: int = 0  # GATOR_SEED
    outputs: tuple[tuple[str, str], ...] = ()  # (artefact name, path or glob from cwd)
    inputs: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (artefact name, producer jobs)

    @property
    def argv(self) -> tuple[str, ...]:
        return (self.command, *self.args)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedGroup:
    """A group, array or array copy instance; its leaves are ``jobs[first:end]``."""

    path: str
    parent: str | None
    kind: str  # group | array | copy
    index: int
    array_index: int | None
    children: tuple[str, ...]
    first: int
    end: int
    at: Location
    params: tuple[tuple[str, str], ...] = ()  # an array copy's matrix values


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Leaf jobs in spec order, group instances by path, and warnings found on the way."""

    spec: Spec
    root: str
    jobs: tuple[PlannedJob, ...]
    groups: Mapping[str, PlannedGroup]
    warnings: tuple[Problem, ...] = ()
    edges: tuple[tuple[str, str, str], ...] = ()  # (node, kind, target) as written in the spec

    def leaves(self, path: str) -> range:
        """Indexes into ``jobs`` of every leaf under a job or group instance path."""
        group = self.groups.get(path)
        if group is not None:
            return range(group.first, group.end)
        job = self._job_index()[path]
        return range(job, job + 1)

    def _job_index(self) -> dict[str, int]:
        return {job.path: job.index for job in self.jobs}

    @property
    def depth(self) -> int:
        """Levels of nesting: 1 for a lone job, 2 for a group of jobs, and so on."""
        levels = [job.path.count(".") + 1 for job in self.jobs]
        return max(levels, default=1)

    def subset(self, keep: Collection[str]) -> Plan:
        """This plan restricted to the jobs in ``keep`` (for reruns).

        Groups keep only the jobs that remain. A dependency on jobs that were all left out
        is dropped: they are not rerun, so their earlier outcome stands and the condition
        was already decided in the run being repeated.
        """
        wanted = set(keep)
        jobs = [job for job in self.jobs if job.path in wanted]
        paths = {job.path for job in jobs}
        spans: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            for up in ancestors(job.path):
                span = spans.setdefault(up, [index, index + 1])
                span[1] = index + 1
        groups = {
            path: replace(
                group,
                first=spans[path][0],
                end=spans[path][1],
                children=tuple(c for c in group.children if c in spans or c in paths),
            )
            for path, group in self.groups.items()
            if path in spans
        }
        kept = paths | set(groups)
        renumbered = []
        for index, job in enumerate(jobs):
            conditions = []
            for condition in job.conditions:
                targets = tuple(t for t in condition.targets if t in kept)
                if targets:
                    conditions.append(replace(condition, targets=targets))
            renumbered.append(replace(job, index=index, conditions=tuple(conditions)))
        return replace(self, jobs=tuple(renumbered), groups=groups)
