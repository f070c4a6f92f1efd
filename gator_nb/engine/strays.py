"""Processes a job started that left its process group: found by a marker in their
environment, so that a job which daemonises (``setsid``, a double fork) cannot outlive it.

cgroup v2 would track them exactly, but it is not delegated everywhere (not on this
project's cgroup-v1 hosts); a marker variable is inherited by every descendant that does
not scrub its environment, and ``/proc/PID/environ`` shows it. Linux only.
"""

from __future__ import annotations

import os
import secrets

__all__ = ["MARKER", "find_marked", "new_token"]

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
    needle = f"{MARKER}={token}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) <= newer_than:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as file:
                data = file.read()
            with open(f"/proc/{name}/stat", "rb") as file:
                state = file.read().rsplit(b")", 1)[-1].split()[0]
        except OSError:  # gone, or another user's
            continue
        if state != b"Z" and any(entry == needle for entry in data.split(b"\0")):
            found.append(int(name))
    return found
