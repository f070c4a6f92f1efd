"""Dependency resolution: the spec node each ``on_pass``/``on_fail``/``on_done`` name
means (searched from the node that declares it), the spec's wait graph for cycle checks,
and the instance paths a name waits on once arrays are expanded.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping

from gator_nb.errors import Problem
from gator_nb.spec.model import Array, Dependency, Group, Job, Location, Node
from gator_nb.spec.nodes import suggest

__all__ = ["Found", "Instances", "Resolver"]

_COMPONENT = re.compile(r"([A-Za-z0-9_-]+)(?:\[(\d+)\])?")

# The node a dependency names, the array copies its name fixes (id(array) -> index),
# and whether it names one copy of an array rather than the whole array.
Found = tuple[Node, Mapping[int, int], bool]
# (id(node), copy index of each enclosing array, copy index of the node) -> instance path
Instances = Mapping[tuple[int, tuple[int, ...], int | None], str]


class Resolver:
    """Resolves a spec tree's dependency names once each, adding problems to ``problems``."""

    def __init__(
        self,
        root: Node,
        problems: list[Problem],
        resolved: Mapping[tuple[int, str], Found] | None = None,
    ) -> None:
        self.root, self.problems = root, problems
        self.parent: dict[int, Node | None] = {}
        self.spec_path: dict[int, str] = {}
        self.resolved: dict[tuple[int, str], Found | None] = dict(resolved or {})
        self._index_tree(root, None, "")

    def _index_tree(self, node: Node, parent: Node | None, prefix: str) -> None:
        self.parent[id(node)] = parent
        path = f"{prefix}.{node.id}" if prefix else node.id
        self.spec_path[id(node)] = path
        if isinstance(node, Group):
            for child in node.jobs:
                self._index_tree(child, node, path)

    def ancestors(self, node: Node) -> Iterator[Node]:
        """The node's ancestors, nearest first."""
        up = self.parent[id(node)]
        while up is not None:
            yield up
            up = self.parent[id(up)]

    def all_nodes(self) -> Iterator[Node]:
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            if isinstance(node, Group):
                stack.extend(reversed(node.jobs))

    def resolve_all(self) -> list[tuple[str, str, str]]:
        """Resolve every dependency; return (node, kind, target) spec paths of those found."""
        edges = []
        for node in self.all_nodes():
            for dep in node.depends:
                found = self.resolve(node, dep)
                if found is not None:
                    edges.append((self.spec_path[id(node)], dep.kind, self.spec_path[id(found[0])]))
        return edges

    def found(self) -> dict[tuple[int, str], Found]:
        """Every dependency that resolved (for ``Spec.resolved``)."""
        return {key: hit for key, hit in self.resolved.items() if hit is not None}

    def waits(self) -> dict[str, list[tuple[str, Location | None]]]:
        """The wait graph of the spec tree, for ``find_cycles``.

        Groups wait for their children; a job waits for what it and its ancestors depend
        on (a job inherits its groups' dependencies). Every instance of a node waits on
        some instance of each node it names, so this graph has a cycle exactly when the
        expanded one does, without expanding arrays. Arrays of no copies have no instances.
        """
        out: dict[str, list[tuple[str, Location | None]]] = {}
        stack: list[tuple[Node, list[tuple[str, Location | None]]]] = [(self.root, [])]
        while stack:
            node, inherited = stack.pop()
            if isinstance(node, Array) and node.copies == 0:
                continue
            waits = list(inherited)
            for dep in node.depends:
                hit = self.resolved.get((id(node), dep.name))
                if hit is not None:
                    waits.append((self.spec_path[id(hit[0])], dep.at))
            path = self.spec_path[id(node)]
            if isinstance(node, Group):
                out[path] = [(self.spec_path[id(child)], None) for child in node.jobs]
                stack.extend((child, waits) for child in node.jobs)
            else:
                out[path] = waits
        return {path: [w for w in waits if w[0] in out] for path, waits in out.items()}

    def resolve(self, node: Node, dep: Dependency) -> Found | None:
        key = (id(node), dep.name)
        if key in self.resolved:
            return self.resolved[key]
        found = self._lookup(node, dep)
        if found is not None and not self._check_target(node, dep, found[0]):
            found = None
        self.resolved[key] = found
        return found

    def targets_of(
        self, dep: Dependency, declared_by: Node, indices: dict[int, int], instances: Instances
    ) -> tuple[str, ...] | None:
        """Instance paths ``dep`` waits on for a job in array copies ``indices``.

        None when ``dep`` (declared by ``declared_by``) did not resolve.
        """
        found = self.resolved.get((id(declared_by), dep.name))
        if found is None:
            return None
        return self._targets(*found, indices, instances)

    def _fail(self, dep: Dependency, message: str) -> None:
        at = dep.at
        self.problems.append(
            Problem(file=at.file, line=at.line, col=at.col, path=at.path, message=message)
        )

    def _lookup(self, node: Node, dep: Dependency) -> Found | None:
        parts = [_COMPONENT.fullmatch(p) for p in dep.name.split(".")]
        if not all(parts):
            self._fail(
                dep, f"expected a job name or dotted path like 'inner.say_hi', got '{dep.name}'"
            )
            return None
        wanted = [(m.group(1), None if m.group(2) is None else int(m.group(2))) for m in parts if m]
        parent = self.parent[id(node)]
        if parent is not None and (hit := self._walk(parent, wanted)) is not None:
            return self._indexed(dep, hit, wanted)
        ids = [w for w, _ in wanted]
        matches = []
        for candidate in self.all_nodes():
            chain = [candidate, *self.ancestors(candidate)][: len(ids)]
            if [n.id for n in reversed(chain)] == ids:
                matches.append(list(reversed(chain)))
        if len(matches) == 1:
            return self._indexed(dep, matches[0], wanted)
        if matches:
            names = ", ".join(self.spec_path[id(m[-1])] for m in matches)
            self._fail(dep, f"'{dep.name}' is ambiguous: it names {names}; write more of the path")
            return None
        choices = sorted({n.id for n in self.all_nodes()} | set(self.spec_path.values()))
        self._fail(dep, f"no job '{dep.name}'{suggest(dep.name, choices)}")
        return None

    def _walk(self, parent: Node, wanted: list[tuple[str, int | None]]) -> list[Node] | None:
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

    def _indexed(
        self, dep: Dependency, chain: list[Node], wanted: list[tuple[str, int | None]]
    ) -> Found | None:
        fixed: dict[int, int] = {}
        for node, (_, index) in zip(chain, wanted, strict=True):
            if index is None:
                continue
            if not isinstance(node, Array):
                self._fail(dep, f"'{node.id}[{index}]': '{node.id}' is not a !JobArray")
                return None
            if index >= node.copies:
                self._fail(
                    dep,
                    f"'{node.id}[{index}]': index out of range ({node.id} has "
                    f"{node.copies} copies)",
                )
                return None
            fixed[id(node)] = index
        copy = wanted[-1][1] is not None
        return chain[-1], fixed, copy

    def _check_target(self, node: Node, dep: Dependency, target: Node) -> bool:
        if target is node:
            self._fail(dep, f"'{dep.name}' is this {_word(node)} itself")
        elif any(a is target for a in self.ancestors(node)):
            self._fail(
                dep, f"'{dep.name}' contains this {_word(node)}, so it can never finish first"
            )
        elif any(a is node for a in self.ancestors(target)):
            self._fail(
                dep, f"'{dep.name}' is inside this {_word(node)}, so it can never finish first"
            )
        else:
            return True
        return False

    def _targets(
        self,
        target: Node,
        fixed: Mapping[int, int],
        copy: bool,
        indices: dict[int, int],
        instances: Instances,
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
                choices.append(tuple(range(array.copies)))
        last = fixed.get(id(target)) if copy else None
        found = []
        for combo in itertools.product(*choices):
            path = instances.get((id(target), combo, last))
            if path is not None:
                found.append(path)
        return tuple(found)


def _word(node: Node) -> str:
    return "job" if isinstance(node, Job) else "group"
