"""Numbers from the command line: counts, sample intervals and memory sizes.

A bad value is refused with one line saying what was expected (argparse exits 2): no busy
sampling loop, no negative or infinite memory budget, no 5,000-digit count.
"""

from __future__ import annotations

import math

__all__ = [
    "MAX_MEMORY",
    "MIN_SAMPLE_INTERVAL_S",
    "parse_count",
    "parse_interval",
    "parse_size",
]

MIN_SAMPLE_INTERVAL_S = 0.01  # below this, sampling a process tree is a busy loop
_MAX_SAMPLE_INTERVAL_S = 86400  # as Execution checks it
MAX_MEMORY = 1 << 60  # 1 EB: sizes are stored as 64-bit integers


def parse_count(text: str) -> int:
    """A whole number >= 1 from the command line (``--parallel``, ``--max-jobs``)."""
    value = int(text) if text.isdigit() and len(text) < 19 else 0
    if value < 1:
        raise ValueError(f"expected a whole number >= 1, got {text}")
    return value


def parse_interval(text: str) -> float:
    """Seconds between samples from the command line; refuses 0, negatives, nan, inf."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not MIN_SAMPLE_INTERVAL_S <= value <= _MAX_SAMPLE_INTERVAL_S:  # nan compares False
        raise ValueError(
            f"expected seconds from {MIN_SAMPLE_INTERVAL_S:g} to {_MAX_SAMPLE_INTERVAL_S:g},"
            f" got {text}"
        )
    return value


def parse_size(text: str, units: dict[str, int]) -> int:
    """A memory size from the command line: ``512MB``, ``16GB``, ``2048`` (MB)."""
    number = text.rstrip("BKMGTbkmgt")
    unit = text[len(number) :].upper() or "MB"
    unit = unit if unit.endswith("B") else unit + "B"
    try:
        size = float(number) * units[unit]
    except (ValueError, KeyError):
        size = math.nan
    if not 0 < size <= MAX_MEMORY:  # also refuses nan, inf and negative sizes
        raise ValueError(f"expected a size > 0 and <= 1EB like 512MB or 16GB, got {text}")
    return int(size)
