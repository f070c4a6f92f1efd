"""Processes left in a job's process group: find the live ones, wait for pids to exit.

Used after the leader has exited, when only the group id (the leader's pid) still names them.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["running_members", "wait_gone"]


def running_members(pgid: int) -> list[int]:
    """Pids in process group ``pgid`` that are not zombies (blocking: reads /proc)."""
    members = []
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) == pgid and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                members.append(pid)
        except (ProcessLookupError, psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return members


async def wait_gone(pids: Iterable[int], timeout_s: float) -> bool:
    """Wait until every pid has exited (pidfds work for non-children too)."""
    loop = asyncio.get_running_loop()
    fds, waits = [], []
    try:
        for pid in pids:
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                continue
            fds.append(fd)
            gone: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _resolve, gone)
            waits.append(gone)
        if not waits:
            return True
        _, pending = await asyncio.wait(waits, timeout=timeout_s)
        return not pending
    finally:
        for fd in fds:
            loop.remove_reader(fd)
            os.close(fd)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
