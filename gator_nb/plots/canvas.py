"""The figures plots draw on: a Figure that shows itself in a notebook, its grey theme on a
transparent background, and the colours and legend placements every plot shares.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from gator_nb.palette import MUTED, STATUS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.legend import Legend

__all__ = [
    "FOREGROUND",
    "LEGEND_ABOVE",
    "LEGEND_RIGHT",
    "PALETTE",
    "REQUEST_COLOUR",
    "STATUS_COLOURS",
    "NotebookFigure",
    "canvas",
    "empty",
    "finish",
    "paint",
    "root",
]

# Mid grey: about 4.5:1 contrast on white and on black, so axes read in light and dark
# notebook themes without knowing which one is showing (the figure is transparent).
FOREGROUND = MUTED
# Statuses in gator's one palette (plots draw them in this order in legends).
STATUS_COLOURS = {
    name: STATUS[name]
    for name in ("passed", "failed", "cancelled", "skipped", "running", "pending")
}
REQUEST_COLOUR = STATUS["cancelled"]
# tab10 without its grey, which stands for "skipped" and "other".
PALETTE = [
    f"tab:{name}"
    for name in ("blue", "orange", "green", "red", "purple", "brown", "pink", "olive", "cyan")
]
LEGEND_ABOVE: dict[str, Any] = {  # legends in one row above the axes, clear of the data
    "loc": "lower left",
    "bbox_to_anchor": (0, 1),
    "fontsize": "small",
    "frameon": False,
    "borderaxespad": 0.2,
}
LEGEND_RIGHT: dict[str, Any] = {
    "loc": "upper left",
    "bbox_to_anchor": (1.01, 1),
    "fontsize": "small",
    "frameon": False,
}


class NotebookFigure(Figure):
    """A Figure that shows itself in a notebook even if pyplot was never imported.

    IPython registers its Figure formatter only when pyplot loads the inline backend;
    without that a bare Figure displays as ``<Figure size ...>``.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def canvas(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    """The caller's ``ax`` and its figure, or a new themed figure of ``size`` inches."""
    if ax is not None:
        return root(ax), ax
    fig = NotebookFigure(figsize=size, layout="constrained", facecolor="none")
    return fig, fig.add_subplot()


def root(ax: Axes) -> Figure:
    """The top-level Figure of ``ax`` (it may sit in a SubFigure)."""
    parent: Any = ax.figure
    while not isinstance(parent, Figure):
        parent = parent.figure
    return parent


def finish(fig: Figure, ax: Axes) -> Figure:
    """Theme the figures we made; an ``ax`` the caller passed keeps the caller's style."""
    if isinstance(fig, NotebookFigure) and ax.figure is fig:
        paint(fig)
    return fig


def paint(fig: Figure) -> None:
    """Grey text and lines on a transparent figure: per figure, never through rcParams."""
    for ax in fig.axes:
        ax.set_facecolor("none")
        ax.tick_params(which="both", colors=FOREGROUND)
        for text in (
            ax.title,
            ax.xaxis.label,
            ax.yaxis.label,
            ax.xaxis.get_offset_text(),
            ax.yaxis.get_offset_text(),
            *ax.texts,
        ):
            text.set_color(FOREGROUND)
        for spine in ax.spines.values():
            spine.set_edgecolor(FOREGROUND)
        legend = ax.get_legend()
        if legend is not None:
            _paint_legend(legend)


def _paint_legend(legend: Legend) -> None:
    legend.get_frame().set_edgecolor(FOREGROUND)
    legend.get_frame().set_facecolor("none")
    legend.get_title().set_color(FOREGROUND)
    for text in legend.get_texts():
        text.set_color(FOREGROUND)


def empty(fig: Figure, ax: Axes, message: str) -> Figure:
    """``message`` in the middle of bare axes: the figure of nothing to show."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    return finish(fig, ax)
