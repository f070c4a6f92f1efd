"""The worker side of the dask backend: run one job in the wrapper, stream its events.

Runs inside Dask worker processes. Owns the per-process registry of running jobs (for
cancellation), the worker's watchdog (which stops its jobs if the worker is killed
outright), event batching onto the run's ``distributed.Queue``, and the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gator_nb.engine.launch import Launch
from gator_nb.engine.launcher import open_channel
from gator_nb.engine.monitor import Monitor
from gator_nb.engine.process import run_job
from gator_nb.engine.watchdog import Watchdog
from gator_nb.events import Event, JobFinished, Status

__all__ = ["Reply", "Request", "cancel_jobs", "execute", "forget_run", "import_distributed"]

BATCH_S = 0.1  # a running job's events travel to the engine at most this often
_WATCH_S = 0.5  # how often a job checks that its worker is not shutting down
_CLOSING = frozenset({"closing", "closed", "closing_gracefully", "failed"})


def import_distributed() -> Any:
    """``distributed``, imported on first use (heavy, and an optional dependency)."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "distributed is needed for the dask backend: pip install 'gator-nb[dask]'"
        ) from exc
    return distributed


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """What a worker needs to run one job and stream its events back."""

    launch: Launch
    key: str  # the Dask key; also names the job in the event queue
    queue: str
    sample_interval_s: float
    batch_s: float = BATCH_S


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A job's end: how many batches went through the queue, and the events left over."""

    sent: int
    events: tuple[Event, ...]
    shut_down: str = ""  # the worker's address, when its shutdown stopped the job


class _Registry:
    """Jobs running in this worker process, so the engine can cancel them by key.

    Module state on purpose: tasks and ``Client.run`` calls meet only in the process.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = {}
        self.doomed: set[str] = set()  # cancelled before they started here
        self.queues: dict[str, Any] = {}

    def enter(self, key: str, task: asyncio.Task[Any]) -> bool:
        with self.lock:
            if key in self.doomed:
                self.doomed.discard(key)
                return False
            self.running[key] = (asyncio.get_running_loop(), task)
            return True

    def leave(self, key: str) -> None:
        with self.lock:
            self.running.pop(key, None)

    def cancel(self, keys: Iterable[str]) -> None:
        with self.lock:
            for key in keys:
                entry = self.running.pop(key, None)
                if entry is None:
                    self.doomed.add(key)
                else:
                    loop, task = entry
                    loop.call_soon_threadsafe(task.cancel)

    def forget(self, prefix: str) -> None:
        with self.lock:
            self.doomed = {k for k in self.doomed if not k.startswith(prefix)}
            queues = [q for name, q in self.queues.items() if name.startswith(prefix)]
            self.queues = {n: q for n, q in self.queues.items() if not n.startswith(prefix)}
        for queue in queues:
            queue.close()

    def queue(self, name: str) -> Any:
        with self.lock:
            queue = self.queues.get(name)
        if queue is None:
            # Made outside the lock: it waits on the worker's loop, which may be
            # waiting for the lock in `cancel`. Two threads may race; one queue wins.
            dd = import_distributed()
            made = dd.Queue(name, client=dd.get_client())
            with self.lock:
                queue = self.queues.setdefault(name, made)
            if queue is not made:
                made.close()
        return queue


_REGISTRY = _Registry()


def cancel_jobs(keys: Sequence[str]) -> None:
    """Stop these jobs if they run in this worker process, or never start them."""
    _REGISTRY.cancel(keys)


def forget_run(prefix: str) -> None:
    """Drop what this worker process kept for a finished run."""
    _REGISTRY.forget(prefix)


def _send(queue: str, key: str, batch: list[Event], worker: str) -> bool:
    """Put one batch on the run's event queue (blocking: runs in a thread).

    Each batch names the worker it comes from: the engine learns from the first one
    where the job really started, which decides what a lost worker means for it.
    """
    try:
        blob = pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)
        _REGISTRY.queue(queue).put((key, blob, worker))
    except Exception:  # noqa: BLE001 - a broken channel must not break the job: the
        return False  # events then travel with its reply instead
    return True


class _Outbox:
    """Batches one job's events; sends a batch every ``batch_s``, the rest go with the reply."""

    def __init__(self, request: Request, worker: str) -> None:
        self._request, self._worker = request, worker
        self._pending: list[Event] = []
        self._finished: list[Event] = []  # always sent with the reply, never in a batch
        self._waiting = asyncio.Event()
        self._closing = asyncio.Event()
        self.sent = 0

    def add(self, event: Event) -> None:
        if isinstance(event, JobFinished):
            # The engine reads the job's end from the reply; a batch timer firing before
            # close() (a loaded host) would otherwise send it early and leave the reply
            # without it ("the worker sent no result").
            self._finished.append(event)
            return
        self._pending.append(event)
        self._waiting.set()

    def close(self) -> None:
        self._closing.set()
        self._waiting.set()

    def tail(self) -> tuple[Event, ...]:
        return (*self._pending, *self._finished)

    async def pump(self) -> None:
        request = self._request
        while True:
            await self._waiting.wait()
            if self.sent:  # the first batch (the job's start) goes at once, the rest batched
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), request.batch_s)
            if self._closing.is_set():
                return  # whatever is left goes with the reply, in order
            batch, self._pending = self._pending, []
            self._waiting.clear()
            sent = await asyncio.to_thread(_send, request.queue, request.key, batch, self._worker)
            if not sent:
                self._pending[:0] = batch
                return
            self.sent += 1


def execute(request: Request) -> Reply:
    """Run one job on this worker (a Dask task, so it runs in a worker thread)."""
    job_dir = request.launch.env.get("GATOR_JOB_DIR")
    if job_dir:  # exists already on a filesystem shared with the engine
        with contextlib.suppress(OSError):
            os.makedirs(job_dir, exist_ok=True)
    return asyncio.run(_serve(request))


_watchdog: list[Watchdog] = []  # one per worker process, started by its first job
_watchdog_lock = threading.Lock()


def _worker_watchdog(grace_s: float) -> Watchdog:
    """This process's watchdog; it lives as long as the worker (its pipe closes with it)."""
    with _watchdog_lock:
        if not _watchdog:
            _watchdog.append(Watchdog(grace_s))
        return _watchdog[0]


async def _serve(request: Request) -> Reply:
    outbox = _Outbox(request, _worker_address())
    monitor = Monitor(outbox.add, interval_s=request.sample_interval_s)
    launcher = await open_channel()  # the worker process's launcher, for this job's loop
    # The launcher stops its jobs if the worker dies; without it, a watchdog does.
    watchdog = _worker_watchdog(request.launch.grace_s) if launcher is None else None
    job = asyncio.create_task(
        run_job(request.launch, outbox.add, monitor, watchdog=watchdog, launcher=launcher)
    )
    if not _REGISTRY.enter(request.key, job):
        job.cancel()  # the engine gave up on it before it started: never spawn it
    sampling = asyncio.create_task(monitor.run())
    pumping = asyncio.create_task(outbox.pump())
    watching = asyncio.create_task(_watch_worker(job))
    try:
        await asyncio.wait((job,))
    finally:
        _REGISTRY.leave(request.key)
        if launcher is not None:
            launcher.close()
        sampling.cancel()
        watching.cancel()
        outbox.close()
        await asyncio.gather(sampling, watching, pumping, return_exceptions=True)
    if not job.cancelled():
        job.result()  # a bug in the wrapper errs the task; the engine reports it
    elif not any(isinstance(e, JobFinished) for e in outbox.tail()):
        outbox.add(JobFinished(job=request.launch.job, time=time.time(), status=Status.CANCELLED))
    # A cancelled job ends here, not with CancelledError: its reply says it was cancelled.
    shut_down = watching.result() if watching.done() and not watching.cancelled() else ""
    return Reply(sent=outbox.sent, events=outbox.tail(), shut_down=shut_down)


def _worker_address() -> str:
    try:
        return str(import_distributed().get_worker().address)
    except ValueError:  # not inside a worker (called directly)
        return ""


async def _watch_worker(job: asyncio.Task[Any]) -> str:
    """Stop the job when its worker shuts down (scheduler lost, retired, walltime); say which.

    A closing worker waits for its task threads: without this it would wait for the
    job, or leave its process group running when the worker process exits.
    """
    try:
        worker = import_distributed().get_worker()
    except ValueError:  # not inside a worker (called directly)
        return ""
    # Polled: the status lives on the worker's loop, and nothing there can wake ours.
    while worker.status.name not in _CLOSING:  # noqa: ASYNC110
        await asyncio.sleep(_WATCH_S)
    job.cancel()
    return str(worker.address)
