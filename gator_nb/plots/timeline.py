"""The timeline plot: a bar per job from start to end coloured by status, and below it
the number of jobs running over time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from gator_nb.plots.canvas import (
    FOREGROUND,
    LEGEND_ABOVE,
    STATUS_COLOURS,
    NotebookFigure,
    empty,
    finish,
    root,
)
from gator_nb.plots.paths import common_prefix, fold, parent
from gator_nb.plots.scales import seconds, time_unit

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["timeline"]

_MAX_LABELS = 40  # timeline rows labelled one per job up to this many


def timeline(jobs: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """One bar per job from start to end coloured by status, and the number running."""
    count = len(jobs)
    if ax is None:
        height = 2.4 + 0.2 * count if count <= _MAX_LABELS else 7.0
        fig: Figure = NotebookFigure(figsize=(8.0, height), layout="constrained", facecolor="none")
        gantt, busy = fig.subplots(2, 1, sharex=True, height_ratios=[4, 1])
    else:
        fig, gantt = root(ax), ax
        busy = ax.twinx()
    if not jobs["start"].notna().any():
        busy.set_visible(False)
        return empty(fig, gantt, "no job has started")
    now = pd.Timestamp.now(tz="UTC")
    origin = jobs["start"].min()
    begin = seconds(jobs["start"], origin)
    end = seconds(jobs["end"].fillna(now).where(jobs["start"].notna()), origin)
    t_div, t_unit = time_unit(float(np.nanmax(end)))
    begin, end = begin / t_div, end / t_div
    status = jobs["status"].astype(object).fillna("pending").to_numpy()
    _bars(gantt, begin, end, status)
    _unstarted(gantt, jobs, origin, t_div)
    _row_labels(gantt, jobs)
    _running(busy, begin, end, filled=ax is None)
    gantt.set_xlim(left=0)
    gantt.grid(axis="x", color=FOREGROUND, alpha=0.2, linewidth=0.5)
    (busy if ax is None else gantt).set_xlabel(f"time since start ({t_unit})")
    _status_legend(gantt, status)
    return finish(fig, gantt) if ax is None else fig


def _bars(ax: Axes, begin: np.ndarray, end: np.ndarray, status: np.ndarray) -> None:
    rows = np.flatnonzero(~np.isnan(begin))
    x0 = begin[rows]
    # A minimum width keeps instant jobs visible on a long run.
    x1 = np.maximum(end[rows], x0 + max(float(np.nanmax(end)), 1e-9) * 0.002)
    y0, y1 = rows - 0.4, rows + 0.4
    verts = np.stack([np.column_stack(p) for p in ((x0, y0), (x0, y1), (x1, y1), (x1, y0))], 1)
    colours = [STATUS_COLOURS.get(s, FOREGROUND) for s in status[rows]]
    # One collection for every bar: thousands of broken_barh/barh calls would not scale.
    ax.add_collection(PolyCollection(list(verts), facecolors=colours, edgecolors="none"))
    ax.autoscale_view()


def _unstarted(ax: Axes, jobs: pd.DataFrame, origin: pd.Timestamp, t_div: float) -> None:
    """Skipped or cancelled jobs that never started: a cross where they were decided."""
    rows = np.flatnonzero((jobs["start"].isna() & jobs["end"].notna()).to_numpy())
    if len(rows):
        x = seconds(jobs["end"].iloc[rows], origin) / t_div
        colours = [STATUS_COLOURS.get(str(s), FOREGROUND) for s in jobs["status"].iloc[rows]]
        ax.scatter(x, rows, marker="x", c=colours, s=16, linewidths=1)


def _row_labels(ax: Axes, jobs: pd.DataFrame) -> None:
    names = jobs["job"].astype(object).tolist()
    ax.set_ylim(len(names) - 0.5, -0.5)
    if len(names) <= _MAX_LABELS:
        prefix = common_prefix(names)
        ax.set_yticks(range(len(names)), [n[len(prefix) :] for n in names], fontsize="small")
        return
    # Many jobs: label where each (folded) group starts, if that stays legible.
    folded = fold(pd.Series(parent(np.array(names, dtype=object)), dtype=object))
    starts = np.flatnonzero(np.r_[True, folded[1:] != folded[:-1]])
    if len(starts) <= _MAX_LABELS:
        ax.set_yticks(starts, [folded[i] for i in starts], fontsize="small")
    ax.set_ylabel(f"{len(names)} jobs in spec order")


def _running(ax: Axes, begin: np.ndarray, end: np.ndarray, *, filled: bool) -> None:
    started = ~np.isnan(begin)
    times = np.r_[begin[started], end[started]]
    steps = np.r_[np.ones(started.sum()), -np.ones(started.sum())]
    order = np.argsort(times, kind="stable")
    times, level = times[order], np.cumsum(steps[order])
    new = _instants(times, max(float(times[-1]), 1e-9) / 1000)
    last = np.r_[new[1:], True]  # each instant shows the level after its last event
    ax.stairs(
        level[last][:-1],
        times[new],
        fill=filled,
        color=STATUS_COLOURS["running"],
        alpha=0.6 if filled else 0.9,
        label="running",
    )
    ax.set_ylim(bottom=0)
    ax.set_ylabel("running")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))


def _instants(times: np.ndarray, width: float) -> np.ndarray:
    """Mark the first of each run of sorted ``times`` that lie within ``width`` of it.

    A job ending 1 ms before the next starts is neither a dip nor a peak. Each instant is
    measured from its first event, so a steady stream of events does not chain into one.
    """
    first = np.zeros(len(times), dtype=bool)
    anchor = -np.inf
    for index, time in enumerate(times.tolist()):
        if time - anchor >= width:
            first[index], anchor = True, time
    return first


def _status_legend(ax: Axes, status: np.ndarray) -> None:
    counts = pd.Series(status).value_counts()
    handles = [
        Patch(color=colour, label=f"{name} ({counts[name]})")
        for name, colour in STATUS_COLOURS.items()
        if name in counts
    ]
    ax.legend(handles=handles, ncols=len(handles), **LEGEND_ABOVE)
