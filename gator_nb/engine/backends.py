"""Choosing where leaf jobs run: the local machine, or a Dask cluster.

``open_backend`` is the one seam between the run and its backend; the engine only
ever sees the :class:`~gator_nb.engine.schedule.Backend` protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from gator_nb.engine.monitor import Monitor
from gator_nb.engine.schedule import Backend, Limits, LocalBackend
from gator_nb.engine.watchdog import Watchdog
from gator_nb.errors import LaunchError

if TYPE_CHECKING:
    from gator_nb.spec.plan import Plan

__all__ = ["BACKENDS", "open_backend"]

BACKENDS = ("local", "dask")


@contextlib.asynccontextmanager
async def open_backend(
    name: str,
    *,
    monitor: Monitor,
    limits: Limits,
    scheduler: Any = None,
    plan: Plan | None = None,
) -> AsyncIterator[Backend]:
    """Yield a ready backend for the run and release it (cluster, client) afterwards.

    ``scheduler`` (dask only): an address, a ``distributed.Client``, a cluster object,
    or None for a LocalCluster of this machine. ``plan`` (dask only) gives the jobs'
    ``!Cores``/``!Memory``/``!License`` needs, which a ``Launch`` does not carry.
    """
    if name == "local":
        watchdog = Watchdog(limits.grace_s)
        try:
            yield LocalBackend(monitor, watchdog)
        finally:
            # Off the loop: if jobs were left listed, the helper takes the grace period.
            await asyncio.to_thread(watchdog.close)
        return
    if name == "dask":
        from gator_nb.engine.dask import open_dask  # distributed is optional and heavy

        # The worker samples with its own Monitor, at the run's interval.
        interval_s = monitor.interval_s
        async with open_dask(
            scheduler, limits=limits, sample_interval_s=interval_s, plan=plan
        ) as backend:
            yield backend
        return
    raise LaunchError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
