"""Matplotlib figures of a run (the only package that imports matplotlib), and ``run.plot``.

Every function takes DataFrames (never the store), an optional ``ax``, returns the
Figure, and never calls ``plt.show()`` or changes global style.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, Protocol

from gator_nb.plots.canvas import STATUS_COLOURS
from gator_nb.plots.outcomes import peak_memory, summary
from gator_nb.plots.timeline import timeline
from gator_nb.plots.usage import MAX_JOB_LINES, job_resources, resources

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "MAX_JOB_LINES",
    "STATUS_COLOURS",
    "RunPlots",
    "job_resources",
    "peak_memory",
    "resources",
    "summary",
    "timeline",
]


class _HasFrames(Protocol):
    @property
    def jobs(self) -> pd.DataFrame: ...
    @property
    def resources(self) -> pd.DataFrame: ...


class RunPlots:
    """``run.plot``: each method returns a Figure and takes an optional ``ax``."""

    def __init__(self, run: _HasFrames) -> None:
        self._run = run

    def resources(
        self,
        jobs: str | Iterable[str] | None = None,
        metric: str = "rss",
        *,
        by: Literal["auto", "job", "group"] = "auto",
        ax: Axes | None = None,
    ) -> Figure:
        """``metric`` over time: a line per job, or stacked sums per group above 30 jobs.

        ``jobs`` keeps only these job paths, or every job under these group paths.
        """
        return resources(
            self._run.resources, self._run.jobs, jobs=jobs, metric=metric, by=by, ax=ax
        )

    def timeline(self, ax: Axes | None = None) -> Figure:
        """Gantt chart of jobs coloured by status, with the number running over time."""
        return timeline(self._run.jobs, ax=ax)

    def summary(self, ax: Axes | None = None) -> Figure:
        """Jobs per status per group (array copies folded into their array)."""
        return summary(self._run.jobs, ax=ax)

    def peak_memory(
        self, ax: Axes | None = None, *, by: Literal["group", "job"] = "group"
    ) -> Figure:
        """Peak RSS per group (or per job, array copies together) against ``!Memory``."""
        return peak_memory(self._run.jobs, by=by, ax=ax)
