"""The engine's side of the launcher process (``launcher_server.py``): one per engine
process, shared by its runs and event loops (each through its own ``Channel``), started on
first use. It is also the jobs' watchdog: if the engine dies, it stops them.

Jobs started by it have true kernel peaks: their ``ru_maxrss`` starts from the launcher's
few MB, not from the engine's (a notebook kernel holding 1 GB would otherwise hide every
job smaller than that). Set ``GATOR_LAUNCHER=0`` to start jobs from the engine itself.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import marshal
import os
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from gator_nb.engine.launch import Launch

__all__ = ["Channel", "Exit", "Launched", "Launcher", "Usage", "open_channel", "shared_launcher"]

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
    started: asyncio.Future[Launched]
    exited: asyncio.Future[Exit]


class Launcher:
    """The launcher process. Each event loop talks to it through its own ``Channel``."""

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
        self._control = ours  # EOF on it ends the launcher
        self._lock = threading.Lock()
        self._alive = True

    def usable(self) -> bool:
        """True while the launcher runs and belongs to this process (not a fork's parent)."""
        if self._alive and self._owner == os.getpid():
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(self.pid, os.WNOHANG)[0] == 0:
                    return True
        self._alive = False
        return False

    def open(self) -> Channel:
        """A channel for the running event loop; close it when the loop is done with it.

        Raises:
            ConnectionError: the launcher is gone.
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with self._lock:
                socket.send_fds(self._control, [marshal.dumps(("attach",))], [theirs.fileno()])
        except OSError as exc:
            ours.close()
            self._alive = False
            raise ConnectionError(f"the launcher process has exited: {exc}") from None
        finally:
            theirs.close()
        return Channel(self, ours)

    def close(self, *, wait: bool = True) -> None:
        """Stop the launcher (it exits when its control socket closes) and reap it."""
        self._alive = False
        if self._owner == os.getpid():  # in a fork, shutdown would cut the parent's link too
            with contextlib.suppress(OSError):
                self._control.shutdown(socket.SHUT_RDWR)
        self._control.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0 if wait else os.WNOHANG)


class Channel:
    """One event loop's connection to the launcher: spawns go out, starts and exits come
    back and are read on that loop (no thread, no hop between threads).
    """

    def __init__(self, launcher: Launcher, sock: socket.socket) -> None:
        self._launcher, self._sock = launcher, sock
        self._loop = asyncio.get_running_loop()
        self._ids = itertools.count()
        self._pending: dict[int, _Pending] = {}
        self.closed = False
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._readable)

    def usable(self) -> bool:
        """True while jobs can be started through this channel."""
        return not self.closed and self._launcher.usable()

    async def spawn(self, launch: Launch, executable: str | None) -> tuple[Launched, int, int]:
        """Start ``launch``; returns it with the read ends of its stdout and stderr pipes.

        Raises:
            OSError, ValueError: it could not be started (as ``subprocess.Popen`` raises).
            ConnectionError: the launcher is gone.
        """
        if self.closed:
            raise ConnectionError("the launcher channel is closed")
        ident = next(self._ids)
        pending = _Pending(self._loop.create_future(), self._loop.create_future())
        message = marshal.dumps(
            (
                "spawn",
                ident,
                list(launch.argv),
                executable,
                dict(launch.env),
                launch.cwd,
                launch.grace_s,
            )
        )
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        try:
            self._pending[ident] = pending
            await self._send(message, [out_w, err_w])
            launched = await asyncio.shield(pending.started)
        except asyncio.CancelledError:
            pending.started.add_done_callback(_kill_if_started)
            _close(out_r, err_r)
            raise
        except BaseException:
            self._pending.pop(ident, None)
            _close(out_r, err_r)
            raise
        finally:
            _close(out_w, err_w)
        return launched, out_r, err_r

    async def _send(self, message: bytes, fds: list[int]) -> None:
        while True:
            try:
                socket.send_fds(self._sock, [message], fds)
                return
            except BlockingIOError:  # the launcher is behind: wait until it reads
                writable = self._loop.create_future()
                self._loop.add_writer(self._sock.fileno(), _settle, writable)
                try:
                    await writable
                finally:
                    self._loop.remove_writer(self._sock.fileno())
            except OSError as exc:
                self._lost()
                raise ConnectionError(f"the launcher process has exited: {exc}") from None

    def _readable(self) -> None:
        while not self.closed:
            try:
                message = self._sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError:
                message = b""
            if not message:
                self._lost()
                return
            self._dispatch(marshal.loads(message))

    def _dispatch(self, reply: tuple[Any, ...]) -> None:
        kind, ident = reply[0], reply[1]
        pending = self._pending.get(ident) if kind == "started" else self._pending.pop(ident, None)
        if pending is None or pending.started.cancelled():
            return
        if kind == "started":
            launched = Launched(pid=reply[2], taint=reply[3], exited=pending.exited)
            pending.started.set_result(launched)
        elif kind == "failed":
            _, _, errno, strerror, filename = reply
            error = ValueError(strerror) if errno is None else OSError(errno, strerror, filename)
            pending.started.set_exception(error)
        elif not pending.exited.done():
            _, _, status, utime, stime, maxrss = reply
            usage = None if status is None else Usage(utime, stime, maxrss)
            pending.exited.set_result(Exit(status, usage))

    def _lost(self) -> None:
        """The launcher died: what it started ends with an unknown status."""
        self.close()
        self._launcher.usable()  # notices, and reaps it

    def close(self) -> None:
        """Stop listening; jobs still pending end with an unknown status."""
        if self.closed:
            return
        self.closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        pending, self._pending = self._pending, {}
        for item in pending.values():
            if not item.started.done():
                item.started.set_exception(ConnectionError("the launcher process has exited"))
            if not item.exited.done():
                item.exited.set_result(Exit(None, None))


def _close(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _kill_if_started(future: asyncio.Future[Launched]) -> None:
    """A spawn cancelled while in flight: stop the job if it did start."""
    if future.cancelled() or future.exception() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(future.result().pid, 9)


_shared: list[Launcher] = []
_shared_lock = threading.Lock()


@atexit.register  # at import, so it runs after the runs' own exit handlers (LIFO)
def _close_at_exit() -> None:
    """Close the control socket: the launcher exits (a socket left to the collector warns)."""
    with _shared_lock:
        for launcher in _shared:
            launcher.close(wait=False)


def shared_launcher() -> Launcher | None:
    """This process's launcher, (re)started on demand; None when not wanted or not possible.

    ``GATOR_LAUNCHER=0`` turns it off; a launcher that cannot start leaves jobs to the engine.
    """
    if os.environ.get("GATOR_LAUNCHER", "1") == "0":
        return None
    with _shared_lock:
        if _shared and _shared[0].usable():
            return _shared[0]
        if _shared:  # died, or inherited through a fork: ours to close, not to use
            _shared.pop().close()
        try:
            launcher = Launcher()
        except OSError:
            return None
        _shared[:] = [launcher]
        return launcher


async def open_channel() -> Channel | None:
    """A channel to this process's launcher for the running loop; None: the engine spawns."""
    launcher = await asyncio.to_thread(shared_launcher)
    if launcher is None:
        return None
    try:
        return launcher.open()
    except ConnectionError:
        return None
