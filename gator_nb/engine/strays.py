"""Processes a job started that left its process group: found by a marker in their
environment, so that a job which daemonises (``setsid``, a double fork) cannot outlive it.

cgroup v2 would track them exactly, but it is not delegated everywhere (not on this
project's cgroup-v1 hosts); a marker variable is inherited by every descendant that does
not scrub its environment, and ``/proc/PID/environ`` shows it. Linux only.
"""

from __future__ import annotations

import os
import secrets

__all__ = ["MARKER", "candidates", "find_marked", "marked", "new_token"]

MARKER = "GATOR_JOB_TOKEN"


def new_token() -> str:
    """A value of ``MARKER`` that no other job of any run shares."""
    return secrets.token_hex(8)


def find_marked(token: str, newer_than: int) -> list[int]:
    """Live pids above ``newer_than`` whose environment holds ``MARKER=token`` (blocking).

    Pids are handed out in increasing order, so a job's descendants have pids above
    its leader's; only those are read, which keeps the scan to the processes started
    since (a pid wrap-around in between can hide one). Zombies are skipped.
    """
    return marked(token, candidates(newer_than))


def candidates(newer_than: int) -> list[int]:
    """Pids above ``newer_than``: one listing of /proc, about 0.1 ms."""
    return [int(n) for n in os.listdir("/proc") if n.isdigit() and int(n) > newer_than]


def marked(token: str, pids: list[int]) -> list[int]:
    """Those of ``pids`` that are alive and carry ``MARKER=token`` (reads /proc).

    Raw ``os.read`` and a substring test: this runs for every job, on every process
    started since it, so it is kept to a few microseconds a process.
    """
    needle = f"\0{MARKER}={token}\0".encode()
    found = []
    for pid in pids:
        environ = _read(f"/proc/{pid}/environ")
        if environ and needle in b"\0" + environ and not _zombie(pid):
            found.append(pid)
    return found


def _read(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # gone, or another user's
        return b""
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _zombie(pid: int) -> bool:
    stat = _read(f"/proc/{pid}/stat")
    return not stat or stat.rsplit(b")", 1)[-1].split()[0] == b"Z"
