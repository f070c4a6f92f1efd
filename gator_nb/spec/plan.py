"""Plan a spec: expand arrays, merge env/cwd/resources down the tree, resolve dependencies.

The result is a DAG of leaf jobs (each with the conditions it waits on) plus the tree
of group instances that aggregates them. Every problem is collected before raising.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from gator_nb.errors import Problem, SpecError
from gator_nb.spec.cycles import find_cycles
from gator_nb.spec.depends import Resolver
from gator_nb.spec.model import (
    Array,
    Cores,
    Dependency,
    Group,
    Job,
    License,
    Memory,
    Node,
    Spec,
)
from gator_nb.spec.planned import Condition, Plan, PlannedGroup, PlannedJob
from gator_nb.spec.variables import expand_vars

__all__ = ["Condition", "Plan", "PlannedGroup", "PlannedJob", "expand_vars", "plan"]

# Known only once a run exists; `gator check` must not warn that they are unset.
_RUN_TIME_VARS = frozenset({"GATOR_RUN_ID", "GATOR_RUN_DIR", "GATOR_JOB_DIR"})


def plan(
    spec: Spec,
    *,
    base_env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    run_id: str | None = None,
    run_dir: str | None = None,
) -> Plan:
    """Expand ``spec`` into a :class:`Plan`.

    Raises:
        SpecError: only for a Spec not made by ``load_spec`` whose dependencies are bad.
    """
    planner = _Planner(
        spec,
        dict(os.environ if base_env is None else base_env),
        cwd or str(Path.cwd()),
        run_id,
        run_dir,
    )
    return planner.build()


@dataclass(slots=True, kw_only=True)
class _Scope:
    """What a node inherits from the nodes above it while expanding."""

    env: dict[str, str]
    overlay: dict[str, str]
    cwd: str
    cores: int = 1
    memory: int | None = None
    licenses: dict[str, int] = field(default_factory=dict)
    timeout: float | None = None
    retries: int = 0
    severity: tuple[tuple[str, str], ...] = ()  # nearest node's rules first
    limits: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)  # name -> regex, nearest wins
    indices: tuple[tuple[int, int], ...] = ()  # (id(array node), copy index), outermost first
    depends: tuple[tuple[Dependency, Node], ...] = ()  # with the node that declared it


class _Planner:
    def __init__(
        self,
        spec: Spec,
        base_env: dict[str, str],
        cwd: str,
        run_id: str | None,
        run_dir: str | None,
    ) -> None:
        self.spec, self.base_env, self.cwd = spec, base_env, cwd
        self.run_id, self.run_dir = run_id, run_dir
        self.problems: list[Problem] = []
        self.warnings: dict[tuple[str, str], Problem] = {}
        self.jobs: list[PlannedJob] = []
        self.groups: dict[str, PlannedGroup] = {}
        self.group_order: list[str] = []  # pre-order: a group before its children
        self.instances: dict[tuple[int, tuple[int, ...], int | None], str] = {}
        self.scopes: list[_Scope] = []  # parallel to self.jobs
        self.depends = Resolver(spec.root, self.problems, spec.resolved)
        if not spec.resolved:  # a Spec that load_spec did not make: check it here, once
            self.depends.resolve_all()
            self.problems += find_cycles(self.depends.waits())
            if self.problems:
                raise SpecError(self.problems)

    def build(self) -> Plan:
        root = self.spec.root
        base = dict(self.base_env)
        overlay = {"GATOR_SPEC_DIR": self.spec.directory}
        if self.run_id is not None:
            overlay["GATOR_RUN_ID"] = self.run_id
        if self.run_dir is not None:
            overlay["GATOR_RUN_DIR"] = self.run_dir
        base.update(overlay)
        self.expand(root, None, _Scope(env=base, overlay=overlay, cwd=self.cwd))
        self.finish_jobs()
        return Plan(
            spec=self.spec,
            root=root.id,
            jobs=tuple(self.jobs),
            groups={path: self.groups[path] for path in self.group_order},
            warnings=tuple(self.warnings.values()),
            edges=self.spec.edges,
        )

    # -- expansion -----------------------------------------------------------------

    def warn_unset(self, node: Node, where: str, names: set[str]) -> None:
        for name in sorted(names - _RUN_TIME_VARS):
            key = (f"{node.at.file}:{node.at.line}:{node.at.col}:{where}", name)
            self.warnings.setdefault(
                key,
                Problem(
                    file=node.at.file,
                    line=node.at.line,
                    col=node.at.col,
                    path=f"{node.at.path}.{where}",
                    message=f"${name} is not set; left as written",
                    severity="warning",
                ),
            )

    def scope_for(self, node: Node, outer: _Scope) -> _Scope:
        env, overlay = dict(outer.env), dict(outer.overlay)
        unset: set[str] = set()
        for name, value in node.env.items():
            env[name] = overlay[name] = expand_vars(value, env, unset)
        self.warn_unset(node, "env", unset)
        cwd = outer.cwd
        if node.cwd is not None and not isinstance(node, Job):  # a job's own: add_job
            unset = set()
            cwd = os.path.normpath(os.path.join(outer.cwd, expand_vars(node.cwd, env, unset)))
            self.warn_unset(node, "cwd", unset)
        scope = _Scope(
            env=env,
            overlay=overlay,
            cwd=cwd,
            cores=outer.cores,
            memory=outer.memory,
            licenses=dict(outer.licenses),
            timeout=node.timeout or outer.timeout,
            retries=outer.retries if node.retries is None else node.retries,
            severity=tuple((r.match, r.level) for r in node.severity) + outer.severity,
            limits={**outer.limits, **node.limits},
            metrics={**outer.metrics, **{r.name: r.match for r in node.metrics}},
            indices=outer.indices,
            depends=outer.depends + tuple((d, node) for d in node.depends),
        )
        for resource in node.resources:
            if isinstance(resource, Cores):
                scope.cores = resource.count
            elif isinstance(resource, Memory):
                scope.memory = resource.size
            elif isinstance(resource, License):
                scope.licenses[resource.name] = resource.count
        return scope

    def expand(
        self,
        node: Node,
        parent: str | None,
        outer: _Scope,
        path: str | None = None,
        array_index: int | None = None,
    ) -> str:
        path = path or (f"{parent}.{node.id}" if parent else node.id)
        key = (id(node), tuple(i for _, i in outer.indices), None)
        self.instances[key] = path
        scope = self.scope_for(node, outer)
        if isinstance(node, Job):
            self.add_job(node, path, parent, scope, array_index)
            return path
        assert isinstance(node, Group)
        first, order = len(self.jobs), self.reserve(path)
        if isinstance(node, Array):
            children = [self.expand_copy(node, path, scope, i) for i in range(node.repeats)]
        else:
            children = [self.expand(c, path, scope, array_index=array_index) for c in node.jobs]
        kind = "array" if isinstance(node, Array) else "group"
        self.add_group(path, parent, kind, order, array_index, children, first, node)
        return path

    def reserve(self, path: str) -> int:
        """A group's place in pre-order, taken before its children are expanded."""
        self.group_order.append(path)
        return len(self.group_order) - 1

    def add_group(
        self,
        path: str,
        parent: str | None,
        kind: str,
        order: int,
        array_index: int | None,
        children: list[str],
        first: int,
        node: Node,
    ) -> None:
        self.groups[path] = PlannedGroup(
            path=path,
            parent=parent,
            kind=kind,
            index=order,
            array_index=array_index,
            children=tuple(children),
            first=first,
            end=len(self.jobs),
            at=node.at,
        )

    def expand_copy(self, array: Array, path: str, scope: _Scope, i: int) -> str:
        copy = f"{path}[{i}]"
        self.instances[(id(array), tuple(j for _, j in scope.indices), i)] = copy
        inner = replace(
            scope,
            env={**scope.env, "GATOR_ARRAY_INDEX": str(i)},
            overlay={**scope.overlay, "GATOR_ARRAY_INDEX": str(i)},
            indices=(*scope.indices, (id(array), i)),
        )
        first, order = len(self.jobs), self.reserve(copy)
        children = [self.expand(child, copy, inner, array_index=i) for child in array.jobs]
        self.add_group(copy, path, "copy", order, i, children, first, array)
        return copy

    def add_job(
        self, job: Job, path: str, parent: str | None, scope: _Scope, array_index: int | None
    ) -> None:
        overlay = {**scope.overlay, "GATOR_JOB": path}
        env = {**scope.env, "GATOR_JOB": path}
        if self.run_dir is not None:
            job_dir = os.path.join(self.run_dir, "jobs", path)
            overlay["GATOR_JOB_DIR"] = env["GATOR_JOB_DIR"] = job_dir
        cwd = scope.cwd
        unset: set[str] = set()
        if job.cwd is not None:  # expanded last, so $GATOR_JOB_DIR works here too
            cwd = os.path.normpath(os.path.join(cwd, expand_vars(job.cwd, env, unset)))
            self.warn_unset(job, "cwd", unset)
            unset = set()
        command = expand_vars(job.command, env, unset)
        self.warn_unset(job, "command", unset)
        unset = set()
        args = tuple(expand_vars(arg, env, unset) for arg in job.args)
        self.warn_unset(job, "args", unset)
        unset = set()
        results = tuple(expand_vars(path, env, unset) for path in job.results)
        self.warn_unset(job, "results", unset)
        self.jobs.append(
            PlannedJob(
                path=path,
                index=len(self.jobs),
                group=parent,
                array_index=array_index,
                command=command,
                args=args,
                cwd=cwd,
                env=overlay,
                timeout_s=scope.timeout,
                retries=scope.retries,
                cores=scope.cores,
                memory=scope.memory,
                licenses=tuple(sorted(scope.licenses.items())),
                conditions=(),  # known once every dependency is resolved: finish_jobs
                at=job.at,
                severity=scope.severity,
                limits=tuple(sorted(scope.limits.items())),
                metrics=tuple(scope.metrics.items()),
                results=results,
            )
        )
        self.scopes.append(scope)

    # -- dependencies --------------------------------------------------------------

    def finish_jobs(self) -> None:
        for i, scope in enumerate(self.scopes):
            indices = dict(scope.indices)
            conditions = []
            for dep, declared_by in scope.depends:
                targets = self.depends.targets_of(dep, declared_by, indices, self.instances)
                if targets is not None:
                    conditions.append(
                        Condition(kind=dep.kind, name=dep.name, targets=targets, at=dep.at)
                    )
            if conditions:
                self.jobs[i] = replace(self.jobs[i], conditions=tuple(conditions))
