"""Run one leaf job: spawn its process group, stream its output, stop it, judge it.

Owns chunked pipe reading, reaping with rusage, the timeout and the SIGTERM -> grace ->
SIGKILL escalation, and the job's outcome (spawn.py starts it). Linux only (pidfd).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import resource
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from functools import cache
from typing import IO, TYPE_CHECKING

from gator_nb.engine.artefacts import find_outputs
from gator_nb.engine.launch import Launch
from gator_nb.engine.lines import Splitter
from gator_nb.engine.output import Output
from gator_nb.engine.peak import kernel_peak, lower_own_peak
from gator_nb.engine.pgroup import running_members, wait_gone
from gator_nb.engine.results import ResultsProblem, read_results
from gator_nb.engine.rules import rules_for
from gator_nb.engine.spawn import executable_of, launch_problem, spawn
from gator_nb.engine.strays import MARKER, candidates, marked, new_token
from gator_nb.engine.verdict import Counts, judge
from gator_nb.events import Artefact, JobFinished, JobStarted, Severity, TestCase

if TYPE_CHECKING:
    from collections.abc import Callable

    from gator_nb.engine.launcher import Channel, Exit, Launched, Usage
    from gator_nb.engine.monitor import Monitor, TreeStats
    from gator_nb.engine.watchdog import Watchdog
    from gator_nb.events import Event

__all__ = ["run_job"]

_CHUNK = 65536
_INLINE_SCAN = 16  # processes started since a job: read on the loop up to this many


async def run_job(
    launch: Launch,
    sink: Callable[[Event], None],
    monitor: Monitor,
    *,
    clock: Callable[[], float] = time.time,
    watchdog: Watchdog | None = None,
    launcher: Channel | None = None,
) -> JobFinished:
    """Run ``launch`` to completion, emitting its events to ``sink``; return its end.

    A job that fails, or cannot even start, is data (``JobFinished``), not an
    exception. Cancellation stops the process group, emits a CANCELLED
    ``JobFinished`` and re-raises. ``watchdog`` hears of the job's process group
    while it may be alive. ``launcher`` starts it (for a true peak) when given and
    running; otherwise this process does.
    """
    # Every process the job starts inherits the marker, even one that leaves its group.
    launch = dataclasses.replace(launch, env={**launch.env, MARKER: new_token()})
    job = _Job(launch, sink, monitor, clock, watchdog)
    launched = None
    try:
        if launcher is not None and launcher.usable():
            try:
                launched = await launcher.spawn(launch, executable_of(launch))
            except ConnectionError:  # the launcher died: this process starts the job
                launched = None
        if launched is None:
            job.tainted = lower_own_peak()
            proc = spawn(launch)
    except (OSError, ValueError) as exc:
        return job.launch_failed(launch_problem(launch, exc))
    cancelled = False
    try:
        if launched is None:
            job.started(proc)
        else:
            job.started_by(*launched)
        await job.supervise()
        await job.read_results()
    except asyncio.CancelledError:
        cancelled = True
        raise
    finally:
        try:
            await job.cleanup(cancelled=cancelled)
        finally:
            finished = job.finish(cancelled=cancelled)
    return finished


def _named(pids: list[int]) -> str:
    """``pid 12 sleep, pid 13 sim`` for a note in the job's log."""
    names = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as comm:
                names.append(f"pid {pid} {comm.read().strip()}")
        except OSError:
            names.append(f"pid {pid}")
    return ", ".join(names)


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@cache
def _hostname() -> str:
    return socket.gethostname()


@dataclass(slots=True)
class _Reader:
    file: IO[bytes]
    splitter: Splitter


class _Job:
    """One job's process, pipes and outcome, driven by loop callbacks."""

    def __init__(
        self,
        launch: Launch,
        sink: Callable[[Event], None],
        monitor: Monitor,
        clock: Callable[[], float],
        watchdog: Watchdog | None = None,
    ) -> None:
        self._launch, self._sink, self._monitor, self._clock = launch, sink, monitor, clock
        self._watchdog = watchdog
        self._loop = asyncio.get_running_loop()
        self._out = Output(launch.job, sink, clock, first_line=launch.first_line)
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = 0
        self._pidfd = -1
        self._readers: list[_Reader] = []
        self._exited: asyncio.Future[None] = self._loop.create_future()
        self._drained: asyncio.Future[None] = self._loop.create_future()
        self._code: int | None = None  # Popen-style: -N for death by signal N
        self._rusage: resource.struct_rusage | Usage | None = None
        self._launched: Launched | None = None  # started by the launcher, not by us
        self._stats: TreeStats | None = None
        self._timed_out = False
        self._stopped = False  # _stop ran: cleanup must not start another
        self._launch_error = False
        self._rules = rules_for(launch.severity, launch.metrics)
        self._tests: tuple[TestCase, ...] = ()
        self._bad_results = ""  # why the declared results could not be read
        self._artefacts: tuple[Artefact, ...] = ()
        self._missing = ""  # outputs that matched no file
        self.tainted = 0  # a kernel peak up to this much may be the engine's, not the job's

    # -- start -------------------------------------------------------------

    def started(self, proc: subprocess.Popen[bytes]) -> None:
        """We spawned it: we reap it (pidfd, wait4)."""
        self._proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        self._begin(proc.pid, proc.stdout, proc.stderr)
        self._pidfd = os.pidfd_open(proc.pid)
        self._loop.add_reader(self._pidfd, self._on_exit)

    def started_by(self, launched: Launched, out_fd: int, err_fd: int) -> None:
        """The launcher spawned it and reaps it: its exit comes as a message."""
        self._launched, self.tainted = launched, launched.taint
        # The readers own and close these files (_close_reader), as they do Popen's.
        stdout = open(out_fd, "rb", buffering=0)  # noqa: SIM115
        stderr = open(err_fd, "rb", buffering=0)  # noqa: SIM115
        self._begin(launched.pid, stdout, stderr)
        launched.exited.add_done_callback(self._on_launcher_exit)

    def _on_launcher_exit(self, future: asyncio.Future[Exit]) -> None:
        if not self._exited.done():
            end = future.result()
            self._reaped(end.status, end.usage)

    def _begin(self, pid: int, stdout: IO[bytes], stderr: IO[bytes]) -> None:
        self._pid = pid
        if self._watchdog is not None:
            self._watchdog.add(pid)
        self._emit_started()
        self._monitor.add(self._launch.job, pid)
        for stream, file, default in (
            ("stdout", stdout, Severity.INFO),
            ("stderr", stderr, Severity.WARNING),
        ):
            reader = _Reader(file, Splitter(stream, default, self._rules))
            os.set_blocking(file.fileno(), False)
            self._loop.add_reader(file.fileno(), self._on_readable, reader)
            self._readers.append(reader)

    def launch_failed(self, problem: str) -> JobFinished:
        self._launch_error = True
        self._emit_started()
        self._out.note(Severity.ERROR, problem)
        self._exited.set_result(None)
        self._drained.set_result(None)
        return self.finish(cancelled=False)

    def _emit_started(self) -> None:
        launch = self._launch
        now = self._clock()
        self._sink(
            JobStarted(
                job=launch.job,
                time=now,
                pid=self._pid,
                command=launch.argv,
                cwd=launch.cwd,
                hostname=_hostname(),
                queued_s=max(0.0, now - launch.ready) if launch.ready is not None else 0.0,
                attempt=launch.attempt,
            )
        )

    # -- loop callbacks ----------------------------------------------------

    def _on_readable(self, reader: _Reader) -> None:
        try:
            chunk = os.read(reader.file.fileno(), _CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO and friends: nothing more will come
            chunk = b""
        if chunk:
            self._out.feed(reader.splitter, chunk)
        else:
            self._close_reader(reader)

    def _close_reader(self, reader: _Reader) -> None:
        self._loop.remove_reader(reader.file.fileno())
        reader.file.close()
        self._out.end(reader.splitter)
        self._readers.remove(reader)
        if not self._readers and not self._drained.done():
            self._drained.set_result(None)

    def _on_exit(self) -> None:
        try:
            pid, status, rusage = os.wait4(self._pid, os.WNOHANG)
        except ChildProcessError:  # reaped behind our back (a waitpid(-1) elsewhere)
            self._reaped(None, None)
            return
        if pid:
            self._reaped(status, rusage)

    def _reaped(self, status: int | None, rusage: resource.struct_rusage | Usage | None) -> None:
        if self._pidfd >= 0:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        self._code = None if status is None else os.waitstatus_to_exitcode(status)
        self._rusage = rusage
        # Stop sampling now: with the leader gone its pid may be reused, and the
        # tree walk from it cannot reach the orphans anyway.
        self._stats = self._monitor.remove(self._launch.job)
        # Tell Popen the child is gone, so it never waits on (or warns about) it.
        if self._proc is not None:
            self._proc.returncode = -1 if self._code is None else self._code
        self._exited.set_result(None)

    # -- supervise and stop ------------------------------------------------

    async def read_results(self) -> None:
        """Read the job's ``results`` files and find its ``outputs`` once it has ended (off
        the loop: file I/O)."""
        if self._launch.outputs:
            self._artefacts, missing = await asyncio.to_thread(
                find_outputs, self._launch.outputs, self._launch.cwd
            )
            if missing:
                self._missing = f"gator: outputs not written: {', '.join(missing)}"
                self._out.note(Severity.WARNING, self._missing)
        if not self._launch.results:
            return
        try:
            self._tests = await asyncio.to_thread(
                read_results, self._launch.results, self._launch.cwd
            )
        except ResultsProblem as exc:
            self._bad_results = f"gator: {exc}"
            self._out.note(Severity.ERROR, self._bad_results)
            return
        failed = sum(t.status in ("failed", "error") for t in self._tests)
        self._out.note(
            Severity.INFO,
            f"gator: results: {len(self._tests)} tests, {failed} failed or errored",
        )

    async def supervise(self) -> None:
        """Wait for the job to exit (or time out), then for its output to end."""
        timeout_s, grace_s = self._launch.timeout_s, self._launch.grace_s
        if timeout_s is None:
            # Never await the bare future: cancelling us would cancel it too.
            await asyncio.wait((self._exited,))
        elif not await self._settled(timeout_s, (self._exited,)):
            self._timed_out = True
            note = f"gator: timed out after {timeout_s:g} s, sent SIGTERM to the process group"
            await self._stop(Severity.ERROR, note)
            return
        if not await self._settled(grace_s):
            note = (
                f"gator: the job exited but its output was still held open {grace_s:g} s"
                " later, sent SIGTERM to the process group"
            )
            await self._stop(Severity.WARNING, note)

    async def cleanup(self, *, cancelled: bool) -> None:
        """Stop whatever still runs, then always reap and release the pipes."""
        try:
            if not self._stopped and not await self._settled(0):
                why = "cancelled" if cancelled else "stopping after an internal error"
                note = f"gator: {why}, sent SIGTERM to the process group"
                await self._stop(Severity.WARNING, note)
            if self._exited.done():
                await self._stop_leftovers()
            await self._stop_strays()
        finally:
            self._force_reap()
            for reader in list(self._readers):
                self._close_reader(reader)

    async def _stop(self, severity: Severity, note: str) -> None:
        grace_s = self._launch.grace_s
        self._stopped = True
        self._out.note(severity, note)
        if self._killpg(signal.SIGTERM):
            if await self._settled(grace_s):
                return
            if self._killpg(signal.SIGKILL):
                self._out.note(
                    Severity.WARNING,
                    f"gator: the process group was still running {grace_s:g} s"
                    " after SIGTERM, sent SIGKILL",
                )
        # SIGKILL cannot be ignored; a leader stuck in the kernel is left to
        # cleanup's blocking reap.
        await self._settled(grace_s, (self._exited,))
        if self._exited.done() and not await self._settled(grace_s):
            self._out.note(
                Severity.WARNING,
                "gator: a process outside the job's process group still holds its"
                " output open; stopped reading",
            )
            for reader in list(self._readers):
                self._close_reader(reader)

    async def _stop_strays(self) -> None:
        """Stop processes the job started that left its process group (daemons)."""
        token = self._launch.env.get(MARKER)
        if not token or not self._pid:
            return
        # Inline while it is cheap (a /proc listing and a few small reads, well under a
        # millisecond): a thread hop per job costs more than that on a busy 2-core host.
        pids = candidates(self._pid)
        if len(pids) > _INLINE_SCAN:
            strays = await asyncio.to_thread(marked, token, pids)
        else:
            strays = marked(token, pids)
        if not strays:
            return
        grace_s = self._launch.grace_s
        self._out.note(
            Severity.WARNING,
            f"gator: {len(strays)} process(es) the job started outside its process group"
            f" were still running after it ended ({_named(strays)}), sent SIGTERM",
        )
        _signal_all(strays, signal.SIGTERM)
        if not await wait_gone(strays, grace_s):
            _signal_all(strays, signal.SIGKILL)
            self._out.note(
                Severity.WARNING,
                f"gator: they were still running {grace_s:g} s after SIGTERM, sent SIGKILL",
            )

    async def _stop_leftovers(self) -> None:
        """Stop processes left in the job's group that do not hold its output."""
        if not self._killpg(0):
            return  # the usual case: the group is empty
        # Orphaned zombies keep the group alive until init reaps them, and a
        # process closes its files a moment before it becomes one: give what is
        # running the same grace as output holders before stopping it.
        live = await asyncio.to_thread(running_members, self._pid)
        grace_s = self._launch.grace_s
        if not live or await wait_gone(live, grace_s):
            return
        self._out.note(
            Severity.WARNING,
            f"gator: {len(live)} process(es) still running in the job's process group"
            f" {grace_s:g} s after it exited (pid {', '.join(map(str, live))}),"
            " sent SIGTERM",
        )
        self._killpg(signal.SIGTERM)
        if not await wait_gone(live, grace_s) and self._killpg(signal.SIGKILL):
            self._out.note(
                Severity.WARNING,
                f"gator: left-over processes still running {grace_s:g} s after SIGTERM,"
                " sent SIGKILL",
            )

    async def _settled(
        self, timeout_s: float, futures: tuple[asyncio.Future[None], ...] = ()
    ) -> bool:
        """Wait up to ``timeout_s`` for ``futures`` (default: exit and end of output)."""
        waits = [f for f in (futures or (self._exited, self._drained)) if not f.done()]
        if not waits:
            return True
        if timeout_s <= 0:
            return False
        _, pending = await asyncio.wait(waits, timeout=timeout_s)
        return not pending

    def _killpg(self, sig: int) -> bool:
        """Signal the job's process group; False when nobody in it could be signalled.

        The group id is the leader's pid, which the kernel does not reuse while
        any process of the group is alive, even after the leader is reaped.
        """
        try:
            os.killpg(self._pid, sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def _force_reap(self) -> None:
        """Last resort when the async stop was interrupted: kill and block on wait4."""
        if self._exited.done():
            return
        self._killpg(signal.SIGKILL)
        if self._launched is not None:  # the launcher reaps it; its status is lost to us
            self._reaped(None, None)
            return
        try:
            _, status, rusage = os.wait4(self._pid, 0)
        except ChildProcessError:
            self._reaped(None, None)
        else:
            self._reaped(status, rusage)

    # -- outcome -----------------------------------------------------------

    def finish(self, *, cancelled: bool) -> JobFinished:
        if self._watchdog is not None and self._pid:
            self._watchdog.remove(self._pid)  # cleanup has stopped the whole group
        self._out.flush()
        out, code, ru, stats = self._out, self._code, self._rusage, self._stats
        verdict = judge(
            exit_code=code,
            counts=Counts(
                warnings=out.warnings,
                errors=out.errors,
                criticals=out.criticals,
                first_error=out.first_error,
                first_warning=out.first_warning,
            ),
            cancelled=cancelled,
            launch_error=self._launch_error,
            timed_out=self._timed_out,
            tests=self._tests,
            bad_results=self._bad_results,
            limits=dict(self._launch.limits),
            missing_outputs=self._missing,
        )
        kernel, sampled = kernel_peak(ru, self.tainted), stats.peak_rss if stats else 0
        if kernel:  # the samples may still raise it: they sum a tree of processes
            source = "engine" if self._launched is None else "launcher"
        else:
            source = "samples" if sampled else ""
        finished = JobFinished(
            job=self._launch.job,
            time=self._clock(),
            status=verdict.status,
            exit_code=code if code is not None and code >= 0 else None,
            signal=-code if code is not None and code < 0 else None,
            timed_out=self._timed_out,
            reason=verdict.reason,
            cpu_s=ru.ru_utime + ru.ru_stime if ru else 0.0,
            peak_rss=max(kernel, sampled),
            peak_source=source,
            warnings=out.warnings,
            errors=out.errors,
            criticals=out.criticals,
            first_error=verdict.first_error,
            lines=out.lines,
            tests=self._tests,
            artefacts=self._artefacts,
        )
        self._sink(finished)
        return finished
