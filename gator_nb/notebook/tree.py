"""The run tree as an anywidget: the browser draws it (``tree.js``) from rows sent here.

``TreeWidget`` carries a ``snapshot`` trait (every row, once) and takes "delta" messages
with the rows that changed. Rows are ``views.Row`` values flattened to lists in
``ROW_FIELDS`` order, so a field added to ``Row`` reaches the browser without touching this
module. anywidget is a dependency for this: it ships a front-end module with the widget
instead of a JupyterLab extension, so it works in JupyterLab, Notebook 7 and VS Code alike.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from gator_nb.palette import MUTED, SEVERITY, STATUS
from gator_nb.views import Header, Row

__all__ = ["COLOURS", "ROW_FIELDS", "TreeWidget", "encode", "head"]

ROW_FIELDS = tuple(
    f.name for f in dataclasses.fields(Row) if f.name not in ("key", "depth", "open")
)
COLOURS = {**STATUS, **SEVERITY, "muted": MUTED}
_HERE = Path(__file__).parent


class TreeWidget(anywidget.AnyWidget):
    """The browser's run tree; see the module docstring for what goes over the wire."""

    _esm = _HERE / "tree.js"
    _css = _HERE / "tree.css"
    run_id = traitlets.Unicode("").tag(sync=True)
    snapshot = traitlets.Dict().tag(sync=True)


def encode(row: Row) -> list[Any]:
    """A row as the list the browser reads by ``ROW_FIELDS`` (JSON: enums are strings)."""
    return [getattr(row, name) for name in ROW_FIELDS]


def head(header: Header, start: float | None, end: float | None, left: str) -> dict[str, Any]:
    """The header's figures, with the run's start/end (the browser ticks elapsed time)."""
    return {**dataclasses.asdict(header), "start": start, "end": end, "left": left}
