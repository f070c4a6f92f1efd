"""How big a spec is before anything is built from it: jobs, group instances, depth.

Aliases let nine lines of YAML describe 10^7 jobs, and an anchor may even contain its own
alias. One pass over the composed YAML, iterative and memoised per node (shared aliases
are counted once, multiplied), finds either before the checker or the planner walk it.
"""

from __future__ import annotations

from dataclasses import dataclass

from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.nodes import Node as YamlNode

from gator_nb.spec.nodes import STD

__all__ = ["MAX_DEPTH", "MAX_JOBS", "MAX_SPEC_BYTES", "Size", "measure", "refusal"]

MAX_JOBS = 1_000_000  # default limit on jobs (and on group instances) of one plan
MAX_DEPTH = 100  # groups nested in groups; far beyond any real flow
MAX_SPEC_BYTES = 32 << 20  # a 10,000-job spec written out in full is about 2 MB

_NODE_TAGS = ("!Job", "!JobGroup", "!JobArray")


@dataclass(frozen=True, slots=True)
class Size:
    """What a spec expands to; ``loop`` is a node that contains itself, if any."""

    jobs: int = 0
    groups: int = 0
    depth: int = 0
    deepest: YamlNode | None = None
    loop: YamlNode | None = None


def _children(node: YamlNode) -> list[YamlNode]:
    if node.tag not in _NODE_TAGS or not isinstance(node, MappingNode):
        return []
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.value == "jobs" and isinstance(value, SequenceNode):
            return list(value.value)
    return []


def _repeats(node: YamlNode) -> int:
    """Copies an array makes: ``repeats`` (1 with a ``matrix``) times each matrix list."""
    if node.tag != "!JobArray" or not isinstance(node, MappingNode):
        return 1
    repeats, combinations, has_matrix = None, 1, False
    for key, value in node.value:
        if not isinstance(key, ScalarNode):
            continue
        if key.value == "repeats":
            repeats = _count(value)
        elif key.value == "matrix" and isinstance(value, MappingNode):
            has_matrix = True
            for _, values in value.value:
                combinations *= len(values.value) if isinstance(values, SequenceNode) else 1
    if repeats is None:
        repeats = 1 if has_matrix else 0
    return repeats * combinations


def _count(value: YamlNode) -> int:
    if not isinstance(value, ScalarNode) or value.tag != STD + "int":
        return 0  # the checker reports it
    digits = value.value.replace("_", "").lstrip("+")
    if len(digits) > 30:  # beyond any limit; int() refuses > 4300 digits anyway
        return 10**30
    try:
        return max(int(digits, 0), 0)
    except ValueError:
        return 0


def measure(top: YamlNode) -> Size:
    """Jobs and group instances ``top`` expands to, and its depth; stops at a loop."""
    done: dict[int, tuple[int, int, int, YamlNode]] = {}  # id -> jobs, groups, depth, deepest
    on_path: set[int] = set()  # the nodes being walked: their descendants so far
    stack: list[tuple[YamlNode, bool]] = [(top, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            done[key] = _combine(node, [done[id(c)] for c in _children(node)])
            continue
        if key in done:
            continue
        if key in on_path:
            return Size(loop=node)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in done)
    jobs, groups, depth, deepest = done[id(top)]
    return Size(jobs=jobs, groups=groups, depth=depth, deepest=deepest)


def _combine(
    node: YamlNode, children: list[tuple[int, int, int, YamlNode]]
) -> tuple[int, int, int, YamlNode]:
    if node.tag == "!Job":
        return 1, 0, 0, node
    if node.tag not in _NODE_TAGS:
        return 0, 0, 0, node
    jobs = sum(c[0] for c in children)
    groups = sum(c[1] for c in children)
    depth, deepest = max(((c[2], c[3]) for c in children), default=(0, node), key=lambda c: c[0])
    repeats = _repeats(node)
    if node.tag == "!JobArray":  # the array, then each copy with what is inside it
        return repeats * jobs, 1 + repeats * (1 + groups), depth + 1, deepest
    return jobs, 1 + groups, depth + 1, deepest


def refusal(top: YamlNode, max_jobs: int) -> tuple[YamlNode, str] | None:
    """Why a spec must not be built, and the node to blame; None when it may be."""
    size = measure(top)
    if size.loop is not None:
        return size.loop, "this node contains itself (through an alias)"
    if size.depth > MAX_DEPTH:
        assert size.deepest is not None
        why = f"nested too deeply: {size.depth} levels of groups, expected at most {MAX_DEPTH}"
        return size.deepest, why
    if max(size.jobs, size.groups) > max_jobs:
        what, count = ("jobs", size.jobs) if size.jobs > max_jobs else ("groups", size.groups)
        shown = f"{count:,}" if count < 10**15 else f"about {count:.1e}"
        return top, (
            f"the spec expands to {shown} {what}, more than the limit of {max_jobs:,}"
            " (raise it with --max-jobs N, or max_jobs=N)"
        )
    return None
