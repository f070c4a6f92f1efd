"""The output rules of a spec node, read from composed YAML: ``severity`` (regexes that
set a line's level), ``limits`` (most messages per severity), ``metrics`` (regexes whose
capture is a value) and a job's ``results`` files. Each problem is reported with its node.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.nodes import Node as YamlNode

from gator_nb.spec.model import Location, MetricRule, SeverityRule
from gator_nb.spec.nodes import STD, construct, describe, suggest

__all__ = ["LEVELS", "LIMITED", "METRIC_NAME", "parse_limits", "parse_metrics",
           "parse_results", "parse_severity"]  # fmt: skip

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LIMITED = ("warning", "error", "critical")
METRIC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_MAX_PATTERN = 10_000  # characters: a regex longer than this is not a rule but a mistake

Report = Callable[[YamlNode, str, str], None]  # (node, $.path, message): record a problem
At = Callable[[YamlNode, str], Location]


def _entries(ynode: YamlNode, path: str, report: Report, what: str) -> list[MappingNode]:
    if not isinstance(ynode, SequenceNode):
        report(ynode, path, f"expected a list of {what}, got {describe(ynode)}")
        return []
    found = []
    for i, item in enumerate(ynode.value):
        if isinstance(item, MappingNode):
            found.append(item)
        else:
            report(item, f"{path}[{i}]", f"expected a mapping {what}, got {describe(item)}")
    return found


def _keys(
    ynode: MappingNode, path: str, report: Report, allowed: tuple[str, ...]
) -> dict[str, YamlNode]:
    keys: dict[str, YamlNode] = {}
    for key, value in ynode.value:
        name = key.value if isinstance(key, ScalarNode) else None
        if not isinstance(name, str) or name not in allowed:
            shown = name if isinstance(name, str) else describe(key)
            hint = suggest(shown, allowed) if isinstance(name, str) else ""
            report(key, path, f"unknown key '{shown}'{hint}; expected {', '.join(allowed)}")
        else:
            keys[name] = value
    for name in allowed:
        if name not in keys:
            report(ynode, path, f"missing '{name}'")
    return keys


def _regex(ynode: YamlNode, path: str, report: Report, groups: int | None = None) -> str | None:
    if not isinstance(ynode, ScalarNode) or ynode.tag == STD + "null" or not ynode.value:
        report(ynode, path, f"expected a regular expression, got {describe(ynode)}")
        return None
    text = str(ynode.value)
    if len(text) > _MAX_PATTERN:
        report(ynode, path, f"expected a regular expression of at most {_MAX_PATTERN} characters")
        return None
    try:
        compiled = re.compile(text)
    except (re.error, RecursionError, OverflowError) as exc:
        report(ynode, path, f"bad regular expression {text!r}: {exc}")
        return None
    if groups is not None and compiled.groups != groups:
        report(
            ynode,
            path,
            f"expected a regular expression with exactly one capture group (the value), "
            f"got {compiled.groups} in {text!r}",
        )
        return None
    return text


def parse_severity(ynode: YamlNode, path: str, report: Report, at: At) -> tuple[SeverityRule, ...]:
    """``severity: [{match: REGEX, level: LEVEL}, ...]``."""
    rules = []
    for i, entry in enumerate(_entries(ynode, path, report, "of {match: REGEX, level: LEVEL}")):
        where = f"{path}[{i}]"
        keys = _keys(entry, where, report, ("match", "level"))
        match = _regex(keys["match"], f"{where}.match", report) if "match" in keys else None
        level = None
        if "level" in keys:
            value = keys["level"]
            word = str(value.value).upper() if isinstance(value, ScalarNode) else ""
            if word in LEVELS:
                level = word
            else:
                report(
                    value,
                    f"{where}.level",
                    f"expected one of {', '.join(LEVELS)}, got {describe(value)}",
                )
        if match is not None and level is not None:
            rules.append(SeverityRule(match=match, level=level, at=at(entry, where)))
    return tuple(rules)


def parse_limits(ynode: YamlNode, path: str, report: Report) -> dict[str, int]:
    """``limits: {warning: N, error: N, critical: N}``."""
    if not isinstance(ynode, MappingNode):
        report(ynode, path, f"expected a mapping like {{error: 0}}, got {describe(ynode)}")
        return {}
    limits: dict[str, int] = {}
    for key, value in ynode.value:
        name = key.value if isinstance(key, ScalarNode) else None
        if not isinstance(name, str) or name not in LIMITED:
            shown = name if isinstance(name, str) else describe(key)
            hint = suggest(str(shown), LIMITED)
            report(key, path, f"unknown key '{shown}'{hint}; expected {', '.join(LIMITED)}")
            continue
        number = construct(value) if isinstance(value, ScalarNode) else None
        if value.tag != STD + "int" or not isinstance(number, int) or not 0 <= number < 2**62:
            report(value, f"{path}.{name}", f"expected a whole number >= 0, got {describe(value)}")
            continue
        limits[name] = number
    return limits


def parse_metrics(ynode: YamlNode, path: str, report: Report, at: At) -> tuple[MetricRule, ...]:
    """``metrics: [{name: NAME, match: REGEX}, ...]``, each regex with one capture group."""
    rules = []
    for i, entry in enumerate(_entries(ynode, path, report, "of {name: NAME, match: REGEX}")):
        where = f"{path}[{i}]"
        keys = _keys(entry, where, report, ("name", "match"))
        name = None
        if "name" in keys:
            value = keys["name"]
            if isinstance(value, ScalarNode) and METRIC_NAME.fullmatch(str(value.value)):
                name = str(value.value)
            else:
                report(
                    value,
                    f"{where}.name",
                    f"expected a metric name (letters, digits, '_', '.'), got {describe(value)}",
                )
        match = (
            _regex(keys["match"], f"{where}.match", report, groups=1) if "match" in keys else None
        )
        if name is not None and match is not None:
            rules.append(MetricRule(name=name, match=match, at=at(entry, where)))
    return tuple(rules)


def parse_results(ynode: YamlNode, path: str, report: Report) -> tuple[str, ...]:
    """``results: PATH`` or ``results: [PATH, ...]`` (globs allowed)."""
    items = ynode.value if isinstance(ynode, SequenceNode) else [ynode]
    found = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]" if isinstance(ynode, SequenceNode) else path
        if isinstance(item, ScalarNode) and item.tag == STD + "str" and item.value:
            found.append(str(item.value))
        else:
            report(
                item, where, f"expected a path or glob of a JUnit XML file, got {describe(item)}"
            )
    return tuple(found)
