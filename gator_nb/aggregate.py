"""A metric's aggregate over the jobs under a group: count, sum, min, max and mean, kept
up to date as jobs report values and replace them (the last value in a job counts).

Pure and O(1) per value; a replaced minimum or maximum is recomputed from the jobs'
values only when it is next read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["BUILT_IN", "Aggregate"]

# Figures every finished job reports, aggregated like user metrics.
BUILT_IN = ("duration_s", "cpu_s", "peak_rss")


@dataclass(slots=True)
class Aggregate:
    count: int = 0
    sum: float = 0.0
    min: float = float("inf")
    max: float = float("-inf")
    stale: bool = False  # min or max was a value since replaced

    def add(self, value: float) -> None:
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def replace(self, old: float, new: float) -> None:
        """A job's value ``old`` became ``new``."""
        self.sum += new - old
        if old in (self.min, self.max) and new != old:
            self.stale = True
        self.min = min(self.min, new)
        self.max = max(self.max, new)

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else float("nan")

    def fresh(self, values: Callable[[], Iterable[float]]) -> Aggregate:
        """Itself, with min and max recomputed from ``values`` if a replacement made them stale."""
        if self.stale:
            current = list(values())
            self.min, self.max = min(current), max(current)
            self.sum, self.count, self.stale = sum(current), len(current), False
        return self
