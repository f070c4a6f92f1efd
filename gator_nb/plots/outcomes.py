"""Outcome plots per group: jobs per status (``summary``) and peak RSS against each
``!Memory`` request (``peak_memory``), the heaviest groups first-class and the rest folded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from gator_nb.plots.canvas import (
    FOREGROUND,
    LEGEND_ABOVE,
    PALETTE,
    REQUEST_COLOUR,
    STATUS_COLOURS,
    canvas,
    empty,
    finish,
)
from gator_nb.plots.paths import fold, group_column
from gator_nb.plots.scales import bytes_unit

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["peak_memory", "summary"]

_MAX_ROWS = 30  # groups shown by summary() and peak_memory(); the rest are folded together


def summary(jobs: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Horizontal stacked bars: jobs per status for each group, arrays folded."""
    if jobs.empty:
        return empty(*canvas(ax, (8.0, 2.0)), "no jobs")
    groups = group_column(jobs)
    status = jobs["status"].astype(object).fillna("pending").to_numpy()
    counts = pd.crosstab(groups, status).reindex(pd.unique(groups)).fillna(0).astype(int)
    kept = _heaviest(counts.get("failed", 0) * len(jobs) + counts.sum(axis=1))
    # Groups beyond the cap get one line of text, not a bar that would dwarf the others.
    rest, counts = counts.drop(index=kept), counts.loc[kept]
    fig, ax = canvas(ax, (8.0, 1.4 + 0.3 * (len(counts) + bool(len(rest)))))
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
    ax.legend(ncols=6, **LEGEND_ABOVE)
    return finish(fig, ax)


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
    keys = group_column(data) if by == "group" else fold(data["job"].astype(object))
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
    fig, ax = canvas(ax, (8.0, 1.6 + 0.35 * len(rows)))
    if not rows:
        return empty(fig, ax, "no peak memory recorded")
    frame["y"] = frame["key"].map({key: i for i, key in enumerate(rows)}).fillna(len(rows) - 1)
    top = max(frame["peak"].max(), np.nanmax(np.r_[frame["memory"].to_numpy(), 0.0]))
    divisor, unit = bytes_unit(float(top))
    _boxes(ax, [frame["peak"][frame["y"] == i] / divisor for i in range(len(rows))])
    handles = _dots(ax, frame, divisor) + _requests(ax, frame, divisor)
    ax.set_yticks(range(len(rows)), rows, fontsize="small")
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(left=0)
    ax.set_xlabel(f"peak RSS ({unit})")
    ax.grid(axis="x", color=FOREGROUND, alpha=0.2, linewidth=0.5)
    ax.legend(handles=handles, ncols=3, **LEGEND_ABOVE)
    return finish(fig, ax)


def _boxes(ax: Axes, values: list[pd.Series]) -> None:
    colour = PALETTE[0]
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
    colours = np.where(over, STATUS_COLOURS["failed"], FOREGROUND)
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
    handles: list[Any] = [Line2D([], [], marker="o", linestyle="", color=FOREGROUND, label="job")]
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
    ax.vlines(
        requests["memory"] / divisor, y - 0.42, y + 0.42, colors=REQUEST_COLOUR, linewidths=2.5
    )
    return [Line2D([], [], color=REQUEST_COLOUR, linewidth=2.5, label="!Memory request")]


def _heaviest(weight: pd.Series) -> list[Any]:
    """All row keys, or past the cap the heaviest few, in their original order."""
    if len(weight) <= _MAX_ROWS:
        return list(weight.index)
    top = set(weight.sort_values(ascending=False, kind="stable").index[: _MAX_ROWS - 1])
    return [key for key in weight.index if key in top]
