"""``Run``: a run as the user holds it — live in a thread, live elsewhere, or finished.

(The module is ``runner``, not ``run``: a submodule named ``run`` would shadow the
function ``gator_nb.run`` once imported.)

A run started from Python executes on a private event loop in a daemon thread (the
kernel's loop is never borrowed), so notebooks stay responsive while jobs run. The
CLI drives the same :class:`Execution` with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gator_nb.control import request_cancel
from gator_nb.errors import GatorError, StoreError
from gator_nb.events import Event, Status
from gator_nb.execution import Execution, runs_dir_of
from gator_nb.record import RunRecord
from gator_nb.spec import Spec
from gator_nb.spec.size import MAX_JOBS
from gator_nb.state import RunState
from gator_nb.store import StoreReader, list_runs
from gator_nb.store.reader import has_store

if TYPE_CHECKING:
    import pandas as pd  # noqa: TID251 - types only; frames.py does the importing


__all__ = [
    "Execution",
    "Run",
    "compare",
    "find_run",
    "load",
    "rerun",
    "run",
    "runs",
    "runs_dir_of",
]

T = TypeVar("T")


class Run(RunRecord):
    """A run: live in this process, live in another one, or finished.

    Attributes:
        id: the run id, e.g. ``20261127-221503-7f3a``.
        path: the run directory.
    """

    def __init__(self, path: Path, execution: Execution | None = None) -> None:
        super().__init__(path)
        self._execution = execution
        self._done = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Status] | None = None
        self._error: BaseException | None = None
        if execution is None:
            self._done.set()

    # -- starting ----------------------------------------------------------------------

    @classmethod
    def start(cls, execution: Execution) -> Run:
        """Run ``execution`` on a private event loop in a daemon thread."""
        live = cls(execution.path, execution)
        started = threading.Event()
        thread = threading.Thread(
            target=live._thread, args=(started,), daemon=True, name=f"gator-{execution.id}"
        )
        thread.start()
        started.wait()
        atexit.register(live._stop_at_exit)
        return live

    def _thread(self, started: threading.Event) -> None:
        assert self._execution is not None
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._task = loop.create_task(self._execution.main())
        loop.call_soon(started.set)
        try:
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - handed to whoever waits on the run
            self._error = exc
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            # Nothing to stop at exit any more: let the Run go when the user drops it.
            atexit.unregister(self._stop_at_exit)
            self._done.set()

    def _stop_at_exit(self) -> None:
        if not self._done.is_set():
            self.cancel()

    # -- state ---------------------------------------------------------------------------

    @property
    def status(self) -> str:
        """running | passed | failed | cancelled."""
        if self._execution is not None:
            return str(self._execution.status.value)
        with self._reader() as reader:
            return str(reader.run_info()["status"])

    def info(self) -> dict[str, Any]:
        """What the run is: ``id``, ``spec``, ``status``, ``start``, ``end``, ``cwd``,
        ``argv``, ``hostname``, ``parent``, ``backend``, ``interrupted`` (its engine died),
        and a count of jobs per status (``passed``, ``failed``...) and in all (``jobs``).
        """
        info = super().info()
        if self._execution is not None:
            info["status"] = self._execution.status.value
        return info

    @property
    def state(self) -> RunState:
        """The run tree with per-group aggregates (live, or rebuilt from the store)."""
        if self._execution is not None:
            return self._execution.state
        return super().state

    def wait(self, timeout: float | None = None) -> str:
        """Block until the run ends (or ``timeout`` seconds pass); returns the status."""
        if self._execution is None:
            deadline = None if timeout is None else time.monotonic() + timeout
            # Another process is writing this run: its store is all there is to watch.
            while self.status == "running" and (deadline is None or time.monotonic() < deadline):
                time.sleep(0.2)
            return self.status
        try:
            self._done.wait(timeout)
        except KeyboardInterrupt:
            # A kernel survives Ctrl-C: the run must not go on without anyone waiting.
            self.cancel()
            raise
        if self._error is not None:
            raise self._error
        view = sys.modules.get("gator_nb.notebook.view")  # shown in a notebook: say it ended
        if view is not None and self._done.is_set():
            view.waited(self)
        return self.status

    def cancel(self, timeout: float = 60.0) -> None:
        """Stop every job (their whole process groups) and mark the run cancelled.

        A run live in another process (``gn.load(id).cancel()``) is asked to stop
        through its run directory; this waits up to ``timeout`` seconds for it to end.

        Raises:
            GatorError: the run is live on another host, or did not end in time.
        """
        if self._execution is None:
            self._cancel_elsewhere(timeout)
            return
        if self._loop is not None and self._task is not None and not self._done.is_set():
            try:
                self._loop.call_soon_threadsafe(self._task.cancel)
            except RuntimeError:  # the loop closed between the check and the call
                return
            self._done.wait()

    def subscribe(self, listener: Callable[[Event], None]) -> bool:
        """Call ``listener`` with each engine event of this live run, on the engine's
        thread (keep it quick); False when the run is not executing in this process.
        A listener that raises is dropped, and the run notes it in its problems.
        """
        if self._execution is None or self._done.is_set():
            return False
        self._execution.listeners.append(listener)
        return True

    def _cancel_elsewhere(self, timeout: float) -> None:
        with self._reader() as reader:
            info = reader.run_info()
        if info["status"] != "running":
            return  # finished, or its engine died (its watchdog stopped the jobs)
        if not request_cancel(self.path):
            if info["hostname"] != socket.gethostname():
                raise GatorError(f"run {self.id} is running on {info['hostname']}: cancel it there")
            if self.status == "running":  # not the engine ending meanwhile: say so
                raise GatorError(
                    f"cannot reach the engine of run {self.id} (pid {info['pid']}) to stop it;"
                    " stop that process (SIGTERM stops its jobs as Ctrl-C does)"
                )
            return
        deadline = time.monotonic() + timeout
        while self.status == "running":  # another process's store: only its commits tell
            if time.monotonic() > deadline:
                raise GatorError(f"run {self.id} was asked to stop but is still running")
            time.sleep(0.1)

    def on_loop(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T] | None:
        """Run ``coroutine`` on the engine's loop (views refresh from there); None if done."""
        if self._loop is None or self._done.is_set():
            coroutine.close()
            return None
        try:
            return asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        except RuntimeError:  # the loop closed between the check and the call
            coroutine.close()
            return None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """The live view while running, a summary once finished (gator_nb.notebook)."""
        from gator_nb.notebook.view import mimebundle

        return mimebundle(self, include=include, exclude=exclude)

    def __repr__(self) -> str:
        return f"<gator Run {self.id} {self.status}>"


def run(
    spec: str | os.PathLike[str] | Spec,
    parallel: int | None = None,
    runs_dir: str | os.PathLike[str] | None = None,
    backend: str = "local",
    scheduler: Any = None,
    wait: bool = True,
    *,
    cluster: str | None = None,
    memory: int | None = None,
    licenses: Mapping[str, int] | None = None,
    sample_interval: float = 1.0,
    env: Mapping[str, str] | None = None,
    seed: int | None = None,
    max_jobs: int = MAX_JOBS,
    shared: bool = False,
) -> Run:
    """Start a run of ``spec``; with ``wait`` (the default) return once it has ended.

    ``env`` wins over the spec's ``env`` at every level; ``seed`` is the run's seed (each
    job's ``GATOR_SEED`` derives from it; random and recorded when None).
    ``cluster`` starts a Dask cluster for the run (``local``, or ``slurm``, ``lsf``,
    ``sge``, ``pbs`` through dask-jobqueue and the Dask config) and closes it after.
    A spec that expands to more than ``max_jobs`` jobs (or groups) is refused unbuilt.
    ``shared``: the run directory and store follow the umask instead of being private
    to the user (owner-only), so that a group can read them.

    Raises:
        SpecError: the spec has problems; nothing was run.
        LaunchError: an option or the backend cannot be used; nothing was run.
    """
    execution = Execution(
        spec,
        backend=backend,
        scheduler=scheduler,
        cluster=cluster,
        runs_dir=runs_dir,
        parallel=parallel,
        memory=memory,
        licenses=licenses,
        sample_interval=sample_interval,
        argv=tuple(sys.argv),
        env=env,
        seed=seed,
        max_jobs=max_jobs,
        shared=shared,
    )
    started = Run.start(execution)
    if wait:
        started.wait()
    return started


def find_run(name: str | os.PathLike[str], runs_dir: str | os.PathLike[str] | None = None) -> Path:
    """A run directory from a path, a run id, a unique id prefix, or ``latest``."""
    path = Path(name)
    if has_store(path):
        return path.absolute()
    base = runs_dir_of(runs_dir)
    known = sorted(p.name for p in base.glob("*") if has_store(p))
    if str(name) == "latest" and known:
        return base / known[-1]
    matches = [k for k in known if k.startswith(str(name))]
    if len(matches) == 1:
        return base / matches[0]
    if not matches:
        raise StoreError(f"no run {str(name)!r} in {base}")
    raise StoreError(f"{str(name)!r} matches {len(matches)} runs in {base}: {', '.join(matches)}")


def load(name: str | os.PathLike[str], runs_dir: str | os.PathLike[str] | None = None) -> Run:
    """A finished or live run, by id, id prefix, ``latest`` or path."""
    path = find_run(name, runs_dir)
    StoreReader(path).close()  # fail now, naming the path, if it cannot be read
    return Run(path)


def runs(runs_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """One row per run in ``runs_dir``, newest last.

    Runs that cannot be read (another user's, a broken store) are left out and listed,
    one line each, in the frame's ``attrs["skipped"]``.
    """
    from gator_nb import frames

    skipped: list[str] = []
    table = frames.runs(list_runs(runs_dir_of(runs_dir), skipped))
    table.attrs["skipped"] = skipped
    return table


def rerun(
    previous: Run | str | os.PathLike[str],
    failed: bool = True,
    only: Iterable[str] | None = None,
    env: Mapping[str, str] | None = None,
    deps: bool = True,
    *,
    parallel: int | None = None,
    runs_dir: str | os.PathLike[str] | None = None,
    wait: bool = True,
    **options: Any,
) -> Run:
    """Run again the failed jobs of ``previous`` (and those skipped because of them), every
    job (``failed=False``) or the jobs under the paths in ``only``: a child run.

    The new run uses the spec, working directory, environment and seeds ``previous`` ran
    with, plus ``env`` overrides. With ``deps`` it also reruns every job the chosen ones
    wait on through ``on_pass`` and ``inputs``, transitively, so that a fixed source is
    rebuilt; without, they use ``previous``'s artefacts.
    """
    before = previous if isinstance(previous, Run) else load(previous, runs_dir)
    execution = Execution.rerun(
        before.path,
        failed=failed,
        only=None if only is None else list(only),
        env=env,
        deps=deps,
        runs_dir=runs_dir,
        parallel=parallel,
        argv=tuple(sys.argv),
        **options,
    )
    started = Run.start(execution)
    if wait:
        started.wait()
    return started


def compare(before: Run | str, after: Run | str, runs_dir: str | None = None) -> pd.DataFrame:
    """Per job of two runs: both statuses, ``change`` and duration / peak-memory ratios.

    When ``after`` is a rerun of ``before``, the jobs it did not run are ``not-rerun``.
    Each metric either run reported adds ``NAME_a``, ``NAME_b`` and ``NAME_delta``.
    """
    from gator_nb import frames

    a = before if isinstance(before, Run) else load(before, runs_dir)
    b = after if isinstance(after, Run) else load(after, runs_dir)
    return frames.compare(a.jobs, b.jobs, rerun=b.parent == a.id, metrics=(a.metrics, b.metrics))
