"""Job paths (``top.tests[3].sim``): what is under what, and array copies folded into
their array. Pure string logic, once for the planner, the store, triage and the plots.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

__all__ = ["COPY_INDEX", "ancestors", "fold", "is_under", "jobs_under"]

# The index of an array copy in a path; plots use its pattern with pandas' str.replace.
COPY_INDEX = re.compile(r"\[\d+\]")


def fold(path: str) -> str:
    """``top.tests[3].sim`` -> ``top.tests.sim``: every copy counts as its array."""
    return COPY_INDEX.sub("", path)


def is_under(job: str, path: str) -> bool:
    """True when ``job`` is ``path`` or lies inside the group, array or copy ``path``."""
    return job == path or job.startswith((path + ".", path + "["))


def jobs_under(jobs: Iterable[str], targets: Iterable[str]) -> set[str]:
    """The jobs that are, or lie inside, any of ``targets``."""
    wanted = tuple(targets)
    return {job for job in jobs if any(is_under(job, target) for target in wanted)}


def ancestors(path: str) -> Iterator[str]:
    """The groups above ``path``, nearest first: ``a.b[1].c`` -> ``a.b[1]``, ``a.b``, ``a``."""
    while True:
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            return
        path = path[:cut]
        yield path
