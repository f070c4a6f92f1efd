"""The spec tree: frozen dataclasses for jobs, groups, arrays and resources.

Values only; `load.py` builds them from YAML and `plan.py` expands them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "Array",
    "Cores",
    "Dependency",
    "Group",
    "Input",
    "Job",
    "License",
    "Location",
    "Memory",
    "MetricRule",
    "Node",
    "Resource",
    "SeverityRule",
    "Spec",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """Where something was written: file, 1-based line and column, and JSON path."""

    file: str
    line: int
    col: int
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Cores:
    """``!Cores [N]``: cores a job holds while it runs."""

    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Memory:
    """``!Memory [N, UNIT]``: memory a job is expected to need, in bytes."""

    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class License:
    """``!License [NAME, N]``: N seats of a named licence held while running."""

    name: str
    count: int = 1


Resource = Cores | Memory | License


@dataclass(frozen=True, slots=True, kw_only=True)
class Dependency:
    """One entry of ``on_pass``/``on_fail``/``on_done``: ``kind`` is pass, fail or done."""

    kind: str
    name: str
    at: Location


@dataclass(frozen=True, slots=True, kw_only=True)
class SeverityRule:
    """One entry of ``severity:``: lines where ``match`` (a regex) is found get ``level``."""

    match: str
    level: str  # DEBUG | INFO | WARNING | ERROR | CRITICAL
    at: Location


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricRule:
    """One entry of ``metrics:``: ``match``'s one capture group is the value of ``name``."""

    name: str
    match: str
    at: Location


@dataclass(frozen=True, slots=True, kw_only=True)
class Input:
    """One entry of ``inputs:``: artefact ``name`` of job ``producer`` (found like a
    dependency, which it also is: the consumer waits for the producer to pass)."""

    producer: str
    name: str
    at: Location


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """Fields every node of the tree has."""

    id: str
    at: Location
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    resources: tuple[Resource, ...] = ()
    depends: tuple[Dependency, ...] = ()
    timeout: float | None = None
    retries: int | None = None  # extra attempts for a job that fails; inherited
    severity: tuple[SeverityRule, ...] = ()  # tried before the built-in patterns
    limits: Mapping[str, int] = field(default_factory=dict)  # severity -> most messages
    metrics: tuple[MetricRule, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict)  # {{ name }} values; inherited
    inputs: tuple[Input, ...] = ()

    def _names(self, kind: str) -> tuple[str, ...]:
        return tuple(d.name for d in self.depends if d.kind == kind)

    @property
    def on_pass(self) -> tuple[str, ...]:
        return self._names("pass")

    @property
    def on_fail(self) -> tuple[str, ...]:
        return self._names("fail")

    @property
    def on_done(self) -> tuple[str, ...]:
        return self._names("done")


@dataclass(frozen=True, slots=True, kw_only=True)
class Job(Node):
    """``!Job``: one program to run."""

    command: str
    args: tuple[str, ...] = ()
    results: tuple[str, ...] = ()  # JUnit XML files (paths or globs from the job's cwd)
    outputs: Mapping[str, str] = field(default_factory=dict)  # artefact name -> path or glob

    @property
    def argv(self) -> tuple[str, ...]:
        return (self.command, *self.args)


@dataclass(frozen=True, slots=True, kw_only=True)
class Group(Node):
    """``!JobGroup``: children run as one unit that aggregates their results."""

    jobs: tuple[Node, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Array(Group):
    """``!JobArray``: ``repeats`` copies of ``jobs``, each seeing GATOR_ARRAY_INDEX."""

    repeats: int = 1
    matrix: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name, values), first slowest

    @property
    def copies(self) -> int:
        """How many copies: ``repeats`` times each combination of the matrix."""
        count = self.repeats
        for _, values in self.matrix:
            count *= len(values)
        return count


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """A loaded spec: its root node, where it came from and the text itself.

    ``resolved`` maps (id of the declaring node, dependency name) to the node it names,
    the array copies the name fixes and whether it names one copy (see ``spec.depends``);
    ``edges`` lists (node, kind, target) spec paths. Both are filled by ``load_spec``,
    which checks every dependency once, so planning never resolves or checks them again.
    """

    root: Node
    file: str
    text: str
    directory: str
    resolved: Mapping[tuple[int, str], tuple[Node, Mapping[int, int], bool]] = field(
        default_factory=dict, compare=False, repr=False
    )
    edges: tuple[tuple[str, str, str], ...] = ()
