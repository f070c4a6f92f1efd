"""The engine runs on Linux only: it reaps through pidfds and reads /proc. Say so once,
in one line, instead of every job failing as ``internal``.
"""

from __future__ import annotations

import os
import sys

from gator_nb.errors import LaunchError

__all__ = ["check_platform"]


def check_platform() -> None:
    """Raise ``LaunchError`` where the engine cannot run jobs."""
    if not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"):
        raise LaunchError(
            f"gator-nb runs jobs on Linux (5.3 or later) only; this is {sys.platform}. "
            "Finished runs can still be read here."
        )
