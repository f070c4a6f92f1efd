"""The colours of statuses and severities, once for every view: widget, report, plots, terminal.

Hex values read on white and on JupyterLab's dark theme alike; the terminal gets the
nearest ANSI colour. Keyed by the status's value so pandas columns index it directly.
"""

from __future__ import annotations

from gator_nb.events import Status

__all__ = ["ANSI", "ANSI_RESET", "MUTED", "SEVERITY", "STATUS"]

STATUS: dict[str, str] = {
    Status.PASSED.value: "#1a7f37",
    Status.FAILED.value: "#cf222e",
    Status.CANCELLED.value: "#8250df",
    Status.SKIPPED.value: "#9a6700",
    Status.RUNNING.value: "#0969da",
    Status.PENDING.value: "#8c959f",
}

SEVERITY: dict[str, str] = {
    "WARNING": "#9a6700",
    "ERROR": STATUS[Status.FAILED.value],
    "CRITICAL": STATUS[Status.FAILED.value],
}

MUTED = "#6e7781"  # secondary text: "… 12 earlier lines", "(no lines)"

ANSI: dict[str, str] = {
    Status.FAILED.value: "\x1b[31m",
    Status.PASSED.value: "\x1b[32m",
    Status.SKIPPED.value: "\x1b[33m",
    Status.CANCELLED.value: "\x1b[35m",
    Status.RUNNING.value: "\x1b[34m",
}
ANSI_RESET = "\x1b[0m"
