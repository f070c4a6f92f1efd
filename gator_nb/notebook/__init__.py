"""Jupyter front end: the ``%gator`` magics and the ipywidgets views."""

from __future__ import annotations

__all__: list[str] = []
