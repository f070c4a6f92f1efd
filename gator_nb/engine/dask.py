"""The Dask backend, engine side: submit jobs, relay their live events, handle failures.

Owns :class:`DaskBackend` (resources, licence semaphores, lost workers or scheduler,
cancellation) and :func:`open_dask`; what runs on the workers is in ``dask_worker``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import os
import pickle
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from gator_nb.engine.dask_channel import Channel
from gator_nb.engine.dask_cluster import Scaler, connect, own_cluster, target_of
from gator_nb.engine.dask_licences import Licenses
from gator_nb.engine.dask_worker import (
    Reply,
    Request,
    cancel_jobs,
    execute,
    forget_run,
    import_distributed,
)
from gator_nb.engine.launch import Launch, Limits, Sink
from gator_nb.errors import LaunchError
from gator_nb.events import (
    JobFinished,
    Reason,
    Status,
)

__all__ = ["CORES", "MEMORY", "DaskBackend", "open_dask"]

CORES = "CORES"  # Dask worker resource that `!Cores` asks for, when workers declare it
MEMORY = "MEMORY"  # ... and `!Memory`, in bytes
_CATCH_UP_S = 5.0  # wait this long for a job's live batches once its reply is in
_RESOURCES_S = 2.0  # how stale the engine's view of the workers' resources may get
_START_GRACE_S = 0.5  # how late a job's first batch may be after its worker is lost
_REQUEUES = 3  # times a job is submitted again because its worker was lost before it started


class DaskBackend:
    """Runs each leaf job as a Dask task; the engine's :class:`Backend` for ``dask``.

    Dependencies, ``--parallel`` and the per-run budgets stay in the engine; this adds
    Dask resources for ``!Cores``/``!Memory`` and cluster-wide licence semaphores.
    """

    def __init__(
        self,
        client: Any,
        *,
        limits: Limits | None = None,
        sample_interval_s: float = 1.0,
        scaler: Scaler | None = None,
    ) -> None:
        self._dd = import_distributed()
        self._scaler = scaler
        self._chores: set[asyncio.Future[None]] = set()  # owned here, awaited in close
        self._lost_reason = Reason.SCHEDULER_LOST
        if scaler is not None:
            scaler.on_broken = self._broken
        self._serial = 0
        self._client = client
        self._limits = limits or Limits()
        self._sample_interval_s = sample_interval_s
        self._prefix = f"gator-{secrets.token_hex(4)}-"
        self._queue_name = self._prefix + "events"
        self._queue: Any = None
        self._channels: dict[str, Channel] = {}
        self._futures: dict[str, Any] = {}
        self._licenses = Licenses(client, self._limits.licenses)
        self._cancelling: set[str] = set()
        self._declared: dict[str, float] = {}
        self._declared_at = -math.inf
        self._refreshing: asyncio.Future[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._stop_s = 4 * self._limits.grace_s + 5.0
        self.lost: str | None = None  # why the scheduler is gone, once it is
        self.lost_jobs = 0  # jobs that failed because of it

    async def start(self) -> None:
        """Open the run's event queue and start listening to it and to worker losses."""
        self._queue = await self._dd.Queue(self._queue_name, client=self._client)
        self._client.subscribe_topic("all", self._on_event)
        self._listener = asyncio.create_task(self._listen(), name="gator-dask-events")
        await self._refresh_resources()

    async def close(self) -> None:
        """Stop listening and drop what workers kept for this run."""
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        self._licenses.close()
        if self._refreshing is not None:
            self._refreshing.cancel()
        await asyncio.gather(*self._chores, return_exceptions=True)
        if self.lost is None and self._client.status == "running":
            self._client.unsubscribe_topic("all")
            self._queue.close()
            with contextlib.suppress(OSError, TimeoutError):
                await self._client.run(forget_run, self._prefix, on_error="ignore")

    async def run(self, launch: Launch, sink: Sink) -> JobFinished:
        """Run ``launch`` on a worker; its events reach ``sink`` while it runs."""
        channel = Channel(launch.job, sink)
        try:
            return await self._run(launch, channel)
        except asyncio.CancelledError:  # wherever it was: waiting for a licence, running
            if not channel.finished:
                channel.end(Status.CANCELLED, Reason.CANCELLED)
            raise

    async def _run(self, launch: Launch, channel: Channel) -> JobFinished:
        if self.lost is not None:
            return self._scheduler_lost(channel)
        try:
            held = await self._licenses.take(launch.licenses)
        except LaunchError as exc:
            return channel.end(Status.FAILED, Reason.LICENSE, f"gator: {exc}")
        try:
            return await self._submit(launch, channel)
        finally:
            await self._licenses.give(held)

    async def _submit(self, launch: Launch, channel: Channel) -> JobFinished:
        """Submit the job until it starts somewhere: a worker lost first is not its end."""
        for _ in range(_REQUEUES + 1):
            finished = await self._attempt(launch, channel)
            if finished is not None:
                return finished
        text = f"gator: {_REQUEUES + 1} Dask workers were lost before this job could start"
        return channel.end(Status.FAILED, Reason.WORKER_LOST, text)

    async def _attempt(self, launch: Launch, channel: Channel) -> JobFinished | None:
        """One submission under a key of its own; None if it must be submitted again."""
        self._serial += 1
        # A key per submission: cancelling a lost one can never stop (or block) the next.
        key = f"{self._prefix}{launch.job}#{self._serial}"
        request = Request(
            launch=launch,
            key=key,
            queue=self._queue_name,
            sample_interval_s=self._sample_interval_s,
        )
        channel.submitted(key)
        self._channels[key] = channel
        try:
            future = self._futures[key] = self._client.submit(
                execute, request, key=key, pure=False, resources=await self._resources(launch)
            )
            self._demand()
            try:
                reply = await future
            except asyncio.CancelledError:  # the engine cancelled the job
                await self._stop(key, future, channel)
                raise
            except concurrent.futures.CancelledError as exc:  # Dask cancelled the future
                return None if channel.requeue else self._vanished(channel, exc)
            except self._dd.KilledWorker as exc:  # allowed_failures=0, or a worker per try
                lost = str(getattr(exc.last_worker, "address", "?"))
                if await self._where(channel, lost) == "never":
                    return None
                channel.lost = lost
                return self._vanished(channel, exc)
            return await self._finish(channel, reply)
        finally:
            self._channels.pop(key, None)
            self._futures.pop(key, None)
            self._demand()

    async def _finish(
        self, channel: Channel, reply: Reply, *, stopping: bool = False
    ) -> JobFinished:
        """Deliver a reply's events after every live batch sent before it."""
        if channel.received < reply.sent:
            channel.want = reply.sent
            # A batch lost on the way must not hang the run: the reply still ends the job.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CATCH_UP_S):
                    await channel.caught_up.wait()
        finished = reply.events[-1] if reply.events else None
        if not isinstance(finished, JobFinished):
            channel.deliver(reply.events)
            return channel.end(Status.FAILED, Reason.INTERNAL, "gator: the worker sent no result")
        if reply.shut_down and not stopping:
            # Stopped because its worker shut down, not because the run was cancelled.
            channel.deliver(reply.events[:-1])
            text = f"gator: the Dask worker {reply.shut_down} shut down while running this job"
            return channel.end(Status.FAILED, Reason.WORKER_LOST, text)
        channel.deliver(reply.events)
        return finished

    def _vanished(self, channel: Channel, exc: BaseException) -> JobFinished:
        if channel.lost is not None:
            text = f"gator: the Dask worker {channel.lost} running this job was lost"
            return channel.end(Status.FAILED, Reason.WORKER_LOST, text)
        if self.lost is not None or (
            getattr(exc, "reason", "") == "scheduler-connection-lost"
            or self._client.status != "running"
        ):
            self.lost = self.lost or (
                f"lost the connection to the Dask scheduler at {self._client.scheduler.address}"
            )
            return self._scheduler_lost(channel)
        return channel.end(
            Status.FAILED, Reason.DASK_CANCELLED, f"gator: Dask cancelled the job: {exc}"
        )

    def _scheduler_lost(self, channel: Channel) -> JobFinished:
        self.lost_jobs += 1
        return channel.end(Status.FAILED, self._lost_reason, f"gator: {self.lost}")

    def _broken(self, why: str) -> None:
        """The cluster cannot start workers; with none left, no job will ever run."""
        chore = asyncio.ensure_future(self._fail_if_no_workers(why))
        self._chores.add(chore)
        chore.add_done_callback(self._chores.discard)

    async def _fail_if_no_workers(self, why: str) -> None:
        with contextlib.suppress(OSError, TimeoutError):
            if (await self._client.scheduler.identity()).get("workers"):
                return  # those go on; replacements are asked for again as jobs need them
        if self.lost is None:
            self.lost, self._lost_reason = why, Reason.CLUSTER
        if self._futures:
            await self._client.cancel(list(self._futures.values()), reason="cluster")

    async def _stop(self, key: str, future: Any, channel: Channel) -> None:
        """The engine cancelled this job: stop it on its worker, pass on what it said."""
        waiter = asyncio.ensure_future(_result(future))
        try:
            await self._cancel_remote([key])
            await asyncio.wait((waiter,), timeout=self._stop_s)
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                await self._finish(channel, waiter.result(), stopping=True)
        finally:
            waiter.cancel()
            if not channel.finished:
                # Dropping the future releases it: a task that never started never will.
                text = "gator: cancelled; the Dask worker did not confirm that the job stopped"
                channel.end(Status.CANCELLED, Reason.CANCELLED, text)

    async def _cancel_remote(self, keys: Iterable[str]) -> None:
        """Tell every worker to stop these jobs (or never start them)."""
        self._cancelling.update(keys)
        await asyncio.sleep(0)  # jobs cancelled in the same turn share one broadcast
        if not self._cancelling:
            return
        keys, self._cancelling = sorted(self._cancelling), set()
        with contextlib.suppress(OSError, TimeoutError):
            await self._client.run(cancel_jobs, keys, on_error="ignore")

    async def _on_event(self, event: tuple[float, Any]) -> None:
        """Scheduler events: a worker that leaves takes the jobs it was running with it.

        Jobs it had been given but not started go back and are submitted again.
        """
        msg = event[1]
        action = msg.get("action") if isinstance(msg, dict) else None
        if action == "add-worker":  # learn its name (a batch job's), and its resources
            await self._refresh_resources()
        if action != "remove-worker":
            return
        worker = str(msg.get("worker", "?"))
        if self._scaler is not None:
            self._scaler.lost(worker)
        keys = [
            key
            for key in (*msg.get("processing-tasks", ()), *msg.get("lost-computed-tasks", ()))
            if key in self._futures
        ]
        await asyncio.gather(*(self._lose(key, worker) for key in keys))

    async def _lose(self, key: str, worker: str) -> None:
        channel = self._channels.get(key)
        if channel is None:  # its submission ended meanwhile (KilledWorker came first)
            return
        where = await self._where(channel, worker)
        if where == "elsewhere" or channel.key != key or key not in self._futures:
            return  # Dask moved it and it started there; or it ended meanwhile
        if where == "there":
            channel.lost = worker
        else:
            channel.requeue = True
        await self._client.cancel([self._futures[key]], reason="worker-lost")
        # Dask may already have restarted a task elsewhere: no second copy of the job.
        await self._cancel_remote([key])

    async def _where(self, channel: Channel, lost: str) -> str:
        """Where the submission in flight started: "there" (on ``lost``), "elsewhere", "never".

        Its first batch is sent as it starts, but may still be on its way: wait a moment.
        """
        if channel.worker is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_START_GRACE_S):
                    await channel.arrived.wait()
        if channel.worker is None:
            return "never"
        return "there" if channel.worker == lost else "elsewhere"

    def _demand(self) -> None:
        """Tell a cluster gator owns how many jobs are in flight, so it can grow."""
        if self._scaler is not None:
            self._scaler.demand(len(self._futures))

    async def _listen(self) -> None:
        """Hand live event batches from the workers to their jobs' sinks."""
        try:
            while True:
                items = [await self._queue.get()]
                items += await self._queue.get(batch=True)
                for key, blob, worker in items:
                    channel = self._channels.get(key)
                    if channel is not None:  # else it ended already (lost or cancelled)
                        channel.batch(pickle.loads(blob), worker)
        except (OSError, TimeoutError):  # CommClosedError is an OSError
            address = self._client.scheduler.address
            self.lost = self.lost or f"lost the connection to the Dask scheduler at {address}"

    async def _resources(self, launch: Launch) -> dict[str, float] | None:
        """Dask resources for a job, only for those the workers declare."""
        if self._refreshing is None and time.monotonic() - self._declared_at > _RESOURCES_S:
            self._refreshing = asyncio.ensure_future(self._refresh_resources())
            self._refreshing.add_done_callback(self._refreshed)
        if self._refreshing is not None:
            # Every job waits for the same refresh: jobs are submitted in the order they
            # came, so Dask gives the first ones the first workers (spec order).
            await asyncio.shield(self._refreshing)
        cores, memory = launch.cores, launch.memory
        wanted: dict[str, float] = {}
        # Clamped to the biggest worker, as the engine clamps to its budget: a request
        # no worker can meet would wait forever.
        if CORES in self._declared:
            wanted[CORES] = min(cores, self._declared[CORES])
        if memory and MEMORY in self._declared:
            wanted[MEMORY] = min(memory, self._declared[MEMORY])
        return wanted or None

    def _refreshed(self, _: asyncio.Future[None]) -> None:
        self._refreshing = None

    async def _refresh_resources(self) -> None:
        self._declared_at = time.monotonic()  # one refresh at a time; others use the last
        try:
            info = await self._client.scheduler.identity(n_workers=-1)
        except (OSError, TimeoutError):
            return
        declared: dict[str, float] = {}
        workers = info.get("workers", {})
        if self._scaler is not None:
            self._scaler.named({a: str(w.get("name")) for a, w in workers.items()})
        for worker in workers.values():
            for name, amount in (worker.get("resources") or {}).items():
                declared[name] = max(declared.get(name, 0.0), float(amount))
        self._declared = declared


async def _result(future: Any) -> Any:
    return await future


@contextlib.asynccontextmanager
async def open_dask(
    scheduler: Any = None,
    *,
    cluster: str | None = None,
    limits: Limits | None = None,
    sample_interval_s: float = 1.0,
    spool: str | None = None,
) -> AsyncIterator[DaskBackend]:
    """A :class:`DaskBackend` connected to ``scheduler``, closed (with its cluster) after.

    ``scheduler`` is an address (``tcp://host:8786``), a ``distributed.Client``, a
    cluster object (anything with ``scheduler_address``, e.g. a dask-jobqueue
    ``SLURMCluster``), or None for a cluster of the run's own: ``cluster`` names its kind
    (``local``, the default, or ``slurm``, ``lsf``, ``sge``, ``pbs``). ``spool``: a
    private directory where a batch cluster's worker credentials may be written.

    Raises:
        LaunchError: the scheduler cannot be reached, or was lost while jobs ran.
    """
    dd = import_distributed()
    limits = limits or Limits()
    if scheduler is not None and cluster is not None:
        raise LaunchError("give a scheduler or a cluster to start, not both")
    async with contextlib.AsyncExitStack() as stack:
        if scheduler is None:
            spool = spool or os.getcwd()
            target, scaler = await own_cluster(dd, cluster or "local", stack, limits, spool)
        else:
            target, scaler = target_of(dd, scheduler), None
        client = await connect(dd, target)
        stack.push_async_callback(client.close)
        backend = DaskBackend(
            client, limits=limits, sample_interval_s=sample_interval_s, scaler=scaler
        )
        await backend.start()
        try:
            yield backend
        finally:
            await backend.close()
    if backend.lost is not None and backend.lost_jobs:
        raise LaunchError(f"{backend.lost}: {backend.lost_jobs} job(s) failed with it")
