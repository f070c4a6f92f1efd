"""``Execution``: one run being executed — its directory, plan, store writer and state.

The same object serves the CLI (under ``asyncio.run``) and ``Run`` (on a private loop
in a thread); it fans every engine event out to the store, the state and the views.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import socket
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from gator_nb.engine.backends import open_backend
from gator_nb.engine.monitor import Monitor
from gator_nb.engine.schedule import Limits, run_plan
from gator_nb.errors import LaunchError
from gator_nb.events import Event, Status
from gator_nb.spec import Spec, load_spec, plan
from gator_nb.spec.plan import subset
from gator_nb.state import RunState
from gator_nb.store import GroupRow, JobRow, RunInfo, StoreWriter

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
        bad = {name: seats for name, seats in (licenses or {}).items() if seats < 1}
        if bad:
            raise LaunchError(f"licence seats must be at least 1, got {bad}")
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
            pid=os.getpid(),
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
                self.backend,
                monitor=monitor,
                limits=self.limits,
                scheduler=self.scheduler,
                plan=self.plan,
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
