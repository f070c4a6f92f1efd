"""Where the notebook code meets ipykernel: are we in a kernel, which cell is running, and
routing a background thread's output to the cell that started the run.
"""

from __future__ import annotations

from typing import Any

from IPython import get_ipython

__all__ = ["adopt_parent", "cell_key", "current_parent", "in_kernel"]


def in_kernel() -> bool:
    """True inside a Jupyter kernel, where widgets have a front end to talk to."""
    return getattr(get_ipython(), "kernel", None) is not None


def current_parent() -> dict[str, Any]:
    """The message the kernel is executing now (the running cell's execute_request)."""
    getter = getattr(get_ipython(), "get_parent", None)
    parent = getter() if getter is not None else None
    return dict(parent) if parent else {}


def cell_key() -> tuple[int, str]:
    """Identifies the cell being executed, with or without a kernel."""
    shell = get_ipython()
    msg_id = current_parent().get("header", {}).get("msg_id", "")
    return int(getattr(shell, "execution_count", 0) or 0), str(msg_id)


def adopt_parent(parent: dict[str, Any]) -> None:
    """Make this thread's display and output belong to ``parent``'s cell (ipywidgets#4020).

    ipykernel >= 7 keeps the parent per thread (a context variable) and ``set_thread_parent``
    sets it for this thread only. ipykernel 6 has one parent for all threads, which is the
    running cell's already; setting it from here could only send a later cell's output to
    this one, so nothing is done there.
    """
    if not parent:
        return
    shell = get_ipython()
    set_thread_parent = getattr(shell, "set_thread_parent", None)
    if set_thread_parent is not None:
        set_thread_parent(parent)
