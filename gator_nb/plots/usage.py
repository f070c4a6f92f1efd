"""Resource plots: a metric over time for many jobs (a line each, or stacked per group),
and CPU and RSS of one job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection

from gator_nb.paths import COPY_INDEX
from gator_nb.plots.canvas import (
    FOREGROUND,
    LEGEND_RIGHT,
    PALETTE,
    STATUS_COLOURS,
    NotebookFigure,
    canvas,
    empty,
    finish,
    paint,
)
from gator_nb.plots.paths import common_prefix, job_order, parent, select
from gator_nb.plots.scales import bytes_unit, origin, seconds, time_unit

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["MAX_JOB_LINES", "job_resources", "resources"]

_METRICS = {  # column -> (axis label, measured in bytes)
    "rss": ("RSS", True),
    "vms": ("VMS", True),
    "cpu_percent": ("CPU %", False),
    "num_procs": ("processes", False),
    "read_bytes": ("read", True),
    "write_bytes": ("written", True),
}
MAX_JOB_LINES = 30  # above this, resources() sums jobs per group instead of one line each
_AREAS = 9  # stacked groups in resources(by="group"); smaller ones become "other"
_GRID = 400  # time points of the common grid for stacked areas


def resources(
    samples: pd.DataFrame,
    job_table: pd.DataFrame | None = None,
    *,
    jobs: str | Iterable[str] | None = None,
    metric: str = "rss",
    by: Literal["auto", "job", "group"] = "auto",
    ax: Axes | None = None,
) -> Figure:
    """``run.resources`` over time; ``job_table`` (``run.jobs``) gives order and end times."""
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {', '.join(_METRICS)}, not {metric!r}")
    if by not in ("auto", "job", "group"):
        raise ValueError(f"by must be 'auto', 'job' or 'group', not {by!r}")
    samples = select(samples, jobs)
    if job_table is not None:
        job_table = select(job_table, jobs)
        if jobs is not None and job_table.empty:
            raise ValueError(f"no job matches {jobs!r}")
    fig, ax = canvas(ax, (8.0, 3.6))
    count = samples["job"].nunique()
    if count == 0:
        if metric == "rss" and job_table is not None and job_table["peak_rss"].notna().any():
            return _peaks_only(fig, ax, job_table)
        return empty(fig, ax, "no resource samples")
    name, in_bytes = _METRICS[metric]
    divisor, unit = bytes_unit(float(samples[metric].max())) if in_bytes else (1.0, "")
    start = origin(samples["time"], None if job_table is None else job_table["start"])
    span = seconds(samples["time"], start).max()
    t_div, t_unit = time_unit(span)
    if by == "auto":
        by = "job" if count <= MAX_JOB_LINES else "group"
    if by == "job":
        _job_lines(ax, samples, job_table, metric, (start, t_div), divisor)
        ax.set_ylabel(f"{name} ({unit})" if unit else name)
    else:
        _group_areas(ax, samples, job_table, metric, (start, t_div), divisor)
        ax.set_ylabel(f"{name} ({unit}), stacked by group" if unit else f"{name}, stacked")
    ax.set_xlabel(f"time since start ({t_unit})")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(color=FOREGROUND, alpha=0.2, linewidth=0.5)
    return finish(fig, ax)


def _peaks_only(fig: Figure, ax: Axes, job_table: pd.DataFrame) -> Figure:
    """Each job's peak RSS as a bar over its run time: what is known when no sample was taken."""
    table = job_table.dropna(subset=["peak_rss", "start"])
    divisor, unit = bytes_unit(float(table["peak_rss"].max()))
    start = origin(table["start"], None)
    ends = table["end"].fillna(table["start"])
    x0, x1 = seconds(table["start"], start), seconds(ends, start)
    t_div, t_unit = time_unit(float(max(x1.max(), 1e-3)))
    peaks = table["peak_rss"].to_numpy(dtype=float) / divisor
    colour = STATUS_COLOURS["running"]
    ax.hlines(peaks, x0 / t_div, np.maximum(x1, x0) / t_div, colors=colour, linewidth=2.5)
    ax.plot(x0 / t_div, peaks, "|", color=colour, markersize=8)
    ax.set_xlabel(f"time since start ({t_unit})")
    ax.set_ylabel(f"peak RSS ({unit})")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0, top=float(peaks.max()) * 1.25)
    ax.grid(color=FOREGROUND, alpha=0.2, linewidth=0.5)
    note = f"no samples: {len(table)} job(s) ended before the first; their peak RSS is shown"
    ax.text(0.01, 0.97, note, ha="left", va="top", transform=ax.transAxes, fontsize=8)
    return finish(fig, ax)


def _job_lines(
    ax: Axes,
    samples: pd.DataFrame,
    job_table: pd.DataFrame | None,
    metric: str,
    clock: tuple[pd.Timestamp, float],
    divisor: float,
) -> None:
    ordered = job_order(samples, job_table)
    frame = samples.assign(_x=seconds(samples["time"], clock[0]) / clock[1])
    frame = frame.sort_values("time", kind="stable")
    parts = dict(list(frame.groupby("job", sort=False, observed=True)))
    if len(ordered) > MAX_JOB_LINES:
        # One artist for thousands of jobs: drawing 5,000 Line2Ds takes seconds.
        segments = [np.column_stack([parts[j]["_x"], parts[j][metric] / divisor]) for j in ordered]
        ax.add_collection(LineCollection(segments, colors=PALETTE[0], alpha=0.3, linewidths=0.6))
        ax.autoscale_view()
        return
    prefix = common_prefix(ordered)
    for index, job in enumerate(ordered):
        part = parts[job]
        colour = PALETTE[index % len(PALETTE)]
        style = "-" if index < len(PALETTE) else "--"
        ax.plot(
            part["_x"],
            part[metric] / divisor,
            style,
            color=colour,
            marker=".",
            markersize=3,
            linewidth=1.2,
            label=job[len(prefix) :],
        )
    ax.legend(
        title=prefix.rstrip(".") or None, ncols=1 if len(ordered) <= 15 else 2, **LEGEND_RIGHT
    )


def _group_areas(
    ax: Axes,
    samples: pd.DataFrame,
    job_table: pd.DataFrame | None,
    metric: str,
    clock: tuple[pd.Timestamp, float],
    divisor: float,
) -> None:
    grid, names, matrix = _group_matrix(samples, job_table, metric, clock[0])
    rank = np.argsort(-matrix.sum(axis=1), kind="stable")
    keep = np.sort(rank[:_AREAS]) if len(names) > _AREAS + 1 else np.arange(len(names))
    labels = [names[i] for i in keep]
    rows = [matrix[i] for i in keep]
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(keep))]
    if len(keep) < len(names):
        rest = np.setdiff1d(np.arange(len(names)), keep)
        labels.append(f"other ({len(rest)} groups)")
        rows.append(matrix[rest].sum(axis=0))
        colours.append(STATUS_COLOURS["skipped"])
    ax.stackplot(
        grid / clock[1],
        np.vstack(rows) / divisor,
        labels=labels,
        colors=colours,
        alpha=0.85,
        linewidth=0,
    )
    handles, texts = ax.get_legend_handles_labels()
    # Reversed so the legend reads top to bottom like the stack.
    ax.legend(handles[::-1], texts[::-1], **LEGEND_RIGHT)


def _group_matrix(
    samples: pd.DataFrame, job_table: pd.DataFrame | None, metric: str, start: pd.Timestamp
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Sum of ``metric`` per folded group on a common time grid, without a loop over jobs.

    A sample holds its value until the job's next sample, the last one until the job
    ends; each change becomes a +/- delta at its time, binned and summed cumulatively.
    """
    frame = samples.sort_values(["job", "time"], kind="stable")
    job = frame["job"].astype(object).to_numpy()
    t = seconds(frame["time"], start)
    value = frame[metric].to_numpy(dtype=float)
    first = np.r_[True, job[1:] != job[:-1]]
    last = np.r_[job[1:] != job[:-1], True]
    delta = value - np.where(first, 0.0, np.r_[0.0, value[:-1]])
    stop = t[last]
    if job_table is not None:
        ends = seconds(job_table["end"], start)
        known = dict(zip(job_table["job"].astype(object), ends, strict=True))
        stop = np.array([known.get(j, np.nan) for j in job[last]], dtype=float)
        stop = np.where(np.isnan(stop), t.max(), np.maximum(stop, t[last]))
    groups = pd.Series(parent(job), dtype=object).str.replace(COPY_INDEX.pattern, "", regex=True)
    codes, names = pd.factorize(groups)
    grid = np.linspace(0.0, max(float(stop.max()), float(t.max()), 1e-9), _GRID)
    at = np.searchsorted(grid, np.r_[t, stop], side="left")
    matrix = np.zeros((len(names), _GRID + 1))
    np.add.at(matrix, (np.r_[codes, codes[last]], at), np.r_[delta, -value[last]])
    sums = np.clip(np.cumsum(matrix[:, :_GRID], axis=1), 0.0, None)
    return grid, [str(n) for n in names], sums


def job_resources(samples: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """CPU % and RSS over time of one job's samples (``run.resources`` rows of one job)."""
    fig, ax = canvas(ax, (6.0, 2.4))
    if not len(samples):
        return empty(fig, ax, "no resource samples")
    elapsed = (samples["time"] - samples["time"].min()).dt.total_seconds() if len(samples) else []
    ax.plot(elapsed, samples["rss"] / 2**20 if len(samples) else [], color="tab:blue", label="RSS")
    ax.set_xlabel("seconds")
    ax.set_ylabel("RSS (MiB)", color="tab:blue")
    cpu = ax.twinx()
    cpu.plot(
        elapsed, samples["cpu_percent"] if len(samples) else [], color="tab:orange", label="CPU"
    )
    cpu.set_ylabel("CPU %", color="tab:orange")
    if isinstance(fig, NotebookFigure):
        paint(fig)
        ax.yaxis.label.set_color("tab:blue")
        cpu.yaxis.label.set_color("tab:orange")
    return fig
