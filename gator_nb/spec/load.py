"""Parse spec YAML into the frozen tree, collecting every problem with file:line:col.

YAML is *composed* (not constructed) so that every node keeps its position and
unknown tags never stop the walk: each problem is recorded and the walk goes on.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.nodes import Node as YamlNode

from gator_nb.errors import Problem, SpecError
from gator_nb.spec import fields as values
from gator_nb.spec.cycles import find_cycles
from gator_nb.spec.depends import Resolver
from gator_nb.spec.model import Array, Dependency, Group, Job, Location, Node, Spec
from gator_nb.spec.nodes import STD, describe, suggest
from gator_nb.spec.resources import MEMORY_UNITS, RESOURCE_TAGS, parse_resources
from gator_nb.spec.rules import parse_limits, parse_metrics, parse_results, parse_severity
from gator_nb.spec.size import MAX_DEPTH, MAX_JOBS, MAX_SPEC_BYTES, refusal
from gator_nb.spec.source import read_spec, too_big, too_deep_at
from gator_nb.spec.steering import (
    input_problems,
    parse_inputs,
    parse_matrix,
    parse_outputs,
    parse_params,
)
from gator_nb.spec.variables import param_names

__all__ = ["ID_PATTERN", "MAX_JOBS", "MEMORY_UNITS", "load_spec", "suggest"]

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
_NODE_TAGS = ("!Job", "!JobGroup", "!JobArray")
_COMMON_KEYS = (
    "id",
    "ident",
    "cwd",
    "env",
    "resources",
    "on_pass",
    "on_fail",
    "on_done",
    "timeout",
    "retries",
    "severity",
    "limits",
    "metrics",
    "params",
    "inputs",
)
# Fields whose text may use {{ params }}.
_TEMPLATED = ("command", "args", "cwd", "env", "results", "outputs")
_KEYS = {
    "!Job": (*_COMMON_KEYS, "command", "args", "results", "outputs"),
    "!JobGroup": (*_COMMON_KEYS, "jobs"),
    "!JobArray": (*_COMMON_KEYS, "jobs", "repeats", "matrix"),
}


def load_spec(
    path: str | Path | None = None, *, text: str | None = None, max_jobs: int = MAX_JOBS
) -> Spec:
    """Load and validate a spec from a file or from ``text``: its structure, then its
    dependencies (names resolved and cycles found on the tree, without expanding arrays).
    A spec that expands to more than ``max_jobs`` jobs (or groups) is refused unbuilt.

    Raises:
        SpecError: listing every problem found, each with file, line and column.
    """
    if (path is None) == (text is None):
        raise TypeError("load_spec() takes a path or text=, not both")
    if path is not None:
        file = str(path)
        text = read_spec(Path(path))
        directory = str(Path(path).resolve().parent)
    else:
        file, directory = "<text>", str(Path.cwd())
    assert text is not None
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError([too_big(file)])
    checker = _Checker(file, max_jobs)
    root = checker.document(text)
    problems = checker.problems
    if root is None:
        raise SpecError(sorted(problems, key=lambda p: (p.line, p.col)))
    resolver = Resolver(root, problems)  # after the structure: every problem at once
    edges = resolver.resolve_all()
    problems += input_problems(resolver)
    problems += find_cycles(resolver.waits())
    if problems:
        raise SpecError(sorted(problems, key=lambda p: (p.line, p.col)))
    return Spec(
        root=root,
        file=file,
        text=text,
        directory=directory,
        resolved=resolver.found(),
        edges=tuple(edges),
    )


class _Checker:
    """Walks composed YAML nodes, building the tree and recording problems."""

    def __init__(self, file: str, max_jobs: int = MAX_JOBS) -> None:
        self.file = file
        self.max_jobs = max_jobs
        self.problems: list[Problem] = []
        self.scopes: list[set[str]] = []  # params in scope, innermost last

    def at(self, node: YamlNode, path: str) -> Location:
        mark = node.start_mark
        return Location(file=self.file, line=mark.line + 1, col=mark.column + 1, path=path)

    def problem(self, node: YamlNode, path: str, message: str) -> None:
        where = self.at(node, path)
        self.problems.append(
            Problem(file=self.file, line=where.line, col=where.col, path=path, message=message)
        )

    def document(self, text: str) -> Node | None:
        try:
            top = yaml.compose(text, Loader=yaml.SafeLoader)
        except RecursionError:  # PyYAML composes recursively: ~240 levels at most
            line, col = too_deep_at(text)
            self.problems.append(
                Problem(
                    file=self.file,
                    line=line,
                    col=col,
                    path="$",
                    message=f"nested too deeply (expected at most {MAX_DEPTH} levels of groups)",
                )
            )
            return None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            what = " ".join(filter(None, [exc.context, exc.problem]))
            self.problems.append(
                Problem(
                    file=self.file, line=line, col=col, path="$", message=f"invalid YAML: {what}"
                )
            )
            return None
        except yaml.YAMLError as exc:
            self.problems.append(
                Problem(file=self.file, line=1, col=1, path="$", message=f"invalid YAML: {exc}")
            )
            return None
        if top is None:
            self.problems.append(
                Problem(
                    file=self.file,
                    line=1,
                    col=1,
                    path="$",
                    message="expected a !JobGroup, !JobArray or !Job, got an empty document",
                )
            )
            return None
        if not self.small_enough(top):
            return None
        return self.node(top, "$")

    def small_enough(self, top: YamlNode) -> bool:
        """Refuse loops, too many jobs and too deep a tree before building any of it."""
        refused = refusal(top, self.max_jobs)
        if refused is not None:
            self.problem(refused[0], "$", refused[1])
        return refused is None

    # -- nodes -------------------------------------------------------------------

    def node(self, ynode: YamlNode, path: str) -> Node | None:
        tag = ynode.tag
        if tag not in _NODE_TAGS:
            if tag.startswith("!"):
                hint = suggest(tag, _NODE_TAGS + RESOURCE_TAGS)
                self.problem(
                    ynode, path, f"unknown tag '{tag}'{hint}; expected !Job, !JobGroup or !JobArray"
                )
            else:
                self.problem(
                    ynode,
                    path,
                    "expected a !Job, !JobGroup or !JobArray, "
                    f"got an untagged {describe(ynode)[2:]}{_tag_hint(ynode)}",
                )
            return None
        if not isinstance(ynode, MappingNode):
            self.problem(ynode, path, f"expected a mapping after {tag}, got {describe(ynode)}")
            return None
        fields = self.fields(ynode, path, tag)
        self.scopes.append(self.scope_names(fields, path))
        try:
            for name in _TEMPLATED:
                if name in fields:
                    self.check_params(fields[name][1], f"{path}.{name}")
            common = self.common(ynode, path, fields)
            if tag == "!Job":
                return self.job(ynode, path, fields, common)
            return self.group(ynode, path, fields, common, tag)
        finally:
            self.scopes.pop()

    def scope_names(self, fields: dict[str, tuple[YamlNode, YamlNode]], path: str) -> set[str]:
        """The params a node's fields may use: its own, its matrix's, and its parents'."""
        names = set(self.scopes[-1]) if self.scopes else set()
        for key in ("params", "matrix"):
            if key in fields and isinstance(fields[key][1], MappingNode):
                names.update(k.value for k, _ in fields[key][1].value if isinstance(k, ScalarNode))
        return names

    def check_params(self, ynode: YamlNode, path: str) -> None:
        """Every ``{{ name }}`` in ``ynode``'s scalars names a param in scope."""
        if isinstance(ynode, ScalarNode):
            known = self.scopes[-1]
            for name in param_names(str(ynode.value)):
                if name not in known:
                    self.problem(
                        ynode,
                        path,
                        f"unknown param '{{{{ {name} }}}}'{suggest(name, sorted(known))}",
                    )
        elif isinstance(ynode, SequenceNode):
            for i, item in enumerate(ynode.value):
                self.check_params(item, f"{path}[{i}]")
        elif isinstance(ynode, MappingNode):
            for key, value in ynode.value:
                self.check_params(value, f"{path}.{getattr(key, 'value', '?')}")

    def fields(
        self, ynode: MappingNode, path: str, tag: str
    ) -> dict[str, tuple[YamlNode, YamlNode]]:
        allowed = _KEYS[tag]
        fields: dict[str, tuple[YamlNode, YamlNode]] = {}
        for key, value in ynode.value:
            name = key.value if isinstance(key, ScalarNode) else None
            if not isinstance(name, str):
                self.problem(key, path, f"expected a key name, got {describe(key)}")
            elif name in fields:
                self.problem(key, f"{path}.{name}", f"duplicate key '{name}'")
            elif name not in allowed:
                others = [t for t, keys in _KEYS.items() if name in keys]
                if others:
                    hint = (
                        f" (only {' and '.join(others)} {'has' if len(others) == 1 else 'have'} it)"
                    )
                else:
                    hint = suggest(name, allowed)
                self.problem(key, path, f"unknown key '{name}' for {tag}{hint}")
            else:
                fields[name] = (key, value)
        return fields

    def common(
        self, ynode: MappingNode, path: str, fields: dict[str, tuple[YamlNode, YamlNode]]
    ) -> dict[str, Any]:
        common: dict[str, Any] = {"at": self.at(ynode, path)}
        common["id"] = self.ident(ynode, path, fields)
        if "cwd" in fields:
            common["cwd"] = values.string(fields["cwd"][1], f"{path}.cwd", self.problem)
        if "env" in fields:
            common["env"] = values.env(fields["env"][1], f"{path}.env", self.problem)
        if "resources" in fields:
            common["resources"] = parse_resources(
                fields["resources"][1], f"{path}.resources", self.problem
            )
        depends: list[Dependency] = []
        for kind in ("pass", "fail", "done"):
            if f"on_{kind}" in fields:
                depends += values.depends(
                    fields[f"on_{kind}"][1], f"{path}.on_{kind}", kind, self.problem, self.at
                )
        common["depends"] = tuple(depends)
        if "timeout" in fields:
            common["timeout"] = values.timeout(
                fields["timeout"][1], f"{path}.timeout", self.problem
            )
        if "retries" in fields:
            common["retries"] = values.repeats(
                fields["retries"][1], f"{path}.retries", self.problem
            )
        if "severity" in fields:
            common["severity"] = parse_severity(
                fields["severity"][1], f"{path}.severity", self.problem, self.at
            )
        if "limits" in fields:
            common["limits"] = parse_limits(fields["limits"][1], f"{path}.limits", self.problem)
        if "metrics" in fields:
            common["metrics"] = parse_metrics(
                fields["metrics"][1], f"{path}.metrics", self.problem, self.at
            )
        if "params" in fields:
            common["params"] = parse_params(fields["params"][1], f"{path}.params", self.problem)
        if "inputs" in fields:
            inputs = parse_inputs(fields["inputs"][1], f"{path}.inputs", self.problem, self.at)
            common["inputs"] = inputs
            # An input is a dependency too: the consumer waits for its producer to pass.
            common["depends"] += tuple(
                Dependency(kind="pass", name=i.producer, at=i.at) for i in inputs
            )
        return common

    def ident(
        self, ynode: MappingNode, path: str, fields: dict[str, tuple[YamlNode, YamlNode]]
    ) -> str:
        if "id" in fields and "ident" in fields:
            self.problem(fields["ident"][0], path, "give 'id' or 'ident', not both")
        key = "id" if "id" in fields else "ident"
        if key not in fields:
            self.problem(ynode, path, "missing 'id'")
            return "?"
        value = fields[key][1]
        where = f"{path}.{key}"
        if not isinstance(value, ScalarNode) or value.tag == STD + "null":
            self.problem(value, where, f"expected a name, got {describe(value)}")
            return "?"
        if not ID_PATTERN.fullmatch(value.value):
            self.problem(
                value,
                where,
                f"expected letters, digits, '_' or '-' (dots join paths), got '{value.value}'",
            )
            return "?"
        return str(value.value)

    def job(
        self,
        ynode: MappingNode,
        path: str,
        fields: dict[str, tuple[YamlNode, YamlNode]],
        common: dict[str, Any],
    ) -> Job | None:
        if "command" not in fields:
            self.problem(ynode, path, "missing 'command' (a !Job needs a program to run)")
            command = None
        else:
            command = values.string(
                fields["command"][1], f"{path}.command", self.problem, literal=True
            )
            if command == "":
                self.problem(
                    fields["command"][1],
                    f"{path}.command",
                    "expected a program to run, got an empty string",
                )
        args: tuple[str, ...] = ()
        if "args" in fields:
            args = values.string_list(
                fields["args"][1], f"{path}.args", "strings or numbers", self.problem
            )
        results: tuple[str, ...] = ()
        if "results" in fields:
            results = parse_results(fields["results"][1], f"{path}.results", self.problem)
        outputs: dict[str, str] = {}
        if "outputs" in fields:
            outputs = parse_outputs(fields["outputs"][1], f"{path}.outputs", self.problem)
        # A broken job stays in the tree so that dependencies on it still resolve.
        return Job(command=command or "", args=args, results=results, outputs=outputs, **common)

    def group(
        self,
        ynode: MappingNode,
        path: str,
        fields: dict[str, tuple[YamlNode, YamlNode]],
        common: dict[str, Any],
        tag: str,
    ) -> Group | None:
        repeats = 1
        matrix: tuple[tuple[str, tuple[str, ...]], ...] = ()
        if tag == "!JobArray":
            if "matrix" in fields:
                matrix = parse_matrix(fields["matrix"][1], f"{path}.matrix", self.problem)
            if "repeats" in fields:
                repeats = values.repeats(fields["repeats"][1], f"{path}.repeats", self.problem)
            elif "matrix" not in fields:
                self.problem(
                    ynode, path, "missing 'repeats' or 'matrix' (how many copies of 'jobs')"
                )
        jobs = self.children(ynode, path, fields) or ()
        if tag == "!JobArray":
            return Array(jobs=jobs, repeats=repeats, matrix=matrix, **common)
        return Group(jobs=jobs, **common)

    def children(
        self, ynode: MappingNode, path: str, fields: dict[str, tuple[YamlNode, YamlNode]]
    ) -> tuple[Node, ...] | None:
        if "jobs" not in fields:
            self.problem(ynode, path, "missing 'jobs' (a list of !Job, !JobGroup or !JobArray)")
            return None
        value = fields["jobs"][1]
        if value.tag == STD + "null":
            return ()
        if not isinstance(value, SequenceNode):
            self.problem(value, f"{path}.jobs", f"expected a list of jobs, got {describe(value)}")
            return None
        jobs: list[Node] = []
        seen: dict[str, Location] = {}
        for i, item in enumerate(value.value):
            child = self.node(item, f"{path}.jobs[{i}]")
            if child is None:
                continue
            if child.id in seen and child.id != "?":
                first = seen[child.id]
                here = self.at(item, path)
                also = (
                    "the same node again, through an alias"
                    if (first.line, first.col) == (here.line, here.col)
                    else f"also at {first.file}:{first.line}:{first.col}"
                )
                self.problem(item, f"{path}.jobs[{i}].id", f"duplicate id '{child.id}' ({also})")
            seen.setdefault(child.id, child.at)
            jobs.append(child)
        return tuple(jobs)

    # -- fields ------------------------------------------------------------------


def _tag_hint(ynode: YamlNode) -> str:
    keys = {k.value for k, _ in ynode.value} if isinstance(ynode, MappingNode) else set()
    for key, tag in (("repeats", "!JobArray"), ("jobs", "!JobGroup"), ("command", "!Job")):
        if key in keys:
            return f" (write {tag} before it)"
    return ""
