"""Licence seats on a Dask cluster: one ``distributed.Semaphore`` per licence, shared by
every run on the same scheduler, taken in one order so that two runs never deadlock.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterable, Mapping
from typing import Any

from gator_nb.engine.dask_worker import import_distributed
from gator_nb.errors import LaunchError

__all__ = ["Licenses"]

_SEAT_WAIT_S = 1.0  # a job needing several seats of a licence gives them back after this


class Licenses:
    """One ``distributed.Semaphore`` per limited licence, shared by every run on the cluster."""

    def __init__(self, client: Any, limits: Mapping[str, int]) -> None:
        self._client, self._limits = client, limits
        self._semaphores: dict[str, Any] = {}

    async def take(self, wants: Iterable[tuple[str, int]]) -> list[Any]:
        """Acquire every seat ``wants`` needs; returns one semaphore per seat held."""
        held: list[Any] = []
        try:
            # One order for every run, so that two runs never hold each other's licence.
            for name, count in sorted(wants):
                limit = self._limits.get(name)
                if limit is not None:
                    held += await self._seats(await self._semaphore(name), min(count, limit))
        except BaseException:
            await self.give(held)
            raise
        return held

    async def give(self, held: list[Any]) -> None:
        if held and self._client.status != "running":
            # The scheduler is gone, and the leases with it: a release would only make
            # Dask log a traceback per seat.
            return
        for semaphore in held:
            with contextlib.suppress(OSError, RuntimeError):
                await semaphore.release()

    def close(self) -> None:
        for semaphore in self._semaphores.values():
            refresh = getattr(semaphore, "refresh_callback", None)  # absent without lease timeouts
            if refresh is not None:
                refresh.stop()

    async def _semaphore(self, name: str) -> Any:
        semaphore = self._semaphores.get(name)
        if semaphore is None:
            semaphore = self._semaphores[name] = import_distributed().Semaphore(
                max_leases=self._limits[name],
                name=f"gator-license-{name}",
                scheduler_rpc=self._client.scheduler,
                loop=self._client.loop,
            )
        try:
            await semaphore
        except ValueError as exc:  # registered before with another number of seats
            raise LaunchError(
                f"licence {name!r}: another run on this Dask cluster uses a different"
                f" seat count ({exc})"
            ) from None
        return semaphore

    async def _seats(self, semaphore: Any, count: int) -> list[Any]:
        while True:
            while not await self._seat(semaphore):
                pass
            got = 1
            while got < count and await self._seat(semaphore):
                got += 1
            if got == count:
                return [semaphore] * count
            # Holding some seats while waiting for more could deadlock two runs.
            await self.give([semaphore] * got)
            await asyncio.sleep(random.uniform(0, _SEAT_WAIT_S))

    async def _seat(self, semaphore: Any) -> bool:
        """Ask for one seat, waiting at most _SEAT_WAIT_S; True if it was granted.

        A request cancelled on its way would still be granted by the scheduler, to a lease
        nobody holds, and block the seat until Dask's lease timeout (30 s). So requests are
        short, and a cancelled one is seen through: a seat it got is given straight back.
        """
        request = asyncio.ensure_future(semaphore.acquire(timeout=_SEAT_WAIT_S))
        try:
            return bool(await asyncio.shield(request))
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                if await request:
                    await semaphore.release()
            raise
