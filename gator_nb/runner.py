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
import collections
import concurrent.futures
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gator_nb.control import request_cancel
from gator_nb.errors import GatorError, NoSuchJob, StoreError, UsageError
from gator_nb.events import Event, Severity, Status
from gator_nb.execution import Execution, runs_dir_of
from gator_nb.spec import Spec
from gator_nb.spec.nodes import suggest
from gator_nb.spec.size import MAX_JOBS
from gator_nb.state import RunState, group_metric_rows, group_rows
from gator_nb.store import StoreReader, list_runs
from gator_nb.store.reader import has_store
from gator_nb.triage import reproduce
from gator_nb.views import render, row_text

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
_REPORT_PLOTS = (
    ("Timeline", "timeline"),
    ("Outcome per group", "summary"),
    ("Peak memory per group", "peak_memory"),
    ("Memory over time", "resources"),
)


def _severity(name: str | None) -> Severity | None:
    if name is None:
        return None
    try:
        return Severity[name.upper()]
    except KeyError:
        choices = ", ".join(s.name for s in Severity)
        raise UsageError(f"no severity {name!r}; expected one of {choices}") from None


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

    @property
    def parent(self) -> str | None:
        """The id of the run this one reran, if it is a rerun."""
        parent = self.info()["parent"]
        return str(parent) if parent else None

    def info(self) -> dict[str, Any]:
        """What the run is: ``id``, ``spec``, ``status``, ``start``, ``end``, ``cwd``,
        ``argv``, ``hostname``, ``parent``, ``backend``, ``interrupted`` (its engine died),
        and a count of jobs per status (``passed``, ``failed``...) and in all (``jobs``).
        """
        with self._reader() as reader:
            info = reader.run_info()
        if self._execution is not None:
            info["status"] = self._execution.status.value
        return info

    @property
    def state(self) -> RunState:
        """The run tree with per-group aggregates (live, or rebuilt from the store)."""
        if self._execution is not None:
            return self._execution.state
        with self._reader() as reader:
            jobs, groups, info = reader.jobs(), reader.groups(), reader.run_info()
            metrics = reader.metrics()
        return RunState.from_rows(jobs, groups, Status(info["status"]), metrics)

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
        """One row per log line of every job.

        Built in chunks with categorical ``job``/``severity``/``stream``; for a big run
        read only what you need with :meth:`messages_of` (WARNING and up reads the index,
        never the raw logs) or :meth:`log_tail`.
        """
        from gator_nb import frames

        with self._reader() as reader:
            return frames.lines(reader.line_chunks())

    @property
    def resources(self) -> pd.DataFrame:
        """One row per resource sample per job."""
        from gator_nb import frames

        with self._reader() as reader:
            return frames.resources(reader.samples())

    @property
    def seed(self) -> int:
        """The run's seed: ``gator run --seed N`` (or ``gn.run(seed=N)``) runs the same seeds."""
        return int(self.info()["seed"] or 0)

    @property
    def artefacts(self) -> pd.DataFrame:
        """One row per file a job's ``outputs`` matched: ``job``, ``name``, ``path``, ``bytes``."""
        from gator_nb import frames

        with self._reader() as reader:
            return frames.artefacts(reader.artefacts())

    @property
    def tests(self) -> pd.DataFrame:
        """One row per test case read from the jobs' ``results`` files."""
        from gator_nb import frames

        with self._reader() as reader:
            return frames.tests(reader.tests())

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per job per metric it reported: its last value."""
        from gator_nb import frames

        with self._reader() as reader:
            return frames.metrics(reader.metrics())

    @property
    def group_metrics(self) -> pd.DataFrame:
        """Per group (the root included) per metric: count, sum, min, max, mean over its jobs.

        User metrics, and every finished job's ``duration_s``, ``cpu_s`` and ``peak_rss``.
        """
        from gator_nb import frames

        return frames.group_metrics(group_metric_rows(self.state))

    def tests_of(self, job: str) -> pd.DataFrame:
        """The test cases of one job (``tests``' columns)."""
        from gator_nb import frames

        with self._reader() as reader:
            self._job_row(reader, job)
            return frames.tests(reader.tests(job))

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

        From WARNING up this reads only the indexed messages, never the raw logs, so it is
        the way to read a big run's problems without loading every line.
        """
        from gator_nb import frames

        floor = _severity(severity)
        with self._reader() as reader:
            if job is not None:
                self._job_row(reader, job)
            if floor is None:  # every line: a block at a time, as run.messages
                return frames.lines(reader.line_chunks(job))
            return frames.messages(reader.messages(job, min_severity=floor))

    def log_tail(
        self, job: str, lines: int = 40, severity: str | None = None
    ) -> tuple[list[tuple[str, str]], int]:
        """The last ``lines`` log lines of ``job`` (at ``severity`` or above) as
        ``(severity, text)`` pairs, and how many earlier ones were left out.
        """
        floor = _severity(severity)
        kept: collections.deque[tuple[str, str]] = collections.deque(maxlen=max(lines, 0))
        seen = 0
        with self._reader() as reader:
            self._job_row(reader, job)
            for line in reader.messages(job, min_severity=floor):
                kept.append((str(line["severity"]), str(line["message"])))
                seen += 1
        return list(kept), seen - len(kept)

    def lines(self, job: str, severity: str | None = None) -> Iterator[tuple[str, str]]:
        """``job``'s log lines (at ``severity`` or above) as ``(severity, text)``, streamed
        from the store: constant memory whatever the size of the log.

        Raises:
            NoSuchJob, UsageError: no such job, or no such severity (before any line).
        """
        floor = _severity(severity)
        reader = self._reader()
        try:
            self._job_row(reader, job)
        except BaseException:
            reader.close()
            raise
        return self._stream(reader, job, floor)

    @staticmethod
    def _stream(reader: StoreReader, job: str, floor: Severity | None) -> Iterator[tuple[str, str]]:
        with reader:
            for line in reader.messages(job, min_severity=floor):
                yield str(line["severity"]), str(line["message"])

    def resources_of(self, job: str) -> pd.DataFrame:
        """The resource samples of one job (``resources``' columns)."""
        from gator_nb import frames

        with self._reader() as reader:
            self._job_row(reader, job)
            return frames.resources(reader.samples(job))

    def failures(self) -> pd.DataFrame:
        """One row per failed job: ``first_error``, ``reason`` and its failure ``bucket``."""
        from gator_nb import frames

        return frames.failures(self.jobs)

    def buckets(self) -> pd.DataFrame:
        """Failed jobs counted per bucket (same normalised first error), with an example."""
        from gator_nb import frames

        return frames.buckets(self.failures())

    def job(self, job: str) -> dict[str, Any]:
        """One job's row: ``jobs``' columns plus ``argv``, ``env`` (the spec's overlay) and
        ``metrics`` (name -> last value).

        Raises:
            NoSuchJob: ``job`` is not a job of this run (the message suggests one).
        """
        with self._reader() as reader:
            row = self._job_row(reader, job)
            row["metrics"] = {m["name"]: m["value"] for m in reader.metrics(job)}
        return row

    def command(self, job: str) -> str:
        """A shell line that reproduces ``job`` by hand: cd, its environment, its command."""
        row = self.job(job)
        return reproduce(row["argv"], row["cwd"], row["env"] or {})

    def log(self, job: str) -> str:
        """A job's whole log as text."""
        with self._reader() as reader:
            self._job_row(reader, job)
            return reader.log_text(job)

    def report(self, path: str | os.PathLike[str]) -> Path:
        """Write one self-contained HTML report (tables, buckets, plots) to ``path``."""
        from gator_nb.report import html_report

        failures = self.failures()
        failures = failures.assign(command=[self.command(str(j)) for j in failures["job"]])
        return html_report(
            Path(path),
            run_id=self.id,
            status=self.status,
            jobs=self.jobs,
            failures=failures,
            buckets=self.buckets(),
            rows=render(self.state, time.time(), jobs=False),
            plots=self._pictures(),
            tests=self.tests,
            metrics=self._report_metrics(),
        )

    def _report_metrics(self) -> pd.DataFrame:
        """Group metrics for the report: user metrics of groups and arrays, not copies."""
        table = self.group_metrics
        kinds = dict(zip(self.groups["group"], self.groups["kind"], strict=True))
        keep = table["group"].map(lambda g: kinds.get(g) != "copy") & ~table["name"].isin(
            ["duration_s", "cpu_s", "peak_rss"]
        )
        return table[keep.astype(bool)]

    def _pictures(self) -> dict[str, bytes]:
        """The report's figures as PNG, by title."""
        import io

        pictures = {}
        for title, method in _REPORT_PLOTS:
            buffer = io.BytesIO()
            getattr(self.plot, method)().savefig(buffer, format="png", dpi=100)
            pictures[title] = buffer.getvalue()
        return pictures

    def to_junit(self, path: str | os.PathLike[str]) -> Path:
        """Write the run as JUnit XML for CI systems: a testcase per job, and each job's own
        test cases (from its ``results``) under it."""
        from gator_nb.report import junit_report

        return junit_report(
            Path(path),
            run_id=self.id,
            jobs=self.jobs,
            warnings=self.messages_of(),
            tests=self.tests,
        )

    def _job_row(self, reader: StoreReader, job: str) -> dict[str, Any]:
        row = reader.job(job)
        if row is not None:
            return row
        known = [row["job"] for row in reader.query("SELECT job FROM jobs")]
        raise NoSuchJob(f"no job {job!r} in run {self.id}{suggest(job, known)}")

    def tree(self, *, jobs: bool = True) -> str:
        """The run tree with counts, durations and peak memory, as text."""
        return "\n".join(row_text(row) for row in render(self.state, time.time(), jobs=jobs))

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
