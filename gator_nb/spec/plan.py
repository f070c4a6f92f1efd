"""Plan a spec: expand arrays, merge env/cwd/resources down the tree, resolve dependencies.

The result is a DAG of leaf jobs (each with the conditions it waits on) plus the tree
of group instances that aggregates them. Every problem is collected before raising.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from gator_nb.errors import Problem, SpecError
from gator_nb.spec.load import suggest
from gator_nb.spec.model import (
    Array,
    Cores,
    Dependency,
    Group,
    Job,
    License,
    Location,
    Memory,
    Node,
    Spec,
)

__all__ = ["Condition", "Plan", "PlannedGroup", "PlannedJob", "expand_vars", "plan", "subset"]

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(\$))")
_COMPONENT = re.compile(r"([A-Za-z0-9_-]+)(?:\[(\d+)\])?")
# Known only once a run exists; `gator check` must not warn that they are unset.
_RUN_TIME_VARS = frozenset({"GATOR_RUN_ID", "GATOR_RUN_DIR", "GATOR_JOB_DIR"})


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
    cores: int
    memory: int | None
    licenses: tuple[tuple[str, int], ...]
    conditions: tuple[Condition, ...]
    at: Location

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


def expand_vars(text: str, env: Mapping[str, str], unset: set[str] | None = None) -> str:
    """Expand ``$VAR``/``${VAR}`` from ``env``; unset names stay as written, ``$$`` is ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(3):
            return "$"
        name = match.group(1) or match.group(2)
        if name in env:
            return env[name]
        if unset is not None:
            unset.add(name)
        return match.group(0)

    return _VAR.sub(replace, text) if "$" in text else text


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
        SpecError: for unknown, ambiguous or self-referencing dependencies and cycles.
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
        self.parent: dict[int, Node | None] = {}
        self.spec_path: dict[int, str] = {}
        self.jobs: list[PlannedJob] = []
        self.groups: dict[str, PlannedGroup] = {}
        self.instances: dict[tuple[int, tuple[int, ...], int | None], str] = {}
        self.scopes: list[_Scope] = []  # parallel to self.jobs
        self.resolved: dict[tuple[int, str], tuple[Node, dict[int, int], bool] | None] = {}

    def build(self) -> Plan:
        root = self.spec.root
        self.index_tree(root, None, "")
        base = dict(self.base_env)
        overlay = {"GATOR_SPEC_DIR": self.spec.directory}
        if self.run_id is not None:
            overlay["GATOR_RUN_ID"] = self.run_id
        if self.run_dir is not None:
            overlay["GATOR_RUN_DIR"] = self.run_dir
        base.update(overlay)
        self.expand(root, None, _Scope(env=base, overlay=overlay, cwd=self.cwd))
        edges = self.resolve_all(root)
        self.finish_jobs()
        self.find_cycles()
        if self.problems:
            raise SpecError(self.problems)
        return Plan(
            spec=self.spec,
            root=root.id,
            jobs=tuple(self.jobs),
            groups=self.groups,
            warnings=tuple(self.warnings.values()),
            edges=tuple(edges),
        )

    # -- the spec tree -------------------------------------------------------------

    def index_tree(self, node: Node, parent: Node | None, prefix: str) -> None:
        self.parent[id(node)] = parent
        path = f"{prefix}.{node.id}" if prefix else node.id
        self.spec_path[id(node)] = path
        if isinstance(node, Group):
            for child in node.jobs:
                self.index_tree(child, node, path)

    def ancestors(self, node: Node) -> Iterator[Node]:
        """The node's ancestors, nearest first."""
        up = self.parent[id(node)]
        while up is not None:
            yield up
            up = self.parent[id(up)]

    def all_nodes(self) -> Iterator[Node]:
        stack = [self.spec.root]
        while stack:
            node = stack.pop()
            yield node
            if isinstance(node, Group):
                stack.extend(reversed(node.jobs))

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
        first, order = len(self.jobs), len(self.groups)
        self.groups[path] = None  # type: ignore[assignment]  # keeps groups in pre-order
        children: list[str] = []
        if isinstance(node, Array):
            for i in range(node.repeats):
                children.append(self.expand_copy(node, path, scope, i))
        else:
            for child in node.jobs:
                children.append(self.expand(child, path, scope, array_index=array_index))
        kind = "array" if isinstance(node, Array) else "group"
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
        return path

    def expand_copy(self, array: Array, path: str, scope: _Scope, i: int) -> str:
        copy = f"{path}[{i}]"
        self.instances[(id(array), tuple(j for _, j in scope.indices), i)] = copy
        inner = _Scope(
            env={**scope.env, "GATOR_ARRAY_INDEX": str(i)},
            overlay={**scope.overlay, "GATOR_ARRAY_INDEX": str(i)},
            cwd=scope.cwd,
            cores=scope.cores,
            memory=scope.memory,
            licenses=scope.licenses,
            timeout=scope.timeout,
            indices=(*scope.indices, (id(array), i)),
            depends=scope.depends,
        )
        first, order = len(self.jobs), len(self.groups)
        self.groups[copy] = None  # type: ignore[assignment]  # keeps groups in pre-order
        children = [self.expand(child, copy, inner, array_index=i) for child in array.jobs]
        self.groups[copy] = PlannedGroup(
            path=copy,
            parent=path,
            kind="copy",
            index=order,
            array_index=i,
            children=tuple(children),
            first=first,
            end=len(self.jobs),
            at=array.at,
        )
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
                cores=scope.cores,
                memory=scope.memory,
                licenses=tuple(sorted(scope.licenses.items())),
                conditions=(),  # known once every dependency is resolved: finish_jobs
                at=job.at,
            )
        )
        self.scopes.append(scope)

    # -- dependencies --------------------------------------------------------------

    def resolve_all(self, root: Node) -> list[tuple[str, str, str]]:
        edges = []
        for node in self.all_nodes():
            for dep in node.depends:
                found = self.resolve(node, dep)
                if found is not None:
                    edges.append((self.spec_path[id(node)], dep.kind, self.spec_path[id(found[0])]))
        return edges

    def resolve(self, node: Node, dep: Dependency) -> tuple[Node, dict[int, int], bool] | None:
        key = (id(node), dep.name)
        if key in self.resolved:
            return self.resolved[key]
        found = self.lookup(node, dep)
        if found is not None and not self.check_target(node, dep, found[0]):
            found = None
        self.resolved[key] = found
        return found

    def fail(self, dep: Dependency, message: str) -> None:
        at = dep.at
        self.problems.append(
            Problem(file=at.file, line=at.line, col=at.col, path=at.path, message=message)
        )

    def lookup(self, node: Node, dep: Dependency) -> tuple[Node, dict[int, int], bool] | None:
        parts = [_COMPONENT.fullmatch(p) for p in dep.name.split(".")]
        if not all(parts):
            self.fail(
                dep, f"expected a job name or dotted path like 'inner.say_hi', got '{dep.name}'"
            )
            return None
        wanted = [(m.group(1), None if m.group(2) is None else int(m.group(2))) for m in parts if m]
        parent = self.parent[id(node)]
        if parent is not None and (hit := self.walk(parent, wanted)) is not None:
            return self.indexed(dep, hit, wanted)
        ids = [w for w, _ in wanted]
        matches = []
        for candidate in self.all_nodes():
            chain = [candidate, *self.ancestors(candidate)][: len(ids)]
            if [n.id for n in reversed(chain)] == ids:
                matches.append(list(reversed(chain)))
        if len(matches) == 1:
            return self.indexed(dep, matches[0], wanted)
        if matches:
            names = ", ".join(self.spec_path[id(m[-1])] for m in matches)
            self.fail(dep, f"'{dep.name}' is ambiguous: it names {names}; write more of the path")
            return None
        choices = sorted({n.id for n in self.all_nodes()} | set(self.spec_path.values()))
        self.fail(dep, f"no job '{dep.name}'{suggest(dep.name, choices)}")
        return None

    def walk(self, parent: Node, wanted: list[tuple[str, int | None]]) -> list[Node] | None:
        chain: list[Node] = []
        here: Node = parent
        for name, _ in wanted:
            if not isinstance(here, Group):
                return None
            child = next((c for c in here.jobs if c.id == name), None)
            if child is None:
                return None
            chain.append(child)
            here = child
        return chain

    def indexed(
        self, dep: Dependency, chain: list[Node], wanted: list[tuple[str, int | None]]
    ) -> tuple[Node, dict[int, int], bool] | None:
        fixed: dict[int, int] = {}
        for node, (_, index) in zip(chain, wanted, strict=True):
            if index is None:
                continue
            if not isinstance(node, Array):
                self.fail(dep, f"'{node.id}[{index}]': '{node.id}' is not a !JobArray")
                return None
            if index >= node.repeats:
                self.fail(
                    dep,
                    f"'{node.id}[{index}]': index out of range ({node.id} has "
                    f"repeats: {node.repeats})",
                )
                return None
            fixed[id(node)] = index
        copy = wanted[-1][1] is not None
        return chain[-1], fixed, copy

    def check_target(self, node: Node, dep: Dependency, target: Node) -> bool:
        if target is node:
            self.fail(dep, f"'{dep.name}' is this {_word(node)} itself")
        elif any(a is target for a in self.ancestors(node)):
            self.fail(
                dep, f"'{dep.name}' contains this {_word(node)}, so it can never finish first"
            )
        elif any(a is node for a in self.ancestors(target)):
            self.fail(
                dep, f"'{dep.name}' is inside this {_word(node)}, so it can never finish first"
            )
        else:
            return True
        return False

    def targets(
        self, target: Node, fixed: dict[int, int], copy: bool, indices: dict[int, int]
    ) -> tuple[str, ...]:
        arrays = [a for a in reversed(list(self.ancestors(target))) if isinstance(a, Array)]
        choices: list[tuple[int, ...]] = []
        for array in arrays:
            if id(array) in fixed:
                choices.append((fixed[id(array)],))
            elif id(array) in indices:  # shared array: the same copy as the waiting job
                choices.append((indices[id(array)],))
            else:
                assert isinstance(array, Array)
                choices.append(tuple(range(array.repeats)))
        last = fixed.get(id(target)) if copy else None
        found = []
        for combo in itertools.product(*choices):
            path = self.instances.get((id(target), combo, last))
            if path is not None:
                found.append(path)
        return tuple(found)

    def finish_jobs(self) -> None:
        for i, scope in enumerate(self.scopes):
            indices = dict(scope.indices)
            conditions = []
            for dep, declared_by in scope.depends:
                found = self.resolved.get((id(declared_by), dep.name))
                if found is not None:
                    targets = self.targets(*found, indices)
                    conditions.append(
                        Condition(kind=dep.kind, name=dep.name, targets=targets, at=dep.at)
                    )
            if conditions:
                self.jobs[i] = replace(self.jobs[i], conditions=tuple(conditions))

    # -- cycles --------------------------------------------------------------------

    def find_cycles(self) -> None:
        """Report each distinct cycle of waits (containment counts: a group waits for its jobs)."""
        out: dict[str, list[tuple[str, Location | None]]] = {}
        for group in self.groups.values():
            out[group.path] = [(child, None) for child in group.children]
        for job in self.jobs:
            out[job.path] = [(t, c.at) for c in job.conditions for t in c.targets]
        state: dict[str, int] = {}
        reported: set[str] = set()
        for start in out:
            if state.get(start):
                continue
            stack: list[tuple[str, Iterator[tuple[str, Location | None]]]] = [
                (start, iter(out[start]))
            ]
            trail: list[tuple[str, Location | None]] = [(start, None)]
            state[start] = 1
            while stack:
                vertex, edges = stack[-1]
                step = next(edges, None)
                if step is None:
                    state[vertex] = 2
                    stack.pop()
                    trail.pop()
                    continue
                nxt, at = step
                if state.get(nxt) == 1:
                    self.report_cycle(trail, nxt, at, reported)
                elif not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, iter(out[nxt])))
                    trail.append((nxt, at))

    def report_cycle(
        self,
        trail: list[tuple[str, Location | None]],
        back_to: str,
        closing: Location | None,
        reported: set[str],
    ) -> None:
        start = next(i for i, (v, _) in enumerate(trail) if v == back_to)
        loop = trail[start:]
        paths = [v for v, _ in loop] + [back_to]
        signature = " -> ".join(sorted({re.sub(r"\[\d+\]", "", p) for p in paths}))
        if signature in reported:
            return
        reported.add(signature)
        at = closing or next(a for _, a in reversed(loop) if a is not None)
        shown = " -> ".join(paths)
        self.problems.append(
            Problem(
                file=at.file,
                line=at.line,
                col=at.col,
                path=at.path,
                message=f"dependency cycle: {shown}",
            )
        )


def _word(node: Node) -> str:
    return "job" if isinstance(node, Job) else "group"


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
