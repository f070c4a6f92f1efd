"""``Run``: the composition root tying spec, engine, store and state together.

A run started from Python executes on a private event loop in a daemon thread (the
kernel's loop is never borrowed), so notebooks stay responsive while jobs run. The
CLI drives the same :class:`Execution` with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import dataclasses
import json
import os
import shlex
import socket
import sys
import threading
import time
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gator_nb.engine.backends import open_backend
from gator_nb.engine.monitor import Monitor
from gator_nb.engine.schedule import Limits, run_plan
from gator_nb.errors import GatorError, LaunchError, StoreError
from gator_nb.events import Event, Severity, Status
from gator_nb.spec import Spec, load_spec, plan
from gator_nb.spec.load import suggest
from gator_nb.spec.plan import subset
from gator_nb.state import RunState, group_rows, render_tree
from gator_nb.store import GroupRow, JobRow, RunInfo, StoreReader, StoreWriter, list_runs
from gator_nb.triage import reproduce, rerun_selection

if TYPE_CHECKING:
    import pandas as pd  # noqa: TID251 - types only; frames.py does the importing

    from gator_nb.plots import RunPlots

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

Listener = Callable[[Event], None]
T = TypeVar("T")


def runs_dir_of(runs_dir: str | os.PathLike[str] | None) -> Path:
    """The runs directory: the argument, else ``$GATOR_RUNS_DIR``, else ``./gator-runs``."""
    return Path(runs_dir or os.environ.get("GATOR_RUNS_DIR") or "gator-runs").absolute()


def _new_run_id(now: float, runs_dir: Path) -> str:
    """``20261127-221503-7f3a``: UTC start time, sortable; the last part in 1/65536 s."""
    tick = int((now % 1) * 65536)
    while True:  # two runs in the same 15 us: take the next free tick
        run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + f"-{tick:04x}"
        if not (runs_dir / run_id).exists():
            return run_id
        tick += 1


class Execution:
    """One run being executed: its directory, plan, store writer and live state."""

    def __init__(
        self,
        spec: str | os.PathLike[str] | Spec,
        *,
        runs_dir: str | os.PathLike[str] | None = None,
        parallel: int | None = None,
        memory: int | None = None,
        licenses: Mapping[str, int] | None = None,
        sample_interval: float = 1.0,
        grace_s: float = 2.0,
        argv: Sequence[str] = (),
        parent: str | None = None,
        backend: str = "local",
        scheduler: Any = None,
        base_env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        only: Collection[str] | None = None,
    ) -> None:
        """Plan ``spec`` and open its store; ``only`` restricts it to those jobs (reruns)."""
        self.spec = spec if isinstance(spec, Spec) else load_spec(Path(spec), dependencies=False)
        self.start = time.time()
        self.id = _new_run_id(self.start, runs_dir_of(runs_dir))
        self.path = runs_dir_of(runs_dir) / self.id
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.cwd = cwd or os.getcwd()
        self.plan = plan(
            self.spec, base_env=self.base_env, cwd=self.cwd, run_id=self.id, run_dir=str(self.path)
        )
        if only is not None:
            self.plan = subset(self.plan, only)
        try:  # only once the plan is good: a bad spec leaves nothing behind
            self.path.mkdir(parents=True)
            # Kept (owner-only) so that a rerun sees the environment this run saw.
            fd = os.open(self.path / "environ.json", os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(self.base_env, out)
        except OSError as exc:
            raise LaunchError(f"cannot create the run directory {self.path}: {exc}") from None
        self.limits = Limits(
            parallel=parallel or os.cpu_count() or 1,
            memory=memory,
            licenses=dict(licenses or {}),
            grace_s=grace_s,
        )
        self.sample_interval = sample_interval
        self.backend, self.scheduler = backend, scheduler
        self.state = RunState(
            ((j.path, j.group) for j in self.plan.jobs),
            ((g.path, g.parent, g.kind) for g in self.plan.groups.values()),
        )
        self.listeners: list[Listener] = []
        self.problems: list[str] = []  # what went wrong around the jobs (not in them)
        self.status = Status.RUNNING
        self.writer = StoreWriter(self.path)
        self.writer.begin(self._info(argv, parent), self._job_rows(), self._group_rows())

    def _info(self, argv: Sequence[str], parent: str | None) -> RunInfo:
        return RunInfo(
            id=self.id,
            spec=self.spec.file,
            spec_text=self.spec.text,
            start=self.start,
            cwd=self.cwd,
            argv=tuple(argv),
            hostname=socket.gethostname(),
            parent=parent,
        )

    def _job_rows(self) -> list[JobRow]:
        return [
            JobRow(
                job=j.path,
                group=j.group or "",
                index=j.index,
                array_index=j.array_index,
                command=shlex.join(j.argv),
                argv=j.argv,
                cwd=j.cwd,
                env=j.env,
                cores=j.cores,
                memory=j.memory,
                licenses=j.licenses,
                timeout_s=j.timeout_s,
                depends=tuple((c.kind, t) for c in j.conditions for t in c.targets),
            )
            for j in self.plan.jobs
        ]

    def _group_rows(self) -> list[GroupRow]:
        return [
            GroupRow(
                path=g.path, parent=g.parent, kind=g.kind, index=g.index, array_index=g.array_index
            )
            for g in self.plan.groups.values()
        ]

    def sink(self, event: Event) -> None:
        """Fan one engine event out to the store, the state and any listeners."""
        self.writer.put(event)
        self.state.apply(event)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception as exc:  # noqa: BLE001 - a broken view must not stop the jobs
                self.listeners.remove(listener)
                self.problems.append(f"a view stopped: {exc!r}")

    async def main(self) -> Status:
        """Run every job; always closes the store, whatever happens."""
        monitor = Monitor(self.sink, interval_s=self.sample_interval)
        sampling = asyncio.create_task(monitor.run(), name="gator-monitor")
        try:
            async with open_backend(
                self.backend, monitor=monitor, limits=self.limits, scheduler=self.scheduler
            ) as backend:
                self.status = await run_plan(
                    self.plan, self.sink, backend, limits=self.limits, base_env=self.base_env
                )
        except asyncio.CancelledError:
            self.status = Status.CANCELLED
            raise
        finally:
            sampling.cancel()
            await asyncio.gather(sampling, return_exceptions=True)
            self.writer.close()
        return self.status


class Run:
    """A run: live in this process, live in another one, or finished.

    Attributes:
        id: the run id, e.g. ``20261127-221503-7f3a``.
        path: the run directory.
    """

    def __init__(self, path: Path, execution: Execution | None = None) -> None:
        self.path = path
        self.id = path.name
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

    @property
    def parent(self) -> str | None:
        """The id of the run this one reran, if it is a rerun."""
        with self._reader() as reader:
            parent = reader.run_info()["parent"]
        return str(parent) if parent else None

    @property
    def state(self) -> RunState:
        """The run tree with per-group aggregates (live, or rebuilt from the store)."""
        if self._execution is not None:
            return self._execution.state
        with self._reader() as reader:
            state = RunState(
                ((r["job"], r["group"] or None) for r in reader.jobs()),
                ((g["path"], g["parent"], g["kind"]) for g in reader.groups()),
            )
            for row in reader.jobs():
                state.finish_row(row)
            info = reader.run_info()
        state.status = Status(info["status"])
        return state

    def wait(self, timeout: float | None = None) -> str:
        """Block until the run ends (or ``timeout`` seconds pass); returns the status."""
        if self._execution is None:
            deadline = None if timeout is None else time.monotonic() + timeout
            # Another process is writing this run: its store is all there is to watch.
            while self.status == "running" and (deadline is None or time.monotonic() < deadline):
                time.sleep(0.2)
            return self.status
        self._done.wait(timeout)
        if self._error is not None:
            raise self._error
        return self.status

    def cancel(self) -> None:
        """Stop every job (their whole process groups) and mark the run cancelled."""
        if self._loop is not None and self._task is not None and not self._done.is_set():
            try:
                self._loop.call_soon_threadsafe(self._task.cancel)
            except RuntimeError:  # the loop closed between the check and the call
                return
            self._done.wait()

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

    def _reader(self) -> StoreReader:
        return StoreReader(self.path)

    # -- data ----------------------------------------------------------------------------

    @property
    def jobs(self) -> pd.DataFrame:
        """One row per leaf job (see DESIGN.md for the columns)."""
        from gator_nb import frames

        with self._reader() as reader:
            return frames.jobs(reader.jobs())

    @property
    def messages(self) -> pd.DataFrame:
        """One row per log line of every job."""
        from gator_nb import frames

        with self._reader() as reader:
            return frames.messages(reader.messages())

    @property
    def resources(self) -> pd.DataFrame:
        """One row per resource sample per job."""
        from gator_nb import frames

        with self._reader() as reader:
            return frames.resources(reader.samples())

    @property
    def plot(self) -> RunPlots:
        """Figures of this run: ``run.plot.resources()``, ``.timeline()``, ``.summary()``..."""
        from gator_nb.plots import RunPlots

        return RunPlots(self)

    @property
    def groups(self) -> pd.DataFrame:
        """One row per group, array and array copy with its aggregates."""
        from gator_nb import frames

        return frames.groups(group_rows(self.state))

    def messages_of(self, job: str | None = None, severity: str | None = "WARNING") -> pd.DataFrame:
        """Log lines of ``job`` (or all jobs) at ``severity`` or above.

        From WARNING up this reads only the indexed messages, never the raw logs.
        """
        from gator_nb import frames

        floor = Severity[severity.upper()] if severity else None
        with self._reader() as reader:
            self._check_job(reader, job)
            return frames.messages(reader.messages(job, min_severity=floor))

    def failures(self) -> pd.DataFrame:
        """One row per failed job: ``first_error``, ``reason`` and its failure ``bucket``."""
        from gator_nb import frames

        return frames.failures(self.jobs)

    def buckets(self) -> pd.DataFrame:
        """Failed jobs counted per bucket (same normalised first error), with an example."""
        from gator_nb import frames

        return frames.buckets(self.failures())

    def command(self, job: str) -> str:
        """A shell line that reproduces ``job`` by hand: cd, its environment, its command."""
        with self._reader() as reader:
            row = self._check_job(reader, job)
        return reproduce(row["argv"], row["cwd"], row["env"] or {})

    def log(self, job: str) -> str:
        """A job's whole log as text."""
        with self._reader() as reader:
            self._check_job(reader, job)
            return reader.log_text(job)

    def report(self, path: str | os.PathLike[str]) -> Path:
        """Write one self-contained HTML report (tables, buckets, plots) to ``path``."""
        from gator_nb.report import html_report

        return html_report(self, Path(path))

    def to_junit(self, path: str | os.PathLike[str]) -> Path:
        """Write the run as JUnit XML for CI systems; one testcase per job."""
        from gator_nb.report import junit_report

        return junit_report(self, Path(path))

    def _check_job(self, reader: StoreReader, job: str | None) -> dict[str, Any]:
        if job is None:
            return {}
        row = reader.job(job)
        if row is not None:
            return row
        known = [row["job"] for row in reader.query("SELECT job FROM jobs")]
        raise GatorError(f"no job {job!r} in run {self.id}{suggest(job, known)}")

    def tree(self, *, jobs: bool = True) -> str:
        """The run tree with counts, durations and peak memory, as text."""
        return "\n".join(render_tree(self.state, time.time(), jobs=jobs))

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
    memory: int | None = None,
    licenses: Mapping[str, int] | None = None,
    sample_interval: float = 1.0,
) -> Run:
    """Start a run of ``spec``; with ``wait`` (the default) return once it has ended.

    Raises:
        SpecError: the spec has problems; nothing was run.
    """
    execution = Execution(
        spec,
        backend=backend,
        scheduler=scheduler,
        runs_dir=runs_dir,
        parallel=parallel,
        memory=memory,
        licenses=licenses,
        sample_interval=sample_interval,
        argv=tuple(sys.argv),
    )
    started = Run.start(execution)
    if wait:
        started.wait()
    return started


def find_run(name: str | os.PathLike[str], runs_dir: str | os.PathLike[str] | None = None) -> Path:
    """A run directory from a path, a run id, a unique id prefix, or ``latest``."""
    path = Path(name)
    if (path / "run.sqlite").exists():
        return path.absolute()
    base = runs_dir_of(runs_dir)
    known = sorted(p.name for p in base.glob("*") if (p / "run.sqlite").exists())
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
    """One row per run in ``runs_dir``, newest last."""
    from gator_nb import frames

    return frames.runs(list_runs(runs_dir_of(runs_dir)))


def rerun(
    previous: Run | str | os.PathLike[str],
    failed: bool = True,
    *,
    parallel: int | None = None,
    runs_dir: str | os.PathLike[str] | None = None,
    wait: bool = True,
    **options: Any,
) -> Run:
    """Run again the failed jobs of ``previous`` (and those skipped because of them).

    The new run uses the spec, working directory and environment ``previous`` ran
    with, and records ``previous`` as its parent. ``failed=False`` reruns every job.
    """
    before = previous if isinstance(previous, Run) else load(previous, runs_dir)
    with before._reader() as reader:
        info, rows = reader.run_info(), reader.jobs()
    statuses = {row["job"]: row["status"] for row in rows}
    depends = {row["job"]: _leaves(statuses, [t for _, t in row["depends"] or ()]) for row in rows}
    only = rerun_selection(statuses, depends, failed=failed)
    spec = load_spec(text=info["spec_text"], dependencies=False)
    spec_path = Path(info["cwd"], info["spec"])
    spec = dataclasses.replace(spec, file=info["spec"], directory=str(spec_path.parent))
    environ = before.path / "environ.json"
    base_env = json.loads(environ.read_text()) if environ.exists() else None
    execution = Execution(
        spec,
        runs_dir=runs_dir or before.path.parent,
        parallel=parallel,
        argv=tuple(sys.argv),
        parent=before.id,
        base_env=base_env,
        cwd=info["cwd"],
        only=only,
        **options,
    )
    started = Run.start(execution)
    if wait:
        started.wait()
    return started


def _leaves(jobs: Collection[str], targets: Sequence[str]) -> set[str]:
    """The jobs under each target path (a job, or a group/array/copy instance)."""
    found: set[str] = set()
    for target in targets:
        found.update(j for j in jobs if j == target or j.startswith((target + ".", target + "[")))
    return found


def compare(before: Run | str, after: Run | str, runs_dir: str | None = None) -> pd.DataFrame:
    """Per job of two runs: both statuses, ``change`` and duration / peak-memory ratios."""
    from gator_nb import frames

    a = before if isinstance(before, Run) else load(before, runs_dir)
    b = after if isinstance(after, Run) else load(after, runs_dir)
    return frames.compare(a.jobs, b.jobs)
