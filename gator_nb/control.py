"""Stopping a run from another process: a FIFO in the run directory that its engine reads.

``gn.load(id).cancel()`` (or any process of the same user on the same host) writes
``cancel`` into ``RUN_DIR/control``; the engine's loop wakes on it and cancels the run
exactly as Ctrl-C would. No polling: the FIFO is a file descriptor on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
from pathlib import Path

__all__ = ["CONTROL", "Control", "request_cancel"]

CONTROL = "control"


class Control:
    """The engine's end: calls ``task.cancel()`` when a cancel request arrives."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / CONTROL
        self._fds: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def create(self) -> None:
        """Make the FIFO (owner-only: only the run's user may stop it).

        A file system without FIFOs (some network mounts) leaves the run without one:
        it still runs, and ``cancel()`` from another process says it cannot reach it.
        """
        with contextlib.suppress(OSError):
            os.mkfifo(self.path, 0o600)

    def listen(self, task: asyncio.Task[object]) -> None:
        """Start listening on the running loop; a failure leaves the run uncancellable."""
        try:
            reader = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return
        # Our own writer keeps the FIFO open, so a requester's close is no EOF storm.
        self._fds = [reader, os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)]
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(reader, self._on_request, reader, task)

    def _on_request(self, fd: int, task: asyncio.Task[object]) -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        if b"cancel" in data:
            task.cancel()

    def close(self) -> None:
        """Stop listening and remove the FIFO: later requests learn the run has ended."""
        if self._loop is not None and self._fds:
            self._loop.remove_reader(self._fds[0])
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        with contextlib.suppress(OSError):
            self.path.unlink()


def request_cancel(run_dir: Path) -> bool:
    """Ask the engine of the run in ``run_dir`` to cancel it; False if none is listening."""
    path = run_dir / CONTROL
    try:
        if not stat.S_ISFIFO(path.stat().st_mode):
            return False
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENXIO):  # no FIFO, or no engine reading it
            return False
        raise
    try:
        os.write(fd, b"cancel\n")
    finally:
        os.close(fd)
    return True
