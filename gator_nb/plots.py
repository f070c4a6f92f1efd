"""Matplotlib figures of a run (the only module that imports matplotlib).

Every function takes DataFrames (never the store), an optional ``ax``, returns the
Figure, and never calls ``plt.show()`` or changes global style.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.legend import Legend

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

# Mid grey: about 4.5:1 contrast on white and on black, so axes read in light and dark
# notebook themes without knowing which one is showing (the figure is transparent).
_FG = "#767676"
# Mid-luminance hues that keep their meaning on both backgrounds.
STATUS_COLOURS = {
    "passed": "#2da44e",
    "failed": "#e5534b",
    "cancelled": "#d4a72c",
    "skipped": "#8c959f",
    "running": "#4493f8",
    "pending": "#a8b1bb",
}
_REQUEST = "#d4a72c"
# tab10 without its grey, which stands for "skipped" and "other".
_PALETTE = [
    f"tab:{name}"
    for name in ("blue", "orange", "green", "red", "purple", "brown", "pink", "olive", "cyan")
]
_METRICS = {  # column -> (axis label, measured in bytes)
    "rss": ("RSS", True),
    "vms": ("VMS", True),
    "cpu_percent": ("CPU %", False),
    "num_procs": ("processes", False),
    "read_bytes": ("read", True),
    "write_bytes": ("written", True),
}
MAX_JOB_LINES = 30  # above this, resources() sums jobs per group instead of one line each
_MAX_ROWS = 30  # groups shown by summary() and peak_memory(); the rest are folded together
_MAX_LABELS = 40  # timeline rows labelled one per job up to this many
_AREAS = 9  # stacked groups in resources(by="group"); smaller ones become "other"
_GRID = 400  # time points of the common grid for stacked areas
_ABOVE: dict[str, Any] = {  # legends in one row above the axes, clear of the data
    "loc": "lower left",
    "bbox_to_anchor": (0, 1),
    "fontsize": "small",
    "frameon": False,
    "borderaxespad": 0.2,
}
_RIGHT: dict[str, Any] = {
    "loc": "upper left",
    "bbox_to_anchor": (1.01, 1),
    "fontsize": "small",
    "frameon": False,
}


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


class _Figure(Figure):
    """A Figure that shows itself in a notebook even if pyplot was never imported.

    IPython registers its Figure formatter only when pyplot loads the inline backend;
    without that a bare Figure displays as ``<Figure size ...>``.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


# -- resources ---------------------------------------------------------------------------


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
    samples = _select(samples, jobs)
    if job_table is not None:
        job_table = _select(job_table, jobs)
        if jobs is not None and job_table.empty:
            raise ValueError(f"no job matches {jobs!r}")
    fig, ax = _canvas(ax, (8.0, 3.6))
    count = samples["job"].nunique()
    if count == 0:
        return _empty(fig, ax, "no resource samples")
    name, in_bytes = _METRICS[metric]
    divisor, unit = _bytes_unit(float(samples[metric].max())) if in_bytes else (1.0, "")
    origin = _origin(samples["time"], None if job_table is None else job_table["start"])
    span = _seconds(samples["time"], origin).max()
    t_div, t_unit = _time_unit(span)
    if by == "auto":
        by = "job" if count <= MAX_JOB_LINES else "group"
    if by == "job":
        _job_lines(ax, samples, job_table, metric, (origin, t_div), divisor)
        ax.set_ylabel(f"{name} ({unit})" if unit else name)
    else:
        _group_areas(ax, samples, job_table, metric, (origin, t_div), divisor)
        ax.set_ylabel(f"{name} ({unit}), stacked by group" if unit else f"{name}, stacked")
    ax.set_xlabel(f"time since start ({t_unit})")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(color=_FG, alpha=0.2, linewidth=0.5)
    return _finish(fig, ax)


def _job_lines(
    ax: Axes,
    samples: pd.DataFrame,
    job_table: pd.DataFrame | None,
    metric: str,
    clock: tuple[pd.Timestamp, float],
    divisor: float,
) -> None:
    ordered = _job_order(samples, job_table)
    frame = samples.assign(_x=_seconds(samples["time"], clock[0]) / clock[1])
    frame = frame.sort_values("time", kind="stable")
    parts = dict(list(frame.groupby("job", sort=False, observed=True)))
    if len(ordered) > MAX_JOB_LINES:
        # One artist for thousands of jobs: drawing 5,000 Line2Ds takes seconds.
        segments = [np.column_stack([parts[j]["_x"], parts[j][metric] / divisor]) for j in ordered]
        ax.add_collection(LineCollection(segments, colors=_PALETTE[0], alpha=0.3, linewidths=0.6))
        ax.autoscale_view()
        return
    prefix = _common_prefix(ordered)
    for index, job in enumerate(ordered):
        part = parts[job]
        colour = _PALETTE[index % len(_PALETTE)]
        style = "-" if index < len(_PALETTE) else "--"
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
    ax.legend(title=prefix.rstrip(".") or None, ncols=1 if len(ordered) <= 15 else 2, **_RIGHT)


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
    colours = [_PALETTE[i % len(_PALETTE)] for i in range(len(keep))]
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
    ax.legend(handles[::-1], texts[::-1], **_RIGHT)


def _group_matrix(
    samples: pd.DataFrame, job_table: pd.DataFrame | None, metric: str, origin: pd.Timestamp
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Sum of ``metric`` per folded group on a common time grid, without a loop over jobs.

    A sample holds its value until the job's next sample, the last one until the job
    ends; each change becomes a +/- delta at its time, binned and summed cumulatively.
    """
    frame = samples.sort_values(["job", "time"], kind="stable")
    job = frame["job"].astype(object).to_numpy()
    t = _seconds(frame["time"], origin)
    value = frame[metric].to_numpy(dtype=float)
    first = np.r_[True, job[1:] != job[:-1]]
    last = np.r_[job[1:] != job[:-1], True]
    delta = value - np.where(first, 0.0, np.r_[0.0, value[:-1]])
    stop = t[last]
    if job_table is not None:
        ends = _seconds(job_table["end"], origin)
        known = dict(zip(job_table["job"].astype(object), ends, strict=True))
        stop = np.array([known.get(j, np.nan) for j in job[last]], dtype=float)
        stop = np.where(np.isnan(stop), t.max(), np.maximum(stop, t[last]))
    groups = pd.Series(_parent(job), dtype=object).str.replace(r"\[\d+\]", "", regex=True)
    codes, names = pd.factorize(groups)
    grid = np.linspace(0.0, max(float(stop.max()), float(t.max()), 1e-9), _GRID)
    at = np.searchsorted(grid, np.r_[t, stop], side="left")
    matrix = np.zeros((len(names), _GRID + 1))
    np.add.at(matrix, (np.r_[codes, codes[last]], at), np.r_[delta, -value[last]])
    sums = np.clip(np.cumsum(matrix[:, :_GRID], axis=1), 0.0, None)
    return grid, [str(n) for n in names], sums


# -- timeline ----------------------------------------------------------------------------


def timeline(jobs: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """One bar per job from start to end coloured by status, and the number running."""
    count = len(jobs)
    if ax is None:
        height = 2.4 + 0.2 * count if count <= _MAX_LABELS else 7.0
        fig: Figure = _Figure(figsize=(8.0, height), layout="constrained", facecolor="none")
        gantt, busy = fig.subplots(2, 1, sharex=True, height_ratios=[4, 1])
    else:
        fig, gantt = _root(ax), ax
        busy = ax.twinx()
    if not jobs["start"].notna().any():
        busy.set_visible(False)
        return _empty(fig, gantt, "no job has started")
    now = pd.Timestamp.now(tz="UTC")
    origin = jobs["start"].min()
    begin = _seconds(jobs["start"], origin)
    end = _seconds(jobs["end"].fillna(now).where(jobs["start"].notna()), origin)
    t_div, t_unit = _time_unit(float(np.nanmax(end)))
    begin, end = begin / t_div, end / t_div
    status = jobs["status"].astype(object).fillna("pending").to_numpy()
    _bars(gantt, begin, end, status)
    _unstarted(gantt, jobs, origin, t_div)
    _row_labels(gantt, jobs)
    _running(busy, begin, end, filled=ax is None)
    gantt.set_xlim(left=0)
    gantt.grid(axis="x", color=_FG, alpha=0.2, linewidth=0.5)
    (busy if ax is None else gantt).set_xlabel(f"time since start ({t_unit})")
    _status_legend(gantt, status)
    return _finish(fig, gantt) if ax is None else fig


def _bars(ax: Axes, begin: np.ndarray, end: np.ndarray, status: np.ndarray) -> None:
    rows = np.flatnonzero(~np.isnan(begin))
    x0 = begin[rows]
    # A minimum width keeps instant jobs visible on a long run.
    x1 = np.maximum(end[rows], x0 + max(float(np.nanmax(end)), 1e-9) * 0.002)
    y0, y1 = rows - 0.4, rows + 0.4
    verts = np.stack([np.column_stack(p) for p in ((x0, y0), (x0, y1), (x1, y1), (x1, y0))], 1)
    colours = [STATUS_COLOURS.get(s, _FG) for s in status[rows]]
    # One collection for every bar: thousands of broken_barh/barh calls would not scale.
    ax.add_collection(PolyCollection(list(verts), facecolors=colours, edgecolors="none"))
    ax.autoscale_view()


def _unstarted(ax: Axes, jobs: pd.DataFrame, origin: pd.Timestamp, t_div: float) -> None:
    """Skipped or cancelled jobs that never started: a cross where they were decided."""
    rows = np.flatnonzero((jobs["start"].isna() & jobs["end"].notna()).to_numpy())
    if len(rows):
        x = _seconds(jobs["end"].iloc[rows], origin) / t_div
        colours = [STATUS_COLOURS.get(str(s), _FG) for s in jobs["status"].iloc[rows]]
        ax.scatter(x, rows, marker="x", c=colours, s=16, linewidths=1)


def _row_labels(ax: Axes, jobs: pd.DataFrame) -> None:
    names = jobs["job"].astype(object).tolist()
    ax.set_ylim(len(names) - 0.5, -0.5)
    if len(names) <= _MAX_LABELS:
        prefix = _common_prefix(names)
        ax.set_yticks(range(len(names)), [n[len(prefix) :] for n in names], fontsize="small")
        return
    # Many jobs: label where each (folded) group starts, if that stays legible.
    folded = _fold(pd.Series(_parent(np.array(names, dtype=object)), dtype=object))
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
    ax.legend(handles=handles, ncols=len(handles), **_ABOVE)


# -- summary and peak memory -------------------------------------------------------------


def summary(jobs: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Horizontal stacked bars: jobs per status for each group, arrays folded."""
    if jobs.empty:
        return _empty(*_canvas(ax, (8.0, 2.0)), "no jobs")
    groups = _group_column(jobs)
    status = jobs["status"].astype(object).fillna("pending").to_numpy()
    counts = pd.crosstab(groups, status).reindex(pd.unique(groups)).fillna(0).astype(int)
    kept = _heaviest(counts.get("failed", 0) * len(jobs) + counts.sum(axis=1))
    # Groups beyond the cap get one line of text, not a bar that would dwarf the others.
    rest, counts = counts.drop(index=kept), counts.loc[kept]
    fig, ax = _canvas(ax, (8.0, 1.4 + 0.3 * (len(counts) + bool(len(rest)))))
    y = np.arange(len(counts))
    left = np.zeros(len(counts))
    for name, colour in STATUS_COLOURS.items():
        if name in counts and counts[name].sum():
            total = counts[name].sum() + (rest[name].sum() if len(rest) else 0)
            ax.barh(y, counts[name], left=left, color=colour, height=0.7, label=f"{name} ({total})")
            left += counts[name].to_numpy()
    names = counts.index.tolist()
    notes = [f"{int(n)}" for n in left]
    if len(rest):
        names.append(f"+ {len(rest)} more groups")
        notes.append(_tally(rest.sum()))
    for row, (x, note) in enumerate(zip([*left, 0], notes, strict=False)):
        ax.annotate(
            note, (x, row), xytext=(3, 0), textcoords="offset points", va="center", fontsize="small"
        )
    ax.set_yticks(range(len(names)), names, fontsize="small")
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlabel("jobs")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(ncols=6, **_ABOVE)
    return _finish(fig, ax)


def _tally(counts: pd.Series) -> str:
    parts = [f"{counts[n]} {n}" for n in STATUS_COLOURS if counts.get(n, 0)]
    return f"{counts.sum()} jobs: {', '.join(parts)}"


def peak_memory(
    jobs: pd.DataFrame, *, by: Literal["group", "job"] = "group", ax: Axes | None = None
) -> Figure:
    """Peak RSS per group (box and jobs as dots) with each ``!Memory`` request marked."""
    if by not in ("group", "job"):
        raise ValueError(f"by must be 'group' or 'job', not {by!r}")
    data = jobs[jobs["peak_rss"].notna()]
    keys = _group_column(data) if by == "group" else _fold(data["job"].astype(object))
    frame = pd.DataFrame(
        {
            "key": keys,
            "peak": data["peak_rss"].astype(float).to_numpy(),
            "memory": data["memory"].astype(float).to_numpy(),
        }
    )
    peaks = frame.groupby("key", sort=False)["peak"].max()
    # The biggest users keep a row each; the rest share one, which is still a distribution.
    rows = _heaviest(peaks)
    if len(rows) < len(peaks):
        rows.append(f"other ({len(peaks) - len(rows)} {by}s)")
    fig, ax = _canvas(ax, (8.0, 1.6 + 0.35 * len(rows)))
    if not rows:
        return _empty(fig, ax, "no peak memory recorded")
    frame["y"] = frame["key"].map({key: i for i, key in enumerate(rows)}).fillna(len(rows) - 1)
    top = max(frame["peak"].max(), np.nanmax(np.r_[frame["memory"].to_numpy(), 0.0]))
    divisor, unit = _bytes_unit(float(top))
    _boxes(ax, [frame["peak"][frame["y"] == i] / divisor for i in range(len(rows))])
    handles = _dots(ax, frame, divisor) + _requests(ax, frame, divisor)
    ax.set_yticks(range(len(rows)), rows, fontsize="small")
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(left=0)
    ax.set_xlabel(f"peak RSS ({unit})")
    ax.grid(axis="x", color=_FG, alpha=0.2, linewidth=0.5)
    ax.legend(handles=handles, ncols=3, **_ABOVE)
    return _finish(fig, ax)


def _boxes(ax: Axes, values: list[pd.Series]) -> None:
    colour = _PALETTE[0]
    # matplotlib 3.10 renamed vert=False to orientation="horizontal" and warns on vert.
    old = tuple(int(p) for p in matplotlib.__version__.split(".")[:2]) < (3, 10)
    turn: dict[str, Any] = {"vert": False} if old else {"orientation": "horizontal"}
    ax.boxplot(
        [v.to_numpy() for v in values],
        positions=range(len(values)),
        widths=0.6,
        showfliers=False,
        manage_ticks=False,
        patch_artist=True,
        boxprops={"facecolor": (*matplotlib.colors.to_rgb(colour), 0.15), "edgecolor": colour},
        medianprops={"color": colour, "linewidth": 2},
        whiskerprops={"color": colour},
        capprops={"color": colour},
        **turn,
    )


def _dots(ax: Axes, frame: pd.DataFrame, divisor: float) -> list[Any]:
    """Every job as a dot (one artist), red where it went over its own request."""
    over = (frame["peak"] > frame["memory"]).to_numpy(dtype=bool)  # no request: never over
    jitter = np.random.default_rng(0).uniform(-0.2, 0.2, len(frame))
    colours = np.where(over, STATUS_COLOURS["failed"], _FG)
    alpha = 0.8 if len(frame) <= 300 else 0.3
    ax.scatter(
        frame["peak"] / divisor,
        frame["y"] + jitter,
        c=colours,
        s=10,
        alpha=alpha,
        linewidths=0,
        zorder=3,
    )
    handles: list[Any] = [Line2D([], [], marker="o", linestyle="", color=_FG, label="job")]
    if over.any():
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                color=STATUS_COLOURS["failed"],
                label=f"over request ({int(over.sum())})",
            )
        )
    return handles


def _requests(ax: Axes, frame: pd.DataFrame, divisor: float) -> list[Any]:
    """Each distinct ``!Memory`` of a row as a mark across it: one collection for all."""
    requests = frame.dropna(subset=["memory"]).drop_duplicates(["y", "memory"])
    if not len(requests):
        return []
    y = requests["y"].to_numpy(dtype=float)
    ax.vlines(requests["memory"] / divisor, y - 0.42, y + 0.42, colors=_REQUEST, linewidths=2.5)
    return [Line2D([], [], color=_REQUEST, linewidth=2.5, label="!Memory request")]


def _heaviest(weight: pd.Series) -> list[Any]:
    """All row keys, or past the cap the heaviest few, in their original order."""
    if len(weight) <= _MAX_ROWS:
        return list(weight.index)
    top = set(weight.sort_values(ascending=False, kind="stable").index[: _MAX_ROWS - 1])
    return [key for key in weight.index if key in top]


# -- shared pieces -----------------------------------------------------------------------


def job_resources(samples: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """CPU % and RSS over time of one job's samples (``run.resources`` rows of one job)."""
    fig, ax = _canvas(ax, (6.0, 2.4))
    elapsed = (samples["time"] - samples["time"].min()).dt.total_seconds() if len(samples) else []
    ax.plot(elapsed, samples["rss"] / 2**20 if len(samples) else [], color="tab:blue", label="RSS")
    ax.set_xlabel("seconds")
    ax.set_ylabel("RSS (MiB)", color="tab:blue")
    cpu = ax.twinx()
    cpu.plot(
        elapsed, samples["cpu_percent"] if len(samples) else [], color="tab:orange", label="CPU"
    )
    cpu.set_ylabel("CPU %", color="tab:orange")
    if isinstance(fig, _Figure):
        _paint(fig)
        ax.yaxis.label.set_color("tab:blue")
        cpu.yaxis.label.set_color("tab:orange")
    return fig


def _canvas(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return _root(ax), ax
    fig = _Figure(figsize=size, layout="constrained", facecolor="none")
    return fig, fig.add_subplot()


def _root(ax: Axes) -> Figure:
    """The top-level Figure of ``ax`` (it may sit in a SubFigure)."""
    parent: Any = ax.figure
    while not isinstance(parent, Figure):
        parent = parent.figure
    return parent


def _finish(fig: Figure, ax: Axes) -> Figure:
    """Theme the figures we made; an ``ax`` the caller passed keeps the caller's style."""
    if isinstance(fig, _Figure) and ax.figure is fig:
        _paint(fig)
    return fig


def _paint(fig: Figure) -> None:
    """Grey text and lines on a transparent figure: per figure, never through rcParams."""
    for ax in fig.axes:
        ax.set_facecolor("none")
        ax.tick_params(which="both", colors=_FG)
        for text in (
            ax.title,
            ax.xaxis.label,
            ax.yaxis.label,
            ax.xaxis.get_offset_text(),
            ax.yaxis.get_offset_text(),
            *ax.texts,
        ):
            text.set_color(_FG)
        for spine in ax.spines.values():
            spine.set_edgecolor(_FG)
        legend = ax.get_legend()
        if legend is not None:
            _paint_legend(legend)


def _paint_legend(legend: Legend) -> None:
    legend.get_frame().set_edgecolor(_FG)
    legend.get_frame().set_facecolor("none")
    legend.get_title().set_color(_FG)
    for text in legend.get_texts():
        text.set_color(_FG)


def _empty(fig: Figure, ax: Axes, message: str) -> Figure:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    return _finish(fig, ax)


def _select(frame: pd.DataFrame, paths: str | Iterable[str] | None) -> pd.DataFrame:
    """Rows of these jobs, or of every job under these groups."""
    if paths is None:
        return frame
    wanted = [paths] if isinstance(paths, str) else list(paths)
    under = tuple(p + sep for p in wanted for sep in (".", "["))
    job = frame["job"].astype(object)
    mask = job.isin(wanted) | job.str.startswith(under).fillna(False).astype(bool)
    return frame[mask.to_numpy(dtype=bool)]


def _job_order(samples: pd.DataFrame, job_table: pd.DataFrame | None) -> list[str]:
    present = pd.unique(samples["job"].astype(object))
    if job_table is None:
        return [str(j) for j in present]
    known = set(present)
    listed = [str(j) for j in job_table["job"].astype(object) if j in known]
    return listed + sorted(str(j) for j in known.difference(listed))


def _parent(paths: Sequence[str] | np.ndarray) -> list[str]:
    return [p.rsplit(".", 1)[0] if "." in p else "(top)" for p in paths]


def _fold(paths: pd.Series) -> np.ndarray:
    """``top.tests[3]`` -> ``top.tests``: array copies count as their array."""
    folded = paths.astype(object).fillna("(top)").str.replace(r"\[\d+\]", "", regex=True)
    return np.asarray(folded, dtype=object)


def _group_column(jobs: pd.DataFrame) -> np.ndarray:
    group = jobs["group"].astype(object)
    derived = pd.Series(_parent(jobs["job"].astype(object).tolist()), index=jobs.index)
    return _fold(group.where(group.notna() & (group != ""), derived))


def _common_prefix(names: Sequence[str]) -> str:
    """The shared dotted prefix (``regression.``), dropped from labels to save width."""
    if len(names) < 2:
        return names[0].rsplit(".", 1)[0] + "." if names and "." in names[0] else ""
    head = names[0]
    for name in names[1:]:
        while not name.startswith(head):
            head = head[:-1]
    return head[: head.rfind(".") + 1]


def _origin(times: pd.Series, starts: pd.Series | None) -> pd.Timestamp:
    first = times.min()
    if starts is not None and starts.notna().any():
        first = min(first, starts.min())
    return first


def _seconds(times: pd.Series, origin: pd.Timestamp) -> np.ndarray:
    return np.asarray((times - origin).dt.total_seconds(), dtype=float)


def _time_unit(span_s: float) -> tuple[float, str]:
    if not span_s > 600:
        return 1.0, "s"
    return (60.0, "min") if span_s <= 3 * 3600 else (3600.0, "h")


def _bytes_unit(top: float) -> tuple[float, str]:
    for power, unit in ((3, "GiB"), (2, "MiB"), (1, "KiB")):
        if top >= 2 ** (10 * power):
            return 2.0 ** (10 * power), unit
    return 1.0, "bytes"
