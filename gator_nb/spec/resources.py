"""The ``resources:`` list of a spec node: ``!Cores [N]``, ``!Memory [N, UNIT]`` and
``!License [NAME, N]`` read from composed YAML, each problem reported with its node.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from yaml.nodes import Node as YamlNode
from yaml.nodes import ScalarNode, SequenceNode

from gator_nb.spec.model import Cores, License, Memory, Resource
from gator_nb.spec.nodes import STD, describe, number, show, suggest

__all__ = ["MEMORY_UNITS", "RESOURCE_TAGS", "Report", "parse_resources"]

MEMORY_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
RESOURCE_TAGS = ("!Cores", "!Memory", "!License")
_MAX_COUNT = 1_000_000  # cores or seats: more than any machine or licence server has
_MAX_MEMORY = 1 << 60  # 1 EB; the store keeps sizes as 64-bit integers

Report = Callable[[YamlNode, str, str], None]  # (node, $.path, message): record a problem


def parse_resources(ynode: YamlNode, path: str, report: Report) -> tuple[Resource, ...]:
    """The resources listed at ``path``; each bad entry is reported and left out."""
    if not isinstance(ynode, SequenceNode):
        report(
            ynode, path, f"expected a list of !Cores, !Memory or !License, got {describe(ynode)}"
        )
        return ()
    found: list[Resource] = []
    for i, item in enumerate(ynode.value):
        resource = _resource(item, f"{path}[{i}]", report)
        if resource is not None:
            found.append(resource)
    return tuple(found)


def _resource(ynode: YamlNode, path: str, report: Report) -> Resource | None:
    makers: dict[str, Callable[[YamlNode, list[YamlNode], str, Report], Resource | None]] = {
        "!Cores": _cores,
        "!Memory": _memory,
        "!License": _license,
    }
    if ynode.tag not in makers:
        hint = suggest(ynode.tag, RESOURCE_TAGS) if ynode.tag.startswith("!") else ""
        got = f"tag '{ynode.tag}'{hint}" if ynode.tag.startswith("!") else describe(ynode)
        report(ynode, path, f"expected !Cores, !Memory or !License, got {got}")
        return None
    if isinstance(ynode, SequenceNode):
        values = list(ynode.value)
    elif isinstance(ynode, ScalarNode):
        values = [ynode] if ynode.value != "" else []
    else:
        report(ynode, path, f"expected {ynode.tag} [...], got a mapping")
        return None
    return makers[ynode.tag](ynode, values, path, report)


def _cores(ynode: YamlNode, values: list[YamlNode], path: str, report: Report) -> Resource | None:
    count = number(values[0]) if len(values) == 1 else None
    if count is not None and count > _MAX_COUNT:  # inf too: more digits than a float holds
        report(ynode, path, f"!Cores expects at most {_MAX_COUNT:,}, got {show(values)}")
        return None
    if count is None or not count.is_integer() or count < 1:
        report(ynode, path, f"!Cores expects [N] with N a whole number >= 1, got {show(values)}")
        return None
    return Cores(count=int(count))


def _memory(ynode: YamlNode, values: list[YamlNode], path: str, report: Report) -> Resource | None:
    if len(values) not in (1, 2):
        report(ynode, path, f"!Memory expects [N, UNIT], got {show(values)}")
        return None
    size = number(values[0])
    unit = (
        str(values[1].value).upper()
        if len(values) == 2 and isinstance(values[1], ScalarNode)
        else "MB"
    )
    if size is None or not size > 0 or math.isinf(size):
        report(ynode, path, f"!Memory expects a size > 0, got {show(values[:1])}")
        return None
    if unit not in MEMORY_UNITS:
        got = values[1].value if isinstance(values[1], ScalarNode) else describe(values[1])
        report(
            values[1],
            path,
            f"!Memory: unknown unit '{got}'{suggest(unit, list(MEMORY_UNITS))}; "
            f"expected one of {', '.join(MEMORY_UNITS)}",
        )
        return None
    if size * MEMORY_UNITS[unit] > _MAX_MEMORY:
        report(ynode, path, f"!Memory expects a size up to 1 EB, got {show(values)}")
        return None
    return Memory(size=int(size * MEMORY_UNITS[unit]))


def _license(ynode: YamlNode, values: list[YamlNode], path: str, report: Report) -> Resource | None:
    name = values[0] if values else None
    if not isinstance(name, ScalarNode) or name.tag != STD + "str" or len(values) > 2:
        report(ynode, path, f"!License expects [NAME, N], got {show(values)}")
        return None
    count = number(values[1]) if len(values) == 2 else 1.0
    if count is not None and count > _MAX_COUNT:
        report(ynode, path, f"!License expects at most {_MAX_COUNT:,} seats, got {show(values)}")
        return None
    if count is None or not count.is_integer() or count < 1:
        report(ynode, path, f"!License expects a whole count >= 1, got {show(values[1:])}")
        return None
    return License(name=str(name.value), count=int(count))
