"""Plot axes in readable units: seconds since a run's start, then min or h; bytes in KiB to GiB."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["bytes_unit", "origin", "seconds", "time_unit"]


def origin(times: pd.Series, starts: pd.Series | None) -> pd.Timestamp:
    """The earliest of ``times`` and of the known ``starts``: time zero of the x axis."""
    first = times.min()
    if starts is not None and starts.notna().any():
        first = min(first, starts.min())
    return first


def seconds(times: pd.Series, origin: pd.Timestamp) -> np.ndarray:
    """``times`` as float seconds after ``origin`` (NaN where a time is missing)."""
    return np.asarray((times - origin).dt.total_seconds(), dtype=float)


def time_unit(span_s: float) -> tuple[float, str]:
    """Divisor and name of the unit to show a span of ``span_s`` seconds in."""
    if not span_s > 600:
        return 1.0, "s"
    return (60.0, "min") if span_s <= 3 * 3600 else (3600.0, "h")


def bytes_unit(top: float) -> tuple[float, str]:
    """Divisor and name of the binary unit to show values up to ``top`` bytes in."""
    for power, unit in ((3, "GiB"), (2, "MiB"), (1, "KiB")):
        if top >= 2 ** (10 * power):
            return 2.0 ** (10 * power), unit
    return 1.0, "bytes"
