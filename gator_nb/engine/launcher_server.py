"""The launcher process: a small, long-lived Python that starts and reaps the jobs.

Run as a script (``python -I -S launcher_server.py FD``), never imported by the engine: it
imports only the standard library, so its memory stays a few MB. A child shares its parent's
memory until it execs and the kernel folds the parent's high-water mark into the child's
peak (``ru_maxrss``); forked from here, a job's peak starts from these few MB instead of
from the engine's (a notebook kernel may hold gigabytes).

Protocol (SOCK_SEQPACKET sockets, one marshal'd tuple per message). On the control socket
FD: ("attach",) with a channel socket attached (SCM_RIGHTS), one per engine event loop.
On a channel:
  engine -> here: ("spawn", id, argv, executable, env, cwd, grace_s) with the job's stdout
                  and stderr pipe ends attached
  here -> engine: ("started", id, pid, taint)  taint: our own high-water mark, bytes
                  ("failed", id, errno, strerror, filename)
                  ("exited", id, wait_status, utime_s, stime_s, maxrss_kib)
EOF on the control socket means the engine is gone (it ended, or was killed outright: kill
-9, the OOM killer): the launcher stops the process group of every job still running
(SIGTERM, the job's grace, SIGKILL) and exits, so it is the engine's watchdog too. EOF on a
channel closes just that channel.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from typing import Any

_MARGIN = 1 << 20  # what a spawn may add to our peak between the reading and the exec
_MAX_MESSAGE = 1 << 22


def _high_water() -> int:
    """This process's own peak RSS in bytes (VmHWM: since our exec, not inherited)."""
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) * 1024 + _MARGIN
    return 0


def _spawn(request: tuple[Any, ...], fds: list[int], channel: socket.socket) -> tuple[Any, ...]:
    _, ident, argv, executable, env, cwd, grace_s = request
    try:
        if len(fds) != 2:
            raise ValueError("a spawn needs its stdout and stderr")
        proc = subprocess.Popen(
            argv,
            executable=executable,
            stdin=subprocess.DEVNULL,
            stdout=fds[0],
            stderr=fds[1],
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        return ("failed", ident, exc.errno, exc.strerror, exc.filename)
    except (ValueError, TypeError) as exc:
        return ("failed", ident, None, str(exc), None)
    finally:
        for fd in fds:
            os.close(fd)
    _children[proc.pid] = (ident, proc, channel, grace_s)
    return ("started", ident, proc.pid, _high_water())


_children: dict[int, tuple[Any, subprocess.Popen[bytes], socket.socket, float]] = {}


def _reap(pid: int) -> tuple[socket.socket, tuple[Any, ...]] | None:
    try:
        done, status, usage = os.wait4(pid, os.WNOHANG)
    except ChildProcessError:
        done, status, usage = pid, -1, None
    if not done:
        return None
    ident, proc, channel, _grace = _children.pop(pid)
    proc.returncode = 0  # reaped here: Popen must never wait on it again
    if usage is None:
        return channel, ("exited", ident, None, 0.0, 0.0, 0)
    return channel, ("exited", ident, status, usage.ru_utime, usage.ru_stime, usage.ru_maxrss)


def _send(channel: socket.socket, reply: tuple[Any, ...]) -> None:
    # A channel whose engine loop has gone: its replies have no reader.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
        channel.sendall(marshal.dumps(reply))


def serve(control: socket.socket) -> None:
    """Start what the engine asks for, report starts and exits, until the engine goes."""
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, "control")
    while True:
        for key, _ in selector.select():
            if key.data == "control":
                message, fds, _flags, _addr = socket.recv_fds(control, 1024, 1)
                if not message:
                    _stop_all()  # the engine closed it, or died: its jobs must not outlive it
                    return
                for fd in fds:  # ("attach",): a new channel, one per engine event loop
                    selector.register(socket.socket(fileno=fd), selectors.EVENT_READ, "channel")
            elif key.data == "channel":
                channel = key.fileobj
                assert isinstance(channel, socket.socket)
                try:
                    message, fds, _flags, _addr = socket.recv_fds(channel, _MAX_MESSAGE, 2)
                except OSError:
                    message, fds = b"", []
                if not message:
                    selector.unregister(channel)
                    channel.close()
                    continue
                reply = _spawn(marshal.loads(message), fds, channel)
                if reply[0] == "started":
                    pidfd = os.pidfd_open(reply[2])
                    selector.register(pidfd, selectors.EVENT_READ, reply[2])
                _send(channel, reply)
            else:
                reaped = _reap(key.data)
                if reaped is not None:
                    selector.unregister(key.fd)
                    os.close(key.fd)
                    _send(*reaped)


def _signal_all(sig: int) -> None:
    for pid in list(_children):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)  # each job leads its own session: its group id is its pid


def _stop_all() -> None:
    """SIGTERM every running job's process group, wait out the longest grace, SIGKILL."""
    if not _children:
        return  # the usual end: every job was over before the engine went
    deadline = time.monotonic() + max(grace for *_, grace in _children.values())
    _signal_all(signal.SIGTERM)
    while _children and time.monotonic() < deadline:
        for pid in list(_children):
            _reap(pid)
        time.sleep(0.05)
    _signal_all(signal.SIGKILL)
    for pid in list(_children):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    # A lower high-water mark for the jobs: Python's start-up peak is behind us.
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "wb") as refs:
        refs.write(b"5")
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the engine went away
        serve(sock)


if __name__ == "__main__":
    main()
