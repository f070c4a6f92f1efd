"""The engine's side of the launcher process (``launcher_server.py``): one per engine
process, shared by its runs and event loops, started on first use.

Jobs started by it have true kernel peaks: their ``ru_maxrss`` starts from the launcher's
few MB, not from the engine's (a notebook kernel holding 1 GB would otherwise hide every
job smaller than that). Set ``GATOR_LAUNCHER=0`` to start jobs from the engine itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import marshal
import os
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from gator_nb.engine.launch import Launch

__all__ = ["Exit", "Launched", "Launcher", "Usage", "shared_launcher"]

_SERVER = Path(__file__).with_name("launcher_server.py")


class Usage(NamedTuple):
    """The parts of a reaped job's rusage the engine reads (as ``resource.struct_rusage``)."""

    ru_utime: float
    ru_stime: float
    ru_maxrss: int  # KiB


@dataclass(frozen=True, slots=True)
class Exit:
    """How a job started by the launcher ended: its wait status and usage (None: unknown)."""

    status: int | None
    usage: Usage | None


@dataclass(slots=True)
class Launched:
    """A job the launcher started: its pid, and when it has ended."""

    pid: int
    taint: int  # a kernel peak up to this may be the launcher's, not the job's
    exited: asyncio.Future[Exit]


@dataclass(slots=True)
class _Pending:
    loop: asyncio.AbstractEventLoop
    started: asyncio.Future[Launched]
    exited: asyncio.Future[Exit] = field(init=False)

    def __post_init__(self) -> None:
        self.exited = self.loop.create_future()


class Launcher:
    """A launcher process and the thread reading its replies."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            theirs.set_inheritable(True)
            # posix_spawn, not Popen: nothing to warn about a launcher still running at exit.
            # Its own session: a Ctrl-C in the terminal is the engine's to handle.
            self.pid = os.posix_spawn(
                sys.executable,
                [sys.executable, "-I", "-S", "-B", str(_SERVER), str(theirs.fileno())],
                os.environ,
                file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)],
                setsid=True,
            )
        finally:
            theirs.close()
        self._owner = os.getpid()
        self._sock = ours
        self._ids = itertools.count()
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()
        self.alive = True
        self._reader = threading.Thread(target=self._read, name="gator-launcher", daemon=True)
        self._reader.start()

    async def spawn(self, launch: Launch, executable: str | None) -> tuple[Launched, int, int]:
        """Start ``launch``; returns it with the read ends of its stdout and stderr pipes.

        Raises:
            OSError, ValueError: it could not be started (as ``subprocess.Popen`` raises).
            ConnectionError: the launcher is gone.
        """
        loop = asyncio.get_running_loop()
        ident = next(self._ids)
        pending = _Pending(loop, loop.create_future())
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        message = marshal.dumps(
            ("spawn", ident, list(launch.argv), executable, dict(launch.env), launch.cwd)
        )
        try:
            with self._lock:
                if not self.alive:
                    raise ConnectionError("the launcher process has exited")
                self._pending[ident] = pending
                socket.send_fds(self._sock, [message], [out_w, err_w])
        except BaseException:
            self._pending.pop(ident, None)
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        try:
            launched = await asyncio.shield(pending.started)
        except asyncio.CancelledError:
            pending.started.add_done_callback(_kill_if_started)
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        return launched, out_r, err_r

    def _read(self) -> None:
        while True:
            try:
                message = self._sock.recv(1 << 16)
            except OSError:
                message = b""
            if not message:
                self._lost()
                return
            self._dispatch(marshal.loads(message))

    def _dispatch(self, reply: tuple[Any, ...]) -> None:
        kind, ident = reply[0], reply[1]
        with self._lock:
            pending = self._pending.get(ident) if kind == "started" else self._pending.pop(ident)
        if pending is None:
            return
        if kind == "started":
            launched = Launched(pid=reply[2], taint=reply[3], exited=pending.exited)
            _resolve(pending.loop, pending.started, launched)
        elif kind == "failed":
            _, _, errno, strerror, filename = reply
            error: Exception = (
                ValueError(strerror) if errno is None else OSError(errno, strerror, filename)
            )
            _fail(pending.loop, pending.started, error)
        else:
            _, _, status, utime, stime, maxrss = reply
            usage = None if status is None else Usage(utime, stime, maxrss)
            _resolve(pending.loop, pending.exited, Exit(status, usage))

    def _lost(self) -> None:
        """The launcher died: what it started is reported lost (status unknown)."""
        with self._lock:
            self.alive = False
            pending, self._pending = self._pending, {}
        for item in pending.values():
            _fail(item.loop, item.started, ConnectionError("the launcher process has exited"))
            _resolve(item.loop, item.exited, Exit(None, None))
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)  # it closed its end: it is exiting

    def usable(self) -> bool:
        """True while the launcher runs and belongs to this process (not a fork's parent)."""
        return self.alive and self._owner == os.getpid()

    def close(self) -> None:
        """Stop the launcher (it exits when its socket closes); the reader thread reaps it."""
        with self._lock:
            self.alive = False
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._reader.join()
        self._sock.close()


def _resolve(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], value: Any) -> None:
    def settle() -> None:
        if not future.done():
            future.set_result(value)

    with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits any more
        loop.call_soon_threadsafe(settle)


def _fail(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], error: Exception) -> None:
    def settle() -> None:
        if not future.done():
            future.set_exception(error)

    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle)


def _kill_if_started(future: asyncio.Future[Launched]) -> None:
    """A spawn cancelled while in flight: stop the job if it did start."""
    if future.cancelled() or future.exception() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(future.result().pid, 9)


_shared: list[Launcher] = []
_shared_lock = threading.Lock()


def shared_launcher() -> Launcher | None:
    """This process's launcher, (re)started on demand; None when not wanted or not possible.

    ``GATOR_LAUNCHER=0`` turns it off; a launcher that cannot start leaves jobs to the engine.
    """
    if os.environ.get("GATOR_LAUNCHER", "1") == "0":
        return None
    with _shared_lock:
        if _shared and _shared[0].usable():
            return _shared[0]
        try:
            launcher = Launcher()
        except OSError:
            return None
        _shared[:] = [launcher]
        return launcher
