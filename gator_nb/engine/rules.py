"""A job's own output rules, compiled once per distinct set: its ``severity`` regexes
(tried before the built-in patterns, the nearest node's first) and its ``metrics`` regexes,
plus the ``GATOR_METRIC name=value`` lines every job may print.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from gator_nb.events import Severity

__all__ = ["Rules", "gator_metrics", "rules_for"]

# "GATOR_METRIC coverage=87.5 hits=3" anywhere in a line: from shells, Python, $display.
_METRIC_LINE = re.compile(rb"GATOR_METRIC((?:[ \t]+[A-Za-z_][A-Za-z0-9_.]*=[^ \t\n]*)+)")
_PAIR = re.compile(rb"([A-Za-z_][A-Za-z0-9_.]*)=([^ \t\n]*)")


@dataclass(frozen=True, slots=True)
class Rules:
    """Compiled ``severity`` and ``metrics`` rules of one job."""

    severity: tuple[tuple[re.Pattern[str], Severity], ...]
    any_severity: re.Pattern[str] | None  # every severity regex at once, for a block scan
    metrics: tuple[tuple[str, re.Pattern[str]], ...]

    def level(self, text: str) -> Severity | None:
        """The level of the first rule found in ``text``, or None."""
        for pattern, level in self.severity:
            if pattern.search(text):
                return level
        return None

    def metric_values(self, text: str) -> Iterator[tuple[str, str]]:
        """(name, captured text) for each rule match in ``text``, in order."""
        for name, pattern in self.metrics:
            for match in pattern.finditer(text):
                yield name, match.group(1)


@functools.lru_cache(maxsize=256)
def rules_for(
    severity: tuple[tuple[str, str], ...], metrics: tuple[tuple[str, str], ...]
) -> Rules | None:
    """The compiled rules (shared by every job with the same ones); None for no rules."""
    if not severity and not metrics:
        return None
    compiled = tuple((re.compile(p), Severity[level]) for p, level in severity)
    combined = None
    if severity:
        combined = re.compile("|".join(f"(?:{p})" for p, _ in severity), re.MULTILINE)
    return Rules(
        severity=compiled,
        any_severity=combined,
        metrics=tuple((name, re.compile(p, re.MULTILINE)) for name, p in metrics),
    )


def gator_metrics(view: bytes) -> Iterator[tuple[str, str]]:
    """(name, value text) of every ``GATOR_METRIC`` pair in ``view``, in order."""
    if b"GATOR_METRIC" not in view:  # the common case costs one scan at C speed
        return
    for line in _METRIC_LINE.finditer(view):
        for name, value in _PAIR.findall(line.group(1)):
            yield name.decode(), value.decode("utf-8", "replace")


def number(text: str) -> float | None:
    """A metric value: a finite number (``87.5``, ``1e3``, ``42%`` is 42), else None."""
    try:
        value = float(text.removesuffix("%"))
    except ValueError:
        return None
    return value if math.isfinite(value) else None
