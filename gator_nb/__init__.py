"""gator-nb: a hierarchical task runner and logging system that lives in Jupyter.

Only the public API lives here; heavy modules load when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gator_nb.errors import (
    GatorError,
    LaunchError,
    NoSuchJob,
    Problem,
    SpecError,
    StoreError,
    UsageError,
)
from gator_nb.spec import load_spec

if TYPE_CHECKING:  # the real names, for type checkers; at run time they load on first use
    from gator_nb.runner import Run, compare, load, rerun, run, runs

__all__ = [
    "GatorError",
    "LaunchError",
    "NoSuchJob",
    "Problem",
    "Run",
    "SpecError",
    "StoreError",
    "UsageError",
    "compare",
    "load",
    "load_ipython_extension",
    "load_spec",
    "rerun",
    "run",
    "runs",
]
__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext gator_nb``: register the ``%gator`` magics."""
    from gator_nb.notebook.magic import register

    register(ipython)


def __getattr__(name: str) -> Any:
    # runner.py pulls in the engine and the store; import it only when the API is used.
    if name in ("Run", "run", "load", "runs", "rerun", "compare"):
        from gator_nb import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'gator_nb' has no attribute {name!r}")
