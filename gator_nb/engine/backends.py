"""Choosing where leaf jobs run: the local machine, or a Dask cluster.

``open_backend`` is the one seam between the run and its backend; the engine only
ever sees the :class:`~gator_nb.engine.schedule.Backend` protocol.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from gator_nb.engine.monitor import Monitor
from gator_nb.engine.schedule import Backend, Limits, LocalBackend
from gator_nb.errors import LaunchError

__all__ = ["BACKENDS", "open_backend"]

BACKENDS = ("local", "dask")


@contextlib.asynccontextmanager
async def open_backend(
    name: str, *, monitor: Monitor, limits: Limits, scheduler: Any = None
) -> AsyncIterator[Backend]:
    """Yield a ready backend for the run and release it (cluster, client) afterwards."""
    if name == "local":
        yield LocalBackend(monitor)
        return
    if name == "dask":
        raise LaunchError("the dask backend is not available yet; use backend='local'")
    raise LaunchError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
