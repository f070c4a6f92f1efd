"""What steers a spec node, read from composed YAML: ``params`` (values for ``{{ name }}``),
an array's ``matrix``, a job's ``outputs`` and a node's ``inputs``. Each problem is reported
with its node.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.nodes import Node as YamlNode

from gator_nb.errors import Problem
from gator_nb.spec.depends import Resolver
from gator_nb.spec.model import Input, Job, Location
from gator_nb.spec.nodes import STD, describe, suggest

__all__ = [
    "NAME",
    "input_problems",
    "parse_inputs",
    "parse_matrix",
    "parse_outputs",
    "parse_params",
]

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCALARS = (STD + "str", STD + "int", STD + "float")
_MAX_COMBINATIONS = 1_000_000

Report = Callable[[YamlNode, str, str], None]  # (node, $.path, message): record a problem
At = Callable[[YamlNode, str], Location]


def _names(ynode: YamlNode, path: str, report: Report, what: str) -> list[tuple[str, YamlNode]]:
    """(name, value node) of a mapping whose keys are names."""
    if not isinstance(ynode, MappingNode):
        report(ynode, path, f"expected a mapping of names to {what}, got {describe(ynode)}")
        return []
    found = []
    for key, value in ynode.value:
        name = key.value if isinstance(key, ScalarNode) else None
        if not isinstance(name, str) or not NAME.fullmatch(name):
            report(key, path, f"expected a name (letters, digits, '_'), got {describe(key)}")
        else:
            found.append((name, value))
    return found


def _scalar(ynode: YamlNode, path: str, report: Report) -> str | None:
    if isinstance(ynode, ScalarNode) and ynode.tag in _SCALARS:
        return str(ynode.value)
    if isinstance(ynode, ScalarNode) and ynode.tag == STD + "bool":
        report(
            ynode, path, f"expected a string or number, got a boolean (quote it: '{ynode.value}')"
        )
    else:
        report(ynode, path, f"expected a string or number, got {describe(ynode)}")
    return None


def parse_params(ynode: YamlNode, path: str, report: Report) -> dict[str, str]:
    """``params: {name: value, ...}``: values as written (``16`` stays ``"16"``)."""
    params = {}
    for name, value in _names(ynode, path, report, "strings or numbers"):
        text = _scalar(value, f"{path}.{name}", report)
        if text is not None:
            params[name] = text
    return params


def parse_matrix(
    ynode: YamlNode, path: str, report: Report
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``matrix: {name: [value, ...], ...}``: one array copy per combination."""
    matrix = []
    combinations = 1
    for name, values in _names(ynode, path, report, "non-empty lists of values"):
        where = f"{path}.{name}"
        if not isinstance(values, SequenceNode) or not values.value:
            report(values, where, f"expected a non-empty list of values, got {describe(values)}")
            continue
        items = [_scalar(item, f"{where}[{i}]", report) for i, item in enumerate(values.value)]
        kept = tuple(item for item in items if item is not None)
        if len(kept) == len(items):
            matrix.append((name, kept))
            combinations *= len(kept)
    if combinations > _MAX_COMBINATIONS:
        report(
            ynode,
            path,
            f"expected at most {_MAX_COMBINATIONS:,} combinations, got {combinations:,}",
        )
        return ()
    return tuple(matrix)


def parse_outputs(ynode: YamlNode, path: str, report: Report) -> dict[str, str]:
    """``outputs: {name: path-or-glob, ...}``."""
    outputs = {}
    for name, value in _names(ynode, path, report, "paths or globs"):
        if isinstance(value, ScalarNode) and value.tag == STD + "str" and value.value:
            outputs[name] = str(value.value)
        else:
            report(value, f"{path}.{name}", f"expected a path or glob, got {describe(value)}")
    return outputs


def parse_inputs(ynode: YamlNode, path: str, report: Report, at: At) -> tuple[Input, ...]:
    """``inputs: [PRODUCER.NAME, ...]``."""
    items = ynode.value if isinstance(ynode, SequenceNode) else [ynode]
    found = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]" if isinstance(ynode, SequenceNode) else path
        text = item.value if isinstance(item, ScalarNode) and item.tag == STD + "str" else None
        producer, _, name = (text or "").rpartition(".")
        if not producer or not NAME.fullmatch(name):
            report(
                item,
                where,
                f"expected PRODUCER.NAME (a job and one of its outputs), got {describe(item)}",
            )
            continue
        found.append(Input(producer=producer, name=name, at=at(item, where)))
    return tuple(found)


def input_problems(resolver: Resolver) -> list[Problem]:
    """Inputs whose producer resolved but is not a job, or has no output of that name."""
    problems = []
    for node in resolver.all_nodes():
        for wanted in node.inputs:
            hit = resolver.resolved.get((id(node), wanted.producer))
            if hit is None:
                continue  # the dependency's own problem is reported already
            producer = hit[0]
            if not isinstance(producer, Job):
                why = f"'{wanted.producer}' is a group; inputs come from a !Job's outputs"
            elif wanted.name not in producer.outputs:
                names = sorted(producer.outputs)
                listed = f"; it has {', '.join(names)}" if names else "; it has no outputs"
                hint = suggest(wanted.name, names) or listed
                why = f"job '{wanted.producer}' has no output '{wanted.name}'{hint}"
            else:
                continue
            at = wanted.at
            problems.append(
                Problem(file=at.file, line=at.line, col=at.col, path=at.path, message=why)
            )
    return problems
