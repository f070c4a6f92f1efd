"""``Run``: a run as the user holds it — live in a thread, live elsewhere, or finished.

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
import sys
import threading
import time
from collections.abc import Collection, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gator_nb.errors import GatorError, StoreError
from gator_nb.events import Severity, Status
from gator_nb.execution import Execution, runs_dir_of
from gator_nb.spec import Spec, load_spec
from gator_nb.spec.load import suggest
from gator_nb.state import RunState, group_rows, render_tree
from gator_nb.store import StoreReader, list_runs
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

T = TypeVar("T")


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
            rows = reader.jobs()
            state = RunState(
                ((r["job"], r["group"] or None) for r in rows),
                ((g["path"], g["parent"], g["kind"]) for g in reader.groups()),
            )
            for row in rows:
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
