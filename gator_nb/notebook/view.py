"""Notebook views of a run (filled in by the notebook front end)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gator_nb.runner import Run

__all__ = ["mimebundle"]


def mimebundle(run: Run, *, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    """A text/plain summary of ``run``."""
    del include, exclude
    from gator_nb.terminal import summary_line

    return {
        "text/plain": f"gator run {run.id}: {run.status}; {summary_line(run.state, time.time())}"
    }
