"""A spec node's plain field values read from composed YAML: strings, lists of strings, an
``env`` mapping, a ``timeout``, a count (``repeats``, ``retries``) and dependency names.
Each bad value is reported with its node and left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.nodes import Node as YamlNode

from gator_nb.spec.model import Dependency, Location
from gator_nb.spec.nodes import STD, construct, describe, number

__all__ = [
    "MAX_COUNT",
    "MAX_TIMEOUT_S",
    "depends",
    "env",
    "repeats",
    "string",
    "string_list",
    "timeout",
]

Report = Callable[[YamlNode, str, str], None]  # (node, $.path, message): record a problem
At = Callable[[YamlNode, str], Location]

MAX_TIMEOUT_S = 1e9  # about 31 years
MAX_COUNT = 2**31 - 1  # repeats and retries; the job limit refuses big plans earlier


def string(ynode: YamlNode, path: str, report: Report, *, literal: bool = False) -> str | None:
    """A string or number; with ``literal`` any scalar as written (``command: true``)."""
    textual = (STD + "str", STD + "int", STD + "float")
    if isinstance(ynode, ScalarNode) and (
        ynode.tag in textual or (literal and ynode.tag == STD + "bool")
    ):
        return str(ynode.value)
    report(ynode, path, f"expected a string, got {describe(ynode)}")
    return None


def string_list(ynode: YamlNode, path: str, what: str, report: Report) -> tuple[str, ...]:
    if not isinstance(ynode, SequenceNode):
        report(ynode, path, f"expected a list of {what}, got {describe(ynode)}")
        return ()
    items = []
    for i, item in enumerate(ynode.value):
        if isinstance(item, ScalarNode) and item.tag != STD + "null":
            items.append(str(item.value))  # as written: `yes` stays "yes", 1.0 stays "1.0"
        else:
            report(item, f"{path}[{i}]", f"expected a string or number, got {describe(item)}")
    return tuple(items)


def env(ynode: YamlNode, path: str, report: Report) -> dict[str, str]:
    if not isinstance(ynode, MappingNode):
        report(
            ynode,
            path,
            f"expected a mapping of variable names to strings, got {describe(ynode)}",
        )
        return {}
    env: dict[str, str] = {}
    for key, value in ynode.value:
        name = key.value if isinstance(key, ScalarNode) else None
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            report(key, path, f"expected a variable name, got {describe(key)}")
            continue
        where = f"{path}.{name}"
        if isinstance(value, ScalarNode) and value.tag == STD + "bool":
            report(value, where, f"expected a string, got a boolean (quote it: '{value.value}')")
        elif isinstance(value, ScalarNode) and value.tag == STD + "null":
            report(value, where, "expected a string, got nothing (null); write '' for empty")
        elif (text := string(value, where, report)) is not None:
            env[name] = text
    return env


def timeout(ynode: YamlNode, path: str, report: Report) -> float | None:
    value = number(ynode)
    # Capped: the event loop cannot schedule a timer centuries away.
    if value is None or not 0 < value <= MAX_TIMEOUT_S:
        most = f" and <= {MAX_TIMEOUT_S:g}" if value is not None and value > 0 else ""
        report(ynode, path, f"expected a number of seconds > 0{most}, got {describe(ynode)}")
        return None
    return value


def repeats(ynode: YamlNode, path: str, report: Report) -> int:
    expected = "an integer >= 0"
    if isinstance(ynode, ScalarNode) and ynode.tag == STD + "int":
        value = construct(ynode) if len(ynode.value) < 30 else MAX_COUNT + 1
        if isinstance(value, int) and 0 <= value <= MAX_COUNT:
            return value
        if isinstance(value, int) and value > MAX_COUNT:
            expected = f"an integer >= 0 and <= {MAX_COUNT:,}"
    report(ynode, path, f"expected {expected}, got {describe(ynode)}")
    return 0


def depends(ynode: YamlNode, path: str, kind: str, report: Report, at: At) -> list[Dependency]:
    if isinstance(ynode, ScalarNode) and ynode.tag == STD + "str":
        return [Dependency(kind=kind, name=ynode.value, at=at(ynode, path))]
    if not isinstance(ynode, SequenceNode):
        report(ynode, path, f"expected a list of job names, got {describe(ynode)}")
        return []
    found = []
    for i, item in enumerate(ynode.value):
        where = f"{path}[{i}]"
        if isinstance(item, ScalarNode) and item.tag == STD + "str" and item.value:
            found.append(Dependency(kind=kind, name=item.value, at=at(item, where)))
        else:
            report(item, where, f"expected a job name, got {describe(item)}")
    return found
