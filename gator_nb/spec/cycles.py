"""Cycles in a plan's wait graph: each distinct loop of waits reported once, at the
dependency that closes it (containment counts: a group waits for its children).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from gator_nb.errors import Problem
from gator_nb.paths import fold
from gator_nb.spec.model import Location

__all__ = ["Waits", "find_cycles"]

# Instance path -> what it waits for, each with the dependency that made it wait
# (None for a group waiting on a child).
Waits = Mapping[str, Sequence[tuple[str, Location | None]]]


def find_cycles(waits: Waits) -> list[Problem]:
    """A problem for each distinct cycle of ``waits`` (array copies of one loop count once)."""
    problems: list[Problem] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: fully explored
    reported: set[str] = set()
    for start in waits:
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[tuple[str, Location | None]]]] = [
            (start, iter(waits[start]))
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
                _report(trail, nxt, at, reported, problems)
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(waits[nxt])))
                trail.append((nxt, at))
    return problems


def _report(
    trail: list[tuple[str, Location | None]],
    back_to: str,
    closing: Location | None,
    reported: set[str],
    problems: list[Problem],
) -> None:
    start = next(i for i, (v, _) in enumerate(trail) if v == back_to)
    loop = trail[start:]
    paths = [v for v, _ in loop] + [back_to]
    signature = " -> ".join(sorted({fold(p) for p in paths}))
    if signature in reported:
        return
    reported.add(signature)
    at = closing or next(a for _, a in reversed(loop) if a is not None)
    shown = " -> ".join(paths)
    problems.append(
        Problem(
            file=at.file,
            line=at.line,
            col=at.col,
            path=at.path,
            message=f"dependency cycle: {shown}",
        )
    )
