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
from gator_nb.spec.filenames import file_name
from gator_nb.spec.model import (
    Array,
    Cores,
    Dependency,
    Group,
    Input,
    Job,
    License,
    Memory,
    Node,
    Spec,
)
from gator_nb.spec.planned import Condition, Plan, PlannedGroup, PlannedJob
from gator_nb.spec.seeds import MAX_SEED, job_seed
from gator_nb.spec.variables import Unset, expand_params, expand_vars

__all__ = ["Condition", "Plan", "PlannedGroup", "PlannedJob", "expand_vars", "plan"]

# Known only once a run exists; `gator check` must not warn that they are unset.
_RUN_TIME_VARS = frozenset({"GATOR_RUN_ID", "GATOR_RUN_DIR", "GATOR_JOB_DIR"})
_INPUT = "GATOR_INPUT_"  # known when the job starts: its producers' artefacts


def plan(
    spec: Spec,
    *,
    base_env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    run_id: str | None = None,
    run_dir: str | None = None,
    overrides: Mapping[str, str] | None = None,
    seed: int = 0,
) -> Plan:
    """Expand ``spec`` into a :class:`Plan`.

    ``overrides`` (``-e NAME=VALUE``) win over the spec's ``env`` at every level; ``seed``
    is the run's, from which each job's ``GATOR_SEED`` is derived.

    Raises:
        SpecError: a ``${VAR:?message}`` whose variable is unset, a ``seed`` param that is not
            a seed; for a Spec not made by ``load_spec``, bad dependencies.
    """
    planner = _Planner(
        spec,
        dict(os.environ if base_env is None else base_env),
        cwd or str(Path.cwd()),
        run_id,
        run_dir,
    )
    return planner.build(dict(overrides or {}), seed)


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
    params: dict[str, str] = field(default_factory=dict)
    inputs: tuple[tuple[Input, Node], ...] = ()  # with the node that declared it


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

    def build(self, overrides: dict[str, str], seed: int) -> Plan:
        root = self.spec.root
        self.overrides, self.seed = overrides, seed
        base = dict(self.base_env)
        # Overrides are part of every job's recorded environment, so a job's command line
        # (run.command) reproduces it with them.
        overlay = {"GATOR_SPEC_DIR": self.spec.directory, **overrides}
        if self.run_id is not None:
            overlay["GATOR_RUN_ID"] = self.run_id
        if self.run_dir is not None:
            overlay["GATOR_RUN_DIR"] = self.run_dir
        base.update(overlay)
        self.expand(root, None, _Scope(env=base, overlay=overlay, cwd=self.cwd))
        self.finish_jobs()
        if self.problems:
            raise SpecError(sorted(self.problems, key=lambda p: (p.line, p.col)))
        return Plan(
            spec=self.spec,
            root=root.id,
            jobs=tuple(self.jobs),
            groups={path: self.groups[path] for path in self.group_order},
            warnings=tuple(self.warnings.values()),
            edges=self.spec.edges,
        )

    # -- expansion -----------------------------------------------------------------

    def text(self, node: Node, where: str, value: str, scope: _Scope, env: dict[str, str]) -> str:
        """``value`` with its ``{{ params }}`` and then its variables expanded; an unset
        variable is a warning, an unset ``${VAR:?message}`` an error."""
        unset = Unset()
        text = expand_vars(expand_params(value, scope.params), env, unset)
        at = node.at
        for name in sorted(n for n in unset.names - _RUN_TIME_VARS if not n.startswith(_INPUT)):
            key = (f"{at.file}:{at.line}:{at.col}:{where}", name)
            self.warnings.setdefault(
                key,
                Problem(file=at.file, line=at.line, col=at.col, path=f"{at.path}.{where}",
                        message=f"${name} is not set; left as written", severity="warning"),
            )  # fmt: skip
        for name, message in unset.required:
            self.problems.append(
                Problem(file=at.file, line=at.line, col=at.col, path=f"{at.path}.{where}",
                        message=f"${name}: {message}")
            )  # fmt: skip
        return text

    def scope_for(self, node: Node, outer: _Scope, params: Mapping[str, str] = {}) -> _Scope:
        env, overlay = dict(outer.env), dict(outer.overlay)
        scope = replace(outer, params={**outer.params, **node.params, **params})
        for name, value in node.env.items():
            if name not in self.overrides:  # -e NAME=VALUE wins at every level
                env[name] = overlay[name] = self.text(node, "env", value, scope, env)
        cwd = outer.cwd
        if node.cwd is not None and not isinstance(node, Job):  # a job's own: add_job
            cwd = os.path.normpath(
                os.path.join(outer.cwd, self.text(node, "cwd", node.cwd, scope, env))
            )
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
            params=scope.params,
            inputs=outer.inputs + tuple((i, node) for i in node.inputs),
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
            children = [
                self.expand_copy(node, path, scope, i, values)
                for i, values in enumerate(copies(node))
            ]
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
        params: tuple[tuple[str, str], ...] = (),
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
            params=params,
        )

    def expand_copy(
        self, array: Array, path: str, scope: _Scope, i: int, values: dict[str, str]
    ) -> str:
        copy = f"{path}[{i}]"
        self.instances[(id(array), tuple(j for _, j in scope.indices), i)] = copy
        inner = replace(
            scope,
            env={**scope.env, "GATOR_ARRAY_INDEX": str(i)},
            overlay={**scope.overlay, "GATOR_ARRAY_INDEX": str(i)},
            indices=(*scope.indices, (id(array), i)),
            params={**scope.params, **values},  # a copy's matrix values are its params
        )
        first, order = len(self.jobs), self.reserve(copy)
        children = [self.expand(child, copy, inner, array_index=i) for child in array.jobs]
        self.add_group(copy, path, "copy", order, i, children, first, array, tuple(values.items()))
        return copy

    def add_job(
        self, job: Job, path: str, parent: str | None, scope: _Scope, array_index: int | None
    ) -> None:
        seed = self.job_seed(job, path, scope)
        named = {
            "GATOR_JOB": path,
            "GATOR_SEED": str(seed),
            **{f"GATOR_PARAM_{name.upper()}": value for name, value in scope.params.items()},
        }
        overlay = {**scope.overlay, **named}
        env = {**scope.env, **named}
        if self.run_dir is not None:
            job_dir = os.path.join(self.run_dir, "jobs", file_name(path))
            overlay["GATOR_JOB_DIR"] = env["GATOR_JOB_DIR"] = job_dir
        cwd = scope.cwd
        if job.cwd is not None:  # expanded last, so $GATOR_JOB_DIR works here too
            cwd = os.path.normpath(os.path.join(cwd, self.text(job, "cwd", job.cwd, scope, env)))
        command = self.text(job, "command", job.command, scope, env)
        args = tuple(self.text(job, "args", arg, scope, env) for arg in job.args)
        results = tuple(self.text(job, "results", r, scope, env) for r in job.results)
        outputs = tuple(
            (name, self.text(job, "outputs", pattern, scope, env))
            for name, pattern in job.outputs.items()
        )
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
                params=tuple(scope.params.items()),
                seed=seed,
                outputs=outputs,
            )
        )
        self.scopes.append(scope)

    def job_seed(self, job: Job, path: str, scope: _Scope) -> int:
        """The job's ``seed`` param, else one derived from the run's seed and its path."""
        given = scope.params.get("seed")
        if given is None:
            return job_seed(self.seed, path)
        if given.isdigit() and int(given) <= MAX_SEED:
            return int(given)
        at = job.at
        self.problems.append(
            Problem(file=at.file, line=at.line, col=at.col, path=f"{at.path}",
                    message=f"param seed: expected a whole number 0 to {MAX_SEED}, got '{given}'")
        )  # fmt: skip
        return 0

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
            inputs = []
            for wanted, declared_by in scope.inputs:
                producer = Dependency(kind="pass", name=wanted.producer, at=wanted.at)
                targets = self.depends.targets_of(producer, declared_by, indices, self.instances)
                inputs.append((wanted.name, targets or ()))
            if conditions or inputs:
                self.jobs[i] = replace(
                    self.jobs[i], conditions=tuple(conditions), inputs=tuple(inputs)
                )


def copies(array: Array) -> list[dict[str, str]]:
    """Each copy's matrix values: one copy per combination (the first name slowest), each
    ``repeats`` times; plain ``repeats`` copies without a matrix."""
    combos: list[dict[str, str]] = [{}]
    for name, values in array.matrix:
        combos = [{**combo, name: value} for combo in combos for value in values]
    return [combo for combo in combos for _ in range(array.repeats)]
