"""The ``%gator`` line magic and ``%%gator`` cell magic: start a run, show it, return it.

``%gator SPEC [options]`` runs a spec file; ``%%gator [options]`` runs the YAML in the cell.
Both return the ``Run`` at once; only ``--wait`` blocks, on ``Run.wait()``, while the engine's
own thread keeps jobs and the view going. Bad specs and options raise ``UsageError``, which
IPython shows as one short message without a traceback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from gator_nb.errors import GatorError, SpecError

if TYPE_CHECKING:
    from gator_nb import Run
    from gator_nb.spec import Spec

__all__ = ["GatorMagics", "register", "spec_problems"]

F = TypeVar("F", bound=Callable[..., Any])
_ARGUMENTS: Any = magic_arguments  # untyped upstream; reached through Any for mypy --strict
_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("spec",), {"nargs": "?", "help": "spec file (line magic); none for %%%%gator"}),
    (("--parallel", "-j"), {"type": int, "default": None, "help": "jobs at once (cores)"}),
    (("--wait",), {"action": "store_true", "help": "block until the run ends"}),
    (("--memory",), {"default": None, "metavar": "SIZE", "help": "memory budget, e.g. 16GB"}),
    (
        ("--licenses",),
        {"action": "append", "default": [], "metavar": "NAME=N", "help": "licence seats"},
    ),
    (
        ("--sample-interval",),
        {"type": float, "default": 1.0, "metavar": "S", "help": "longest gap between samples"},
    ),
    (("--runs-dir",), {"default": None, "help": "where run directories go (./gator-runs)"}),
    (("--backend",), {"choices": ["local", "dask"], "default": "local", "help": "job runner"}),
    (("--scheduler",), {"default": None, "help": "dask scheduler address (--backend dask)"}),
    (
        ("--cluster",),
        {
            "default": None,
            "choices": ["local", "slurm", "lsf", "sge", "pbs"],
            "help": "start a Dask cluster for the run (dask-jobqueue's from the Dask config)",
        },
    ),
    (
        ("--rerun",),
        {
            "default": None,
            "metavar": "RUN",
            "help": "rerun RUN's failed jobs (and those skipped because of them)",
        },
    ),
    (("--all",), {"action": "store_true", "help": "with --rerun: every job of RUN"}),
    (
        ("--only",),
        {
            "action": "append",
            "default": None,
            "metavar": "PATH",
            "help": "with --rerun: the jobs under PATH instead (repeatable)",
        },
    ),
    (
        ("--no-deps",),
        {
            "dest": "deps",
            "action": "store_false",
            "help": "with --rerun: use RUN's artefacts instead of rerunning what jobs wait on",
        },
    ),
    (
        ("-e", "--env"),
        {
            "action": "append",
            "default": [],
            "metavar": "NAME=VALUE",
            "help": "set a variable for every job, over the spec's env (repeatable)",
        },
    ),
    (("--seed",), {"type": int, "default": None, "help": "the run's seed (default: random)"}),
    (
        ("--max-jobs",),
        {"type": int, "default": 1_000_000, "help": "refuse specs expanding to more jobs"},
    ),
    (("--shared",), {"action": "store_true", "help": "the run's modes follow the umask"}),
]


def _with_options(magic: F) -> F:
    """IPython's ``@magic_arguments() @argument(...)`` stack, applied with types kept."""
    decorated: Any = magic
    for names, options in reversed(_OPTIONS):
        decorated = _ARGUMENTS.argument(*names, **options)(decorated)
    return cast(F, _ARGUMENTS.magic_arguments()(decorated))


def spec_problems(error: SpecError, *, cell: bool = False) -> str:
    """The problems of a bad spec, one per line, as the UsageError's message."""
    problems = error.problems
    if cell:  # load_spec(text=...) names the file "<text>"; the user wrote a cell
        problems = [dataclasses.replace(p, file="%%gator cell") for p in problems]
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    return f"bad spec ({count}), nothing was run:\n" + "\n".join(str(p) for p in problems)


@magics_class
class GatorMagics(Magics):
    """``%gator`` and ``%%gator``."""

    @_with_options
    @line_cell_magic
    def gator(self, line: str, cell: str | None = None) -> Run:
        """Start a run of a spec file (``%gator``) or of the cell's YAML (``%%gator``).

        Returns the Run at once and displays its live view; ``--wait`` blocks until it ends.
        """
        args = _ARGUMENTS.parse_argstring(cast(Any, self).gator, line)
        if args.parallel is not None and args.parallel < 1:
            raise UsageError(f"--parallel must be at least 1, got {args.parallel}")
        args.env = _assignments(args.env)
        if args.rerun is not None:
            if args.spec or cell is not None:
                raise UsageError("%gator --rerun RUN takes no spec: it reruns RUN's own")
            run = _rerun(args)
        else:
            spec = _spec(args.spec, cell, args.max_jobs)
            run = _start(spec, args, cell=cell is not None)
        from gator_nb.notebook.view import show

        show(run)
        if args.wait:
            try:
                run.wait()
            except KeyboardInterrupt:  # interrupting the kernel stops the jobs, too
                run.cancel()
                raise
        return run


def _spec(path: str | None, cell: str | None, max_jobs: int) -> str | Spec:
    if cell is None:
        if not path:
            raise UsageError("usage: %gator SPEC [--parallel N] [--wait] [--runs-dir DIR]")
        spec = Path(path).expanduser()
        if not spec.is_file():
            raise UsageError(f"no spec file {path!r}")
        return str(spec)
    if path:
        raise UsageError("%%gator takes the spec from the cell body, not a file name")
    if not cell.strip():
        raise UsageError("%%gator: the cell is empty; write the spec's YAML in it")
    from gator_nb.spec import load_spec

    try:
        return load_spec(text=cell, max_jobs=max_jobs)
    except SpecError as exc:
        raise UsageError(spec_problems(exc, cell=True)) from None


def _limits(args: Any) -> dict[str, Any]:
    """``--memory``/``--licenses`` read as ``gator run`` reads them (same messages)."""
    import argparse

    from gator_nb.cli import licence, size

    try:
        return {
            "memory": None if args.memory is None else size(args.memory),
            "licenses": dict(licence(text) for text in args.licenses),
            "sample_interval": args.sample_interval,
        }
    except argparse.ArgumentTypeError as exc:
        raise UsageError(str(exc)) from None


def _start(spec: str | Spec, args: Any, *, cell: bool) -> Run:
    import gator_nb as gn

    options = _limits(args)
    try:
        return gn.run(
            spec,
            parallel=args.parallel,
            runs_dir=args.runs_dir,
            backend=args.backend,
            scheduler=args.scheduler,
            cluster=args.cluster,
            wait=False,
            env=args.env,
            seed=args.seed,
            max_jobs=args.max_jobs,
            shared=args.shared,
            **options,
        )
    except SpecError as exc:
        raise UsageError(spec_problems(exc, cell=cell)) from None
    except GatorError as exc:  # a bad option or runs dir, dask not installed
        raise UsageError(str(exc)) from None


def _rerun(args: Any) -> Run:
    import gator_nb as gn

    try:
        previous = gn.load(args.rerun, args.runs_dir)
        return gn.rerun(
            previous,
            failed=not args.all,
            only=args.only,
            env=args.env,
            deps=args.deps,
            parallel=args.parallel,
            runs_dir=args.runs_dir,
            wait=False,
        )
    except SpecError as exc:
        raise UsageError(spec_problems(exc)) from None
    except GatorError as exc:  # no such run
        raise UsageError(str(exc)) from None


def _assignments(items: list[str]) -> dict[str, str]:
    env = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name.isidentifier():
            raise UsageError(f"-e expects NAME=VALUE, got {item!r}")
        env[name] = value
    return env


def register(ipython: Any) -> None:
    """Register the magics, and show a displayed ``Run`` once per cell."""
    from gator_nb.notebook.view import display_once

    ipython.register_magics(GatorMagics)
    formatter = ipython.display_formatter.ipython_display_formatter
    formatter.for_type_by_name("gator_nb.runner", "Run", display_once)
