"""The ``gator`` command line: argparse front end and exit codes.

0 when no job failed, 1 when a job failed, 2 for a bad spec or bad usage, 130 when
interrupted. Each command is a short pipeline of library calls.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gator_nb.errors import GatorError, SpecError

__all__ = ["main"]

_COMMANDS = ("run", "check", "runs", "show", "logs")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gator",
        description="Run a hierarchical job spec and keep its logs, results and resource use.",
        epilog="`gator SPEC` is short for `gator run SPEC`.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser("check", help="validate a spec and print its plan")
    check.add_argument("spec", metavar="SPEC")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in _COMMANDS and not args[0].startswith("-"):
        args.insert(0, "run")
    parser = _parser()
    try:
        options = parser.parse_args(args)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    if options.command is None:
        parser.print_help()
        return 2
    try:
        if options.command == "check":
            return _check(options.spec)
    except SpecError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(
            f"gator: {count} problem{'s' if count != 1 else ''}; nothing was run", file=sys.stderr
        )
        return 2
    except GatorError as exc:
        print(f"gator: {exc}", file=sys.stderr)
        return 2
    print(f"gator {options.command}: not yet implemented", file=sys.stderr)
    return 2


def _check(spec_path: str) -> int:
    from gator_nb.spec import load_spec, plan

    planned = plan(load_spec(spec_path))
    for warning in planned.warnings:
        print(warning, file=sys.stderr)
    groups = [g for g in planned.groups.values() if g.kind != "copy"]
    arrays = sum(1 for g in groups if g.kind == "array")
    print(
        f"{spec_path}: ok: {len(planned.jobs)} jobs, {len(groups)} groups "
        f"({arrays} arrays), depth {planned.depth}"
    )
    if planned.edges:
        print("dependencies:")
        width = max(len(node) for node, _, _ in planned.edges)
        for node, kind, target in planned.edges:
            print(f"  {node:<{width}}  on_{kind:<4}  {target}")
    return 0
