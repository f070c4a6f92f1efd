"""The ``%gator`` line and cell magics."""

from __future__ import annotations

from typing import Any

__all__ = ["register"]


def register(ipython: Any) -> None:
    """Register the magics on ``ipython`` (filled in by the notebook issue)."""
    raise NotImplementedError("the %gator magics arrive with the notebook front end")
