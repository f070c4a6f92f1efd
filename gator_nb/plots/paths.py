"""Job paths as the plots pick, order, group and label them (array copies fold into
their array; a shared dotted prefix is dropped from labels).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from gator_nb.paths import COPY_INDEX, jobs_under

__all__ = ["common_prefix", "fold", "group_column", "job_order", "parent", "select"]


def select(frame: pd.DataFrame, paths: str | Iterable[str] | None) -> pd.DataFrame:
    """Rows of these jobs, or of every job under these groups."""
    if paths is None:
        return frame
    wanted = [paths] if isinstance(paths, str) else list(paths)
    chosen = jobs_under(frame["job"].dropna().astype(str).unique(), wanted)
    return frame[frame["job"].isin(chosen).to_numpy(dtype=bool)]


def job_order(samples: pd.DataFrame, job_table: pd.DataFrame | None) -> list[str]:
    """The sampled jobs in spec order (``job_table``'s), unknown ones sorted after."""
    present = pd.unique(samples["job"].astype(object))
    if job_table is None:
        return [str(j) for j in present]
    known = set(present)
    listed = [str(j) for j in job_table["job"].astype(object) if j in known]
    return listed + sorted(str(j) for j in known.difference(listed))


def parent(paths: Sequence[str] | np.ndarray) -> list[str]:
    """Each path's group path, ``(top)`` for a path without one."""
    return [p.rsplit(".", 1)[0] if "." in p else "(top)" for p in paths]


def fold(paths: pd.Series) -> np.ndarray:
    """``top.tests[3]`` -> ``top.tests``: array copies count as their array."""
    folded = paths.astype(object).fillna("(top)").str.replace(COPY_INDEX.pattern, "", regex=True)
    return np.asarray(folded, dtype=object)


def group_column(jobs: pd.DataFrame) -> np.ndarray:
    """Each job's folded group: the ``group`` column, or the parent of its path."""
    group = jobs["group"].astype(object)
    derived = pd.Series(parent(jobs["job"].astype(object).tolist()), index=jobs.index)
    return fold(group.where(group.notna() & (group != ""), derived))


def common_prefix(names: Sequence[str]) -> str:
    """The shared dotted prefix (``regression.``), dropped from labels to save width."""
    if len(names) < 2:
        return names[0].rsplit(".", 1)[0] + "." if names and "." in names[0] else ""
    head = names[0]
    for name in names[1:]:
        while not name.startswith(head):
            head = head[:-1]
    return head[: head.rfind(".") + 1]
