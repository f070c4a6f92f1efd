"""For Python jobs that gator runs: report a metric by printing the line gator reads.

    from gator_nb.job import metric
    metric("coverage", 87.5)            # prints: GATOR_METRIC coverage=87.5

Imports nothing heavy (no pandas, no engine): a job pays only for this small module.
"""

from __future__ import annotations

import math
import re
import sys
from typing import TextIO

__all__ = ["metric"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def metric(name: str, value: float, /, file: TextIO | None = None, **more: float) -> None:
    """Print ``GATOR_METRIC name=value [other=value ...]`` and flush, so gator records it.

    Raises:
        ValueError: a name gator would not read, or a value that is not a finite number.
    """
    pairs = {name: value, **more}
    for key, number in pairs.items():
        if not _NAME.fullmatch(key):
            raise ValueError(f"metric name {key!r}: expected letters, digits, '_' or '.'")
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"metric {key}: expected a number, got {number!r}")
        if not math.isfinite(number):
            raise ValueError(f"metric {key}: expected a finite number, got {number!r}")
    text = " ".join(f"{key}={number!r}" for key, number in pairs.items())
    print(f"GATOR_METRIC {text}", file=file or sys.stdout, flush=True)
