"""A job's kernel-reported peak RSS, and when to trust it: the child shares the engine's
memory between fork and exec, so the engine lowers its own peak before each launch.
"""

from __future__ import annotations

import os
import resource
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gator_nb.engine.launcher import Usage

__all__ = ["kernel_peak", "lower_own_peak"]

_TAINT_MARGIN = 4 << 20  # what the engine may allocate between the reset and the exec
_clear_refs: list[int] = []  # the open /proc/self/clear_refs, once opened


def kernel_peak(ru: resource.struct_rusage | Usage | None, tainted: int) -> int:
    """The kernel's high-water mark of the job's processes, when it can be trusted.

    ru_maxrss (KiB) also covers the child between fork and exec, when it still shares
    this engine's memory: a value up to ``tainted`` may be the engine's own peak, so
    then only the sampled tree (the monitor) speaks for the job.
    """
    if ru is None:
        return 0
    peak = ru.ru_maxrss * 1024
    return peak if peak > tainted else 0


def lower_own_peak() -> int:
    """Reset this process's peak RSS to its current RSS; return the bound for the next child.

    Without the reset, one big moment of the engine (or of a notebook kernel hosting it)
    would hide every smaller job's kernel peak for the rest of the run.
    """
    try:
        if not _clear_refs:
            _clear_refs.append(os.open("/proc/self/clear_refs", os.O_WRONLY))
        os.write(_clear_refs[0], b"5")  # 5: reset the peak RSS (proc(5))
    except OSError:
        pass  # not Linux, or not allowed: the bound is then the engine's lifetime peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 + _TAINT_MARGIN
