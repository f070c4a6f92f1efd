"""Where leaf jobs run: the ``Backend`` protocol, the local backend, and ``open_backend``,
the one seam between a run and its backend (local processes, or a Dask cluster).

A backend is handed one ``Launch`` at a time (its command, environment and resource
needs) and never the plan.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from gator_nb.engine.launch import Launch, Limits, Sink
from gator_nb.engine.launcher import Channel, open_channel
from gator_nb.engine.monitor import Monitor
from gator_nb.engine.process import run_job
from gator_nb.engine.watchdog import Watchdog
from gator_nb.errors import LaunchError
from gator_nb.events import JobFinished

__all__ = ["BACKENDS", "Backend", "LocalBackend", "check_backend", "open_backend"]

BACKENDS = ("local", "dask")
_DASK_HINT = "distributed is needed for the dask backend: pip install 'gator-nb[dask]'"


class Backend(Protocol):
    """Runs one leaf job to completion, streaming its events to ``sink``."""

    async def run(self, launch: Launch, sink: Sink) -> JobFinished: ...


@dataclass(slots=True)
class LocalBackend:
    """Jobs as local subprocesses, sampled by one shared :class:`Monitor`."""

    monitor: Monitor
    watchdog: Watchdog | None = None  # stops the jobs if the engine is killed outright
    launcher: Channel | None = None  # starts the jobs, so that their peaks are their own

    async def run(self, launch: Launch, sink: Sink) -> JobFinished:
        return await run_job(
            launch, sink, self.monitor, watchdog=self.watchdog, launcher=self.launcher
        )


def check_backend(name: str, scheduler: Any = None) -> None:
    """Raise ``LaunchError`` now for a backend that cannot be used, before anything is opened.

    Cheap: it looks for ``distributed`` without importing it.
    """
    if name not in BACKENDS:
        raise LaunchError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    if name == "local" and scheduler is not None:
        raise LaunchError("a scheduler is only used with the dask backend (--backend dask)")
    if name == "dask":
        import importlib.util

        if importlib.util.find_spec("distributed") is None:
            raise LaunchError(_DASK_HINT)


@contextlib.asynccontextmanager
async def open_backend(
    name: str,
    *,
    monitor: Monitor,
    limits: Limits,
    scheduler: Any = None,
    cluster: str | None = None,
    spool: str | None = None,
) -> AsyncIterator[Backend]:
    """Yield a ready backend for the run and release it (cluster, client) afterwards.

    ``scheduler`` (dask only): an address, a ``distributed.Client``, a cluster object,
    or None for a cluster of the run's own: ``cluster`` (``local``, the default,
    ``slurm``, ``lsf``, ``sge``, ``pbs``), its worker credentials kept in ``spool``.
    """
    check_backend(name, scheduler)
    if name == "local":
        channel = await open_channel()
        # The launcher stops its jobs if the engine dies; without it, a watchdog does.
        watchdog = Watchdog(limits.grace_s) if channel is None else None
        try:
            yield LocalBackend(monitor, watchdog, channel)
        finally:
            if channel is not None:
                channel.close()
            # Off the loop: if jobs were left listed, the helper takes the grace period.
            if watchdog is not None:
                await asyncio.to_thread(watchdog.close)
        return
    from gator_nb.engine.dask import open_dask  # distributed is optional and heavy

    # The worker samples with its own Monitor, at the run's interval.
    async with open_dask(
        scheduler,
        cluster=cluster,
        limits=limits,
        sample_interval_s=monitor.interval_s,
        spool=spool,
    ) as backend:
        yield backend
