"""Composed YAML nodes in the words problems use: what kind of node was written, its
values as written, its number, and the nearest known word to a typo.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.nodes import Node as YamlNode

__all__ = ["STD", "construct", "describe", "number", "show", "suggest"]

STD = "tag:yaml.org,2002:"  # prefix of the standard tags the composer resolves
_scalars = SafeConstructor()


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def describe(node: YamlNode) -> str:
    """What ``node`` is, for "got ..." in a message: ``a mapping``, ``a number (3)``."""
    if isinstance(node, ScalarNode) and node.tag.startswith("!"):
        return f"{node.tag} '{_short(node.value)}' (a tag where none belongs)"
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == STD + "null":
        return "nothing (null)"
    if node.tag == STD + "bool":
        return f"a boolean ({node.value})"
    if node.tag in (STD + "int", STD + "float"):
        return f"a number ({_short(node.value)})"
    return f"a string '{_short(node.value)}'"


def _short(value: str) -> str:
    """A value as written, cut short: a message must not repeat 5,000 digits."""
    return value if len(value) <= 40 else f"{value[:30]}... ({len(value):,} characters)"


def show(values: list[YamlNode]) -> str:
    """A tag's arguments as written: ``[4, GB]``."""
    shown = [_short(str(v.value)) if isinstance(v, ScalarNode) else describe(v) for v in values]
    return "[" + ", ".join(shown) + "]"


def construct(ynode: ScalarNode) -> Any:
    """The Python value of a standard scalar (``0x10`` is 16, ``1_000`` is 1000)."""
    return _scalars.construct_object(ynode)


def number(ynode: YamlNode) -> float | None:
    """The number ``ynode`` holds, quoted or not; None if it holds none."""
    if isinstance(ynode, ScalarNode) and ynode.tag in (STD + "int", STD + "float"):
        try:
            return float(construct(ynode))
        except (OverflowError, ValueError):  # too many digits for an int, or for a float
            return math.inf
    if isinstance(ynode, ScalarNode):  # quoted, or the scalar form of a tag: `!Cores 2`
        try:
            return float(ynode.value)
        except ValueError:
            return None
    return None
