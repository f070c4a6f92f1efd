"""Restricting a plan to some of its jobs (for reruns): groups shrink to what remains and
conditions keep only the targets still planned.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gator_nb.spec.plan import Plan

__all__ = ["subset"]


def subset(planned: Plan, keep: Collection[str]) -> Plan:
    """``planned`` restricted to the jobs in ``keep`` (for reruns).

    Groups keep only the jobs that remain. A dependency on jobs that were all left out
    is dropped: they are not rerun, so their earlier outcome stands and the condition
    was already decided in the run being repeated.
    """
    wanted = set(keep)
    jobs = [job for job in planned.jobs if job.path in wanted]
    paths = {job.path for job in jobs}
    spans: dict[str, list[int]] = {}
    for index, job in enumerate(jobs):
        up = job.group
        while up is not None:
            span = spans.setdefault(up, [index, index + 1])
            span[1] = index + 1
            up = planned.groups[up].parent
    groups = {
        path: replace(
            group,
            first=spans[path][0],
            end=spans[path][1],
            children=tuple(c for c in group.children if c in spans or c in paths),
        )
        for path, group in planned.groups.items()
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
    return replace(planned, jobs=tuple(renumbered), groups=groups)
