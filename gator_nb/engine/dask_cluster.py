"""The Dask clusters a run owns, and a safe connection to any scheduler.

``--cluster local`` is a ``LocalCluster`` of this machine; ``slurm``, ``lsf``, ``sge`` and
``pbs`` are dask-jobqueue clusters built from the user's Dask config, grown from the jobs
in flight, their lost batch jobs replaced. Both are secured with temporary TLS
credentials and closed with the run. Any address gets a bounded connect and one clear
error, whatever answers there.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gator_nb.engine.launch import Limits
from gator_nb.errors import LaunchError

__all__ = ["CLUSTERS", "JobScaler", "Scaler", "Target", "connect", "own_cluster", "target_of"]

CLUSTERS = ("local", "slurm", "lsf", "sge", "pbs")
_JOBQUEUE = {"slurm": "SLURMCluster", "lsf": "LSFCluster", "sge": "SGECluster", "pbs": "PBSCluster"}
_MAX_LOCAL_WORKERS = 8


@dataclass(frozen=True, slots=True)
class Target:
    """Where the scheduler is, and the credentials to talk to it (None: Dask's config)."""

    address: str
    security: Any = None


class Scaler:
    """A cluster that does not grow or heal by itself (gator's LocalCluster's nannies do)."""

    on_broken: Callable[[str], None] | None = None  # told why workers cannot be started

    def demand(self, jobs: int) -> None:
        """``jobs`` are submitted and not finished."""

    def named(self, names: Mapping[str, str]) -> None:
        """The workers the scheduler knows now: address -> name."""

    def lost(self, worker: str) -> None:
        """The worker at this address left the scheduler."""


class JobScaler(Scaler):
    """Grows a dask-jobqueue cluster to the jobs in flight; replaces batch jobs it loses.

    ``cluster.scale(jobs=N)`` alone never replaces a batch job that ended (``scancel``,
    walltime): the cluster still counts it. A lost one is dropped from the cluster's
    spec, so that the next ``scale`` submits a new batch job in its place.
    """

    def __init__(self, cluster: Any, *, kind: str, slots: int, most: int) -> None:
        self._cluster, self._kind = cluster, kind
        self._slots, self._most = max(1, slots), max(1, most)
        self._jobs = 0  # batch jobs wanted: grows with demand, never shrinks in a run
        self._names: dict[str, str] = {}

    def demand(self, jobs: int) -> None:
        wanted = min(self._most, math.ceil(jobs / self._slots))
        if wanted > self._jobs:
            self._jobs = wanted
            self._scale()

    def named(self, names: Mapping[str, str]) -> None:
        self._names.update(names)

    def lost(self, worker: str) -> None:
        name = self._names.pop(worker, None)
        spec = self._cluster.worker_spec
        if name is None:
            return
        # With several worker processes per batch job they are named JOB-0, JOB-1, ...
        job = name if name in spec else name.rpartition("-")[0]
        if job in spec:  # else gator or the cluster retired it on purpose
            # Under a new name: the cluster closes the old job (gone from its spec) and
            # submits the new one; the same name again would look like the old one to it.
            template = spec.pop(job)
            spec[self._fresh_name()] = template
            self._scale()

    def _fresh_name(self) -> str:
        taken = {*self._cluster.worker_spec, *self._cluster.workers}
        number = len(taken)
        while (name := self._cluster._new_worker_name(number)) in taken:
            number += 1
        return str(name)

    def _scale(self) -> None:
        self._cluster.scale(jobs=self._jobs)
        # The cluster submits batch jobs in a task of its own and only logs a failure
        # (sbatch missing, the queue refusing the job): watch that same task.
        correcting = self._cluster._correct_state()
        correcting.add_done_callback(self._corrected)

    def _corrected(self, task: asyncio.Future[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        # Its batch jobs that did not start stay "created": the cluster's close asserts
        # that every worker it made was closed or failed. Dropped, they may be asked for
        # again later.
        status = type(self._cluster.status)  # distributed.core.Status, imported lazily
        created, failed = status.created, status.failed
        for name, job in list(self._cluster.workers.items()):
            if job.status == created:
                job.status = failed
                del self._cluster.workers[name]
                self._cluster.worker_spec.pop(name, None)
        self._jobs = len(self._cluster.worker_spec)
        if self.on_broken is None:
            return
        text = str(task.exception()).strip().splitlines() or [type(task.exception()).__name__]
        self.on_broken(f"the {self._kind} cluster cannot start a worker: {text[-1]}")


def target_of(dd: Any, scheduler: Any) -> Target:
    """The :class:`Target` of an address, a ``distributed.Client`` or a cluster object."""
    if isinstance(scheduler, str):
        return Target(scheduler)
    if isinstance(scheduler, dd.Client):
        return Target(scheduler.scheduler.address, scheduler.security)
    address = getattr(scheduler, "scheduler_address", None)
    if isinstance(address, str):
        return Target(address, getattr(scheduler, "security", None))
    raise LaunchError(
        "scheduler must be an address, a distributed.Client or a Dask cluster,"
        f" not {type(scheduler).__name__}"
    )


async def connect(dd: Any, target: Target) -> Any:
    """An asynchronous client of ``target``, or one LaunchError saying why not.

    Bounded by Dask's own ``distributed.comm.timeouts.connect``: a peer that accepts and
    says nothing, or says something that is not Dask, must not hang the run.
    """
    import dask.config
    from dask.utils import parse_timedelta

    address = target.address
    try:
        dd.comm.parse_address(address)
        await asyncio.to_thread(dd.comm.resolve_address, address)  # may ask DNS
    except (ValueError, OSError) as exc:
        raise LaunchError(f"not a Dask scheduler address: {address!r} ({exc})") from None
    connect_s = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s")
    client = dd.Client(
        address,
        asynchronous=True,
        security=target.security,
        set_as_default=False,
        timeout=connect_s,
    )
    try:
        async with asyncio.timeout(connect_s + 1):
            return await client
    except BaseException as exc:  # noqa: BLE001 - cleanup; re-raised below
        # Closed here: a client that never started would close itself in __del__,
        # with a coroutine nobody awaits.
        with contextlib.suppress(Exception):
            await client.close()
        raise _unreachable(address, connect_s, exc) from None


def _unreachable(address: str, connect_s: float, exc: BaseException) -> BaseException:
    if isinstance(exc, TimeoutError):
        return LaunchError(
            f"cannot reach the Dask scheduler at {address}: no answer in {connect_s:g} s"
            " (distributed.comm.timeouts.connect)"
        )
    if isinstance(exc, OSError):
        return LaunchError(f"cannot reach the Dask scheduler at {address}: {exc}")
    if isinstance(exc, Exception):
        # Whatever answered is not Dask: a peer's bytes can make distributed fail in any
        # way (a numpy MemoryError for a frame count of 2**64 - 1).
        return LaunchError(
            f"cannot reach the Dask scheduler at {address}: what answers there does not"
            f" speak Dask's protocol ({type(exc).__name__})"
        )
    return exc  # CancelledError, KeyboardInterrupt: not ours to translate


async def own_cluster(
    dd: Any, kind: str, stack: contextlib.AsyncExitStack, limits: Limits, spool: str
) -> tuple[Target, Scaler]:
    """Start a cluster of ``kind`` for one run, closed by ``stack``; TLS-secured.

    ``spool`` is a private directory for the worker's credentials when a batch system
    needs them on file (dask-jobqueue writes them there unless its config names one).
    """
    try:
        security = dd.security.Security.temporary()
    except ImportError as exc:
        raise ImportError(
            "cryptography is needed to secure gator's Dask clusters: pip install 'gator-nb[dask]'"
        ) from exc
    if kind == "local":
        return await _local(dd, stack, limits, security), Scaler()
    if kind in _JOBQUEUE:
        return await _jobqueue(kind, stack, limits, security, spool)
    raise LaunchError(f"unknown cluster {kind!r}; expected one of {', '.join(CLUSTERS)}")


async def _local(
    dd: Any, stack: contextlib.AsyncExitStack, limits: Limits, security: Any
) -> Target:
    """A LocalCluster for this run: a worker process per core, threads for --parallel."""
    workers = max(1, min(os.cpu_count() or 1, limits.parallel, _MAX_LOCAL_WORKERS))
    cluster = await dd.LocalCluster(
        n_workers=workers,
        threads_per_worker=-(-limits.parallel // workers),
        processes=True,
        asynchronous=True,
        # TLS with a throw-away CA: other local users could otherwise run code as us.
        security=security,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # not 8787: two runs at once would clash
        memory_limit=0,  # the nanny watches only the worker process, not the jobs
        scheduler_kwargs={"allowed_failures": 0},  # a lost job fails, never reruns
    )
    stack.push_async_callback(cluster.close)
    return Target(cluster.scheduler_address, cluster.security)


async def _jobqueue(
    kind: str, stack: contextlib.AsyncExitStack, limits: Limits, security: Any, spool: str
) -> tuple[Target, Scaler]:
    import dask.config

    dask_jobqueue = _import_jobqueue(kind)
    config = f"jobqueue.{kind}"
    scheduler = {
        "dashboard_address": ":0",  # not 8787: two runs at once would clash
        **(dask.config.get(f"{config}.scheduler-options", None) or {}),
        "allowed_failures": 0,  # gator decides what a lost job means, never Dask
    }
    options: dict[str, Any] = {"security": security, "scheduler_options": scheduler}
    if not dask.config.get(f"{config}.shared-temp-directory", None):
        options["shared_temp_directory"] = spool
    try:
        cluster = await getattr(dask_jobqueue, _JOBQUEUE[kind])(asynchronous=True, **options)
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        raise LaunchError(
            f"cannot build the {kind} cluster from the Dask config ({config} in"
            f" ~/.config/dask/jobqueue.yaml or $DASK_CONFIG): {' '.join(str(exc).split())}"
        ) from None
    stack.push_async_callback(cluster.close)
    job = cluster._dummy_job  # the one place dask-jobqueue keeps the per-job shape
    slots = max(1, int(job.worker_cores or 1))
    scaler = JobScaler(cluster, kind=kind, slots=slots, most=math.ceil(limits.parallel / slots))
    return Target(cluster.scheduler_address, cluster.security), scaler


def _import_jobqueue(kind: str) -> Any:
    """dask_jobqueue, leaving this process's Ctrl-C handler as it was.

    dask-jobqueue 0.9.0 sets SIGINT to ``sys.exit`` on import in the main thread
    (dask/dask-jobqueue#696): the run would end without stopping its jobs.
    """
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    try:
        import dask_jobqueue
    except ImportError as exc:
        raise ImportError(
            f"dask-jobqueue is needed for --cluster {kind}: pip install 'gator-nb[dask]'"
        ) from exc
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return dask_jobqueue
