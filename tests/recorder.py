"""A sink for engine events that tests can await: every event kept, and waits on a
condition of them woken by each new event (no polling, no sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gator_nb.events import Event


class Recorder:
    """Keeps every event; ``until`` and ``first`` wait for what a test needs to see."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def until(self, predicate: Callable[[], bool], timeout_s: float = 10) -> None:
        """Return once ``predicate()`` holds, checked after each event."""
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def first(self, wanted: Callable[[Event], bool], timeout_s: float = 20) -> Event:
        """The first event ``wanted`` accepts, waiting for it if it has not come yet."""
        seen = 0

        def found() -> bool:
            nonlocal seen
            for index in range(seen, len(self.events)):
                if wanted(self.events[index]):
                    seen = index
                    return True
            seen = len(self.events)
            return False

        await self.until(found, timeout_s)
        return self.events[seen]
