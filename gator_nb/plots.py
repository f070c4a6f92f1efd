"""Matplotlib figures of a run (the only module that imports matplotlib).

Every function takes DataFrames (never the store), an optional ``ax``, returns the
Figure, and never calls ``plt.show()`` or changes global style.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from matplotlib.figure import Figure

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["RunPlots", "job_resources"]


class _HasFrames(Protocol):
    @property
    def jobs(self) -> pd.DataFrame: ...
    @property
    def resources(self) -> pd.DataFrame: ...


class RunPlots:
    """``run.plot``: each method returns a Figure and takes an optional ``ax``."""

    def __init__(self, run: _HasFrames) -> None:
        self._run = run


def job_resources(samples: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """CPU % and RSS over time of one job's samples (``run.resources`` rows of one job)."""
    if ax is None:
        fig = Figure(figsize=(6, 2.4), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.get_figure()  # type: ignore[assignment]
    elapsed = (samples["time"] - samples["time"].min()).dt.total_seconds() if len(samples) else []
    ax.plot(elapsed, samples["rss"] / 2**20 if len(samples) else [], color="tab:blue", label="RSS")
    ax.set_xlabel("seconds")
    ax.set_ylabel("RSS (MiB)", color="tab:blue")
    cpu = ax.twinx()
    cpu.plot(
        elapsed, samples["cpu_percent"] if len(samples) else [], color="tab:orange", label="CPU"
    )
    cpu.set_ylabel("CPU %", color="tab:orange")
    return fig
