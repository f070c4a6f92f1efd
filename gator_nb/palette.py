"""The colours of statuses and severities, once for every view: widget, report, plots, terminal.

Mid-luminance hues that keep their meaning on white and on JupyterLab's dark theme alike
(figures are transparent, so they must read on both); the terminal gets the nearest ANSI
colour. Keyed by the status's value so pandas columns index it directly.
"""

from __future__ import annotations

from gator_nb.events import Status

__all__ = ["ANSI", "ANSI_RESET", "MUTED", "SEVERITY", "STATUS"]

STATUS: dict[str, str] = {
    Status.PASSED.value: "#2da44e",
    Status.FAILED.value: "#e5534b",
    Status.CANCELLED.value: "#d4a72c",
    Status.SKIPPED.value: "#8c959f",
    Status.RUNNING.value: "#4493f8",
    Status.PENDING.value: "#a8b1bb",
}

SEVERITY: dict[str, str] = {
    "WARNING": "#c08a16",
    "ERROR": STATUS[Status.FAILED.value],
    "CRITICAL": STATUS[Status.FAILED.value],
}

# Secondary text ("… 12 earlier lines"), axes: about 4.5:1 on white and on black.
MUTED = "#767676"

ANSI: dict[str, str] = {
    Status.FAILED.value: "\x1b[31m",
    Status.PASSED.value: "\x1b[32m",
    Status.SKIPPED.value: "\x1b[90m",
    Status.CANCELLED.value: "\x1b[33m",
    Status.RUNNING.value: "\x1b[34m",
}
ANSI_RESET = "\x1b[0m"
