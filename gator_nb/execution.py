"""``Execution``: one run being executed — its directory, plan, store writer and state.

The same object serves the CLI (under ``asyncio.run``) and ``Run`` (on a private loop
in a thread); it fans every engine event out to the store, the state and the views.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shlex
import socket
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from gator_nb.control import Control
from gator_nb.engine.backends import check_backend, open_backend
from gator_nb.engine.launch import Limits
from gator_nb.engine.monitor import Monitor
from gator_nb.engine.platform import check_platform
from gator_nb.engine.schedule import run_plan
from gator_nb.errors import LaunchError, NoSuchJob, StoreError
from gator_nb.events import Artefact, Event, JobFinished, JobStarted, Reason, RunFinished, Status
from gator_nb.options import MAX_MEMORY
from gator_nb.paths import jobs_under
from gator_nb.redact import Redactor
from gator_nb.spec import Spec, load_spec, plan
from gator_nb.spec.nodes import suggest
from gator_nb.spec.seeds import MAX_SEED, new_run_seed
from gator_nb.spec.size import MAX_JOBS
from gator_nb.spec.steering import NAME as VARIABLE
from gator_nb.state import RunState
from gator_nb.store import GroupRow, JobRow, RunInfo, StoreReader, StoreWriter
from gator_nb.triage import rerun_selection, with_needs

__all__ = ["Execution", "Listener", "runs_dir_of"]

Listener = Callable[[Event], None]


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


def _limits(
    parallel: int | None,
    memory: int | None,
    licenses: Mapping[str, int] | None,
    grace_s: float,
) -> Limits:
    if parallel is not None and parallel < 1:
        raise LaunchError(f"parallel must be at least 1, got {parallel}")
    if memory is not None and not memory >= 1:  # nan too
        raise LaunchError(f"the memory budget must be at least 1 byte, got {memory}")
    if memory is not None and memory > MAX_MEMORY:  # inf too
        raise LaunchError(f"the memory budget must be at most 1 EB, got {memory}")
    bad = {name: seats for name, seats in (licenses or {}).items() if seats < 1}
    if bad:
        raise LaunchError(f"licence seats must be at least 1, got {bad}")
    return Limits(
        parallel=parallel or os.cpu_count() or 1,
        memory=memory,
        licenses=dict(licenses or {}),
        grace_s=grace_s,
    )


def _overrides(env: Mapping[str, str] | None) -> dict[str, str]:
    bad = [name for name in env or {} if not VARIABLE.fullmatch(str(name))]
    if bad:
        raise LaunchError(f"expected variable names (letters, digits, '_'), got {bad}")
    return {str(name): str(value) for name, value in (env or {}).items()}


def _seed(seed: int | None) -> int:
    if seed is None:
        return new_run_seed()
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise LaunchError(f"the seed must be a whole number 0 to {MAX_SEED}, got {seed!r}")
    return seed


def _only(jobs: Collection[str], only: Collection[str]) -> set[str]:
    """The jobs under each path of ``only``; a path that names none is an error."""
    chosen: set[str] = set()
    for path in only:
        found = jobs_under(jobs, [path])
        if not found:
            raise NoSuchJob(f"no job or group {path!r} in the run{suggest(path, sorted(jobs))}")
        chosen |= found
    return chosen


def _interval(seconds: float) -> float:
    # A zero, negative or NaN interval would sample in a busy loop.
    if not 0.01 <= seconds <= 86400:
        raise LaunchError(f"the sample interval must be 0.01 to 86400 seconds, got {seconds}")
    return seconds


def _backend_for(backend: str, scheduler: Any, cluster: str | None) -> str:
    from gator_nb.engine.dask_cluster import CLUSTERS

    if cluster is None:
        return backend
    if cluster not in CLUSTERS:
        raise LaunchError(f"unknown cluster {cluster!r}; expected one of {', '.join(CLUSTERS)}")
    if scheduler is not None:
        raise LaunchError("give a scheduler or a cluster to start, not both")
    return "dask"


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
        cluster: str | None = None,
        base_env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        only: Collection[str] | None = None,
        env: Mapping[str, str] | None = None,
        seed: int | None = None,
        artefacts: Mapping[str, tuple[Artefact, ...]] | None = None,
        max_jobs: int = MAX_JOBS,
        shared: bool = False,
    ) -> None:
        """Check and plan ``spec``, then open its run; ``only`` restricts it (reruns).

        ``env`` overrides the spec's ``env`` at every level (``-e NAME=VALUE``); ``seed`` is
        the run's seed (random when None); ``artefacts`` are files of jobs outside the
        run that its jobs' ``inputs`` may name (a rerun's parent's). A spec that expands to
        more than ``max_jobs`` jobs (or groups) is refused unbuilt.
        The run directory and its files are the user's alone unless ``shared``: then
        their modes follow the umask, so that a group can read them.

        Everything a user can get wrong is checked before anything is written, so a bad
        spec, option or backend leaves no run directory behind. ``cluster`` (one the run
        starts and closes: ``local``, ``slurm``, ``lsf``, ``sge``, ``pbs``) implies the
        dask backend.

        Raises:
            SpecError: the spec has problems.
            LaunchError: an option or the backend cannot be used.
        """
        # 1. Pure: options, backend, spec and plan. Nothing on disk yet.
        self.limits = _limits(parallel, memory, licenses, grace_s)
        self.sample_interval = _interval(sample_interval)
        backend = _backend_for(backend, scheduler, cluster)
        check_backend(backend, scheduler)
        if backend == "local":
            check_platform()
        self.backend, self.scheduler, self.cluster = backend, scheduler, cluster
        self.spec = spec if isinstance(spec, Spec) else load_spec(Path(spec), max_jobs=max_jobs)
        self.start = time.time()
        base = runs_dir_of(runs_dir)
        self.id = _new_run_id(self.start, base)
        self.path = base / self.id
        self.base_env = dict(os.environ if base_env is None else base_env)
        self._redact = Redactor(self.base_env)
        self.cwd = cwd or os.getcwd()
        self.overrides = _overrides(env)
        self.seed = _seed(seed)
        self.prior = dict(artefacts or {})
        self.plan = plan(
            self.spec,
            base_env=self.base_env,
            cwd=self.cwd,
            run_id=self.id,
            run_dir=str(self.path),
            overrides=self.overrides,
            seed=self.seed,
        )
        if only is not None:
            self.plan = self.plan.subset(only)
        self.state = RunState(
            ((j.path, j.group) for j in self.plan.jobs),
            ((g.path, g.parent, g.kind, g.params) for g in self.plan.groups.values()),
        )
        self.listeners: list[Listener] = []
        self.problems: list[str] = []  # what went wrong around the jobs (not in them)
        self.status = Status.RUNNING
        # 2. Side effects: the run directory, its environment and the store.
        self.writer = self._open(argv, parent, shared)

    @classmethod
    def rerun(
        cls,
        parent: Path,
        *,
        failed: bool = True,
        only: Collection[str] | None = None,
        env: Mapping[str, str] | None = None,
        deps: bool = True,
        runs_dir: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Execution:
        """A rerun of the run at ``parent``: its failed jobs (and those skipped because of
        them), every job with ``failed=False``, or the jobs under ``only``; with its spec,
        cwd, environment and seeds, plus ``env`` overrides.

        With ``deps`` the rerun also runs every job the chosen ones wait on through
        ``on_pass`` and ``inputs``, transitively, so that what they need is rebuilt;
        without, they use the parent's artefacts. ``options`` are ``Execution``'s.
        """
        with StoreReader(parent) as reader:
            info, rows, made = reader.run_info(), reader.jobs(), reader.artefacts()
        statuses = {row["job"]: row["status"] for row in rows}
        depends = {
            row["job"]: jobs_under(statuses, [t for _, t in row["depends"] or ()]) for row in rows
        }
        if only is not None:
            chosen = followers = _only(statuses, only)
        else:
            chosen = rerun_selection(statuses, depends, failed=failed)
            # Jobs skipped because of a failure come along; what else they waited on
            # passed and stays as it was (it is not what needs rebuilding).
            followers = {job for job in chosen if statuses[job] != "skipped"}
        if deps:
            needs = {
                row["job"]: jobs_under(
                    statuses, [t for k, t in row["depends"] or () if k == "pass"]
                )
                for row in rows
            }
            chosen = chosen | with_needs(followers, needs)
        artefacts: dict[str, list[Artefact]] = {}
        for item in made:
            if item["job"] not in chosen:
                artefacts.setdefault(item["job"], []).append(
                    Artefact(name=item["name"], path=item["path"], bytes=item["bytes"])
                )
        spec = load_spec(text=info["spec_text"])
        spec_path = Path(info["cwd"], info["spec"])
        spec = dataclasses.replace(spec, file=info["spec"], directory=str(spec_path.parent))
        environ = parent / "environ.json"
        try:
            base_env = json.loads(environ.read_text()) if environ.exists() else None
        except (OSError, ValueError) as exc:
            raise LaunchError(f"cannot read the environment of run {info['id']}: {exc}") from None
        return cls(
            spec,
            runs_dir=runs_dir or parent.parent,
            parent=info["id"],
            base_env=base_env,
            cwd=info["cwd"],
            only=chosen,
            env={**(info["overrides"] or {}), **(env or {})},
            seed=info["seed"],
            artefacts={job: tuple(found) for job, found in artefacts.items()},
            **options,
        )

    def _open(self, argv: Sequence[str], parent: str | None, shared: bool) -> StoreWriter:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.mkdir(0o777 if shared else 0o700)
            self.control = Control(self.path)
            self.control.create()
            # Kept (owner-only) so that a rerun sees the environment this run saw.
            fd = os.open(self.path / "environ.json", os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(self.base_env, out)
        except OSError as exc:
            raise LaunchError(f"cannot create the run directory {self.path}: {exc}") from None
        writer = StoreWriter(self.path, private=not shared)
        writer.begin(self._info(argv, parent), self._job_rows(), self._group_rows())
        return writer

    def _info(self, argv: Sequence[str], parent: str | None) -> RunInfo:
        return RunInfo(
            id=self.id,
            spec=self.spec.file,
            spec_text=self.spec.text,
            start=self.start,
            cwd=self.cwd,
            argv=tuple(argv),
            hostname=socket.gethostname(),
            pid=os.getpid(),
            parent=parent,
            backend=self.backend,
            seed=self.seed,
            overrides=self.overrides,
        )

    def _job_rows(self) -> list[JobRow]:
        return [
            JobRow(
                job=j.path,
                group=j.group or "",
                index=j.index,
                array_index=j.array_index,
                command=shlex.join(self._redact.text(a) for a in j.argv),
                argv=tuple(self._redact.text(a) for a in j.argv),
                cwd=j.cwd,
                # The store and reports are for others to read: no caller secrets in them.
                env=self._redact.env(j.env),
                cores=j.cores,
                memory=j.memory,
                licenses=j.licenses,
                timeout_s=j.timeout_s,
                depends=tuple((c.kind, t) for c in j.conditions for t in c.targets),
                seed=j.seed,
                params=dict(j.params),
                inputs=j.inputs,
                job_dir=j.env.get("GATOR_JOB_DIR", ""),
            )
            for j in self.plan.jobs
        ]

    def _group_rows(self) -> list[GroupRow]:
        return [
            GroupRow(
                path=g.path,
                parent=g.parent,
                kind=g.kind,
                index=g.index,
                array_index=g.array_index,
                params=g.params,
            )
            for g in self.plan.groups.values()
        ]

    def sink(self, event: Event) -> None:
        """Fan one engine event out to the store, the state and any listeners."""
        if isinstance(event, JobStarted):  # the store is for others to read: no secrets
            command = tuple(self._redact.text(arg) for arg in event.command)
            self.writer.put(dataclasses.replace(event, command=command))
        else:
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
        task = asyncio.current_task()
        if task is not None:  # another process may ask to cancel: gn.load(id).cancel()
            self.control.listen(task)
        monitor = Monitor(self.sink, interval_s=self.sample_interval)
        sampling = asyncio.create_task(monitor.run(), name="gator-monitor")
        try:
            async with open_backend(
                self.backend,
                monitor=monitor,
                limits=self.limits,
                scheduler=self.scheduler,
                cluster=self.cluster,
                spool=str(self.path),  # private: a batch cluster's worker credentials
            ) as backend:
                self.status = await run_plan(
                    self.plan,
                    self.sink,
                    backend,
                    limits=self.limits,
                    base_env=self.base_env,
                    artefacts=self.prior,
                )
        except asyncio.CancelledError:
            self.status = Status.CANCELLED
            raise
        finally:
            self.control.close()
            sampling.cancel()
            await asyncio.gather(sampling, return_exceptions=True)
            await asyncio.to_thread(self._close_store)
        return self.status

    def _close_store(self) -> None:
        """Close the store; jobs whose rows or log could not be written fail, with why."""
        self.writer.flush()
        for job, why in list(self.writer.lost.items()):
            first_error = f"gator: could not write this job's log or results: {why}"
            self.problems.append(f"{job}: {first_error}")
            if self.state.nodes[job].status in (Status.PASSED, Status.SKIPPED):
                self.sink(
                    JobFinished(
                        job=job,
                        time=time.time(),
                        status=Status.FAILED,
                        reason=Reason.STORE,
                        first_error=first_error,
                    )
                )
        if self.writer.lost and self.status == Status.PASSED:
            self.status = Status.FAILED
            self.sink(RunFinished(time=time.time(), status=Status.FAILED))
        try:
            self.writer.close()
        except StoreError as exc:
            self.problems.append(str(exc))
            if self.status == Status.PASSED:
                self.status = Status.FAILED
