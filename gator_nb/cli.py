"""The ``gator`` command line: argparse front end and exit codes.

0 when no job failed, 1 when a job failed, 2 for a bad spec or bad usage, 130 when
interrupted. Each command is a short pipeline of library calls.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from gator_nb.errors import GatorError, SpecError

if TYPE_CHECKING:
    from gator_nb.events import Status
    from gator_nb.execution import Execution
    from gator_nb.terminal import LiveTree

__all__ = ["licence", "main", "size"]

_SHOW_JOBS = 200  # above this many jobs, `gator show` lists groups and failures only
_COMMANDS = ("run", "check", "runs", "show", "logs", "rerun", "compare", "report")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gator",
        description="Run a hierarchical job spec and keep its logs, results and resource use.",
        epilog="`gator SPEC` is short for `gator run SPEC`.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser("check", help="validate a spec and print its plan")
    check.add_argument("spec", metavar="SPEC")
    _max_jobs(check)
    run = sub.add_parser("run", help="run a spec (the default command)")
    run.add_argument("spec", metavar="SPEC")
    run.add_argument(
        "--seed",
        type=_seed,
        metavar="N",
        help="the run's seed: each job's GATOR_SEED derives from it (default: random, recorded)",
    )
    _run_options(run)
    runs = sub.add_parser("runs", help="list runs")
    runs.add_argument("--runs-dir", metavar="DIR")
    show = sub.add_parser("show", help="a run's tree, a group's subtree, or one job's details")
    show.add_argument("run", metavar="RUN", help="run id, id prefix, path or 'latest'")
    show.add_argument("job", metavar="JOB|GROUP", nargs="?")
    show.add_argument(
        "--all", action="store_true", help=f"every job even in runs of more than {_SHOW_JOBS} jobs"
    )
    show.add_argument("--runs-dir", metavar="DIR")
    rerun = sub.add_parser(
        "rerun", help="run a run's failed jobs again (a child run), as `gator run` would"
    )
    rerun.add_argument("run", metavar="RUN")
    rerun.add_argument(
        "--all",
        action="store_true",
        help="every job of the run (default: the failed ones and those skipped because of them)",
    )
    rerun.add_argument(
        "--only",
        action="append",
        metavar="PATH",
        help="the jobs under this job or group path instead (repeatable)",
    )
    rerun.add_argument(
        "--no-deps",
        dest="deps",
        action="store_false",
        help="do not rerun what the chosen jobs wait on (on_pass, inputs): use its artefacts",
    )
    _run_options(rerun)
    compare = sub.add_parser("compare", help="job by job: what changed between two runs")
    compare.add_argument("before", metavar="A")
    compare.add_argument("after", metavar="B")
    compare.add_argument("--all", action="store_true", help="also list unchanged jobs")
    compare.add_argument("--runs-dir", metavar="DIR")
    report = sub.add_parser("report", help="write a run's HTML report and/or JUnit XML")
    report.add_argument("run", metavar="RUN")
    report.add_argument("--html", metavar="FILE", help="self-contained HTML report")
    report.add_argument("--junit", metavar="FILE", help="JUnit XML for CI systems")
    report.add_argument("--runs-dir", metavar="DIR")
    logs = sub.add_parser("logs", help="a job's log, streamed")
    logs.add_argument("run", metavar="RUN")
    logs.add_argument("job", metavar="JOB")
    logs.add_argument("--severity", metavar="LEVEL", help="only lines at LEVEL or above")
    logs.add_argument("--grep", metavar="REGEX", help="only lines matching REGEX")
    logs.add_argument("--tail", type=_positive_int, metavar="N", help="only the last N lines")
    logs.add_argument("--runs-dir", metavar="DIR")
    return parser


def _run_options(parser: argparse.ArgumentParser) -> None:
    """The options `gator run` and `gator rerun` share: how to run, where, how loudly."""
    parser.add_argument(
        "--parallel",
        "-j",
        type=_positive_int,
        metavar="N",
        help="jobs (cores) at once; default: the machine's CPU count",
    )
    parser.add_argument(
        "--memory",
        type=size,
        metavar="SIZE",
        help="memory budget for jobs with !Memory, e.g. 16GB",
    )
    parser.add_argument(
        "--licenses",
        type=licence,
        action="append",
        default=[],
        metavar="NAME=N",
        help="seats of a licence (repeatable)",
    )
    _max_jobs(parser)
    parser.add_argument(
        "--sample-interval",
        type=_interval,
        default=1.0,
        metavar="S",
        help="seconds between resource samples (default 1)",
    )
    parser.add_argument(
        "-e",
        "--env",
        dest="env",
        type=_assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a variable for every job, over the spec's env (repeatable)",
    )
    parser.add_argument("--runs-dir", metavar="DIR", help="where runs are kept (./gator-runs)")
    parser.add_argument(
        "--shared",
        action="store_true",
        help="let the umask decide who may read the run (default: only you)",
    )
    parser.add_argument("--backend", choices=("local", "dask"), help="where jobs run (local)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address")
    where.add_argument(
        "--cluster",
        choices=("local", "slurm", "lsf", "sge", "pbs"),
        help="start a Dask cluster for the run (dask-jobqueue's from the Dask config)",
    )
    loud = parser.add_mutually_exclusive_group()
    loud.add_argument("-v", "--verbose", action="store_true", help="stream job output")
    loud.add_argument("-q", "--quiet", action="store_true", help="only the final summary")


def _max_jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-jobs",
        type=_positive_int,
        default=1_000_000,
        metavar="N",
        help="refuse specs that expand to more jobs (or groups) than this (1,000,000)",
    )


def _positive_int(text: str) -> int:
    from gator_nb.options import parse_count

    try:
        return parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _interval(text: str) -> float:
    from gator_nb.options import parse_interval

    try:
        return parse_interval(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def size(text: str) -> int:
    """``16GB`` -> bytes (``--memory``; the magic reads it the same way)."""
    from gator_nb.options import parse_size
    from gator_nb.spec.load import MEMORY_UNITS

    try:
        return parse_size(text, MEMORY_UNITS)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _assignment(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.isidentifier() or not name.isascii():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text}")
    return name, value


def _seed(text: str) -> int:
    from gator_nb.spec.seeds import MAX_SEED

    if not text.isdigit() or int(text) > MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a whole number 0 to {MAX_SEED}, got {text}")
    return int(text)


def licence(text: str) -> tuple[str, int]:
    """``NAME=N`` -> (name, seats) (``--licenses``)."""
    name, _, count = text.partition("=")
    if not name or not count.isdigit() or len(count) > 7 or int(count) < 1:
        raise argparse.ArgumentTypeError(f"expected NAME=N with N >= 1, got {text}")
    return name, int(count)


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
            return _check(options.spec, options.max_jobs)
        if options.command == "run":
            return _run(options, args)
        if options.command == "runs":
            return _runs(options.runs_dir)
        if options.command == "show":
            return _show(options.run, options.job, options.runs_dir, everything=options.all)
        if options.command == "logs":
            return _logs(options)
        if options.command == "rerun":
            return _rerun(options, args)
        if options.command == "compare":
            return _compare(options.before, options.after, options.runs_dir, options.all)
        if options.command == "report":
            return _report(options.run, options.html, options.junit, options.runs_dir)
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
    except BrokenPipeError:  # `gator show ... | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    raise AssertionError(options.command)  # every sub-command returns above


def _check(spec_path: str, max_jobs: int) -> int:
    from gator_nb.spec import load_spec, plan

    planned = plan(load_spec(spec_path, max_jobs=max_jobs))
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


def _execution_options(options: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    return {
        "runs_dir": options.runs_dir,
        "parallel": options.parallel,
        "memory": options.memory,
        "licenses": dict(options.licenses),
        "sample_interval": options.sample_interval,
        "backend": _backend(options),
        "scheduler": options.scheduler,
        "cluster": options.cluster,
        "argv": ["gator", *argv],
        "env": dict(options.env),
        "max_jobs": options.max_jobs,
        "shared": options.shared,
    }


def _run(options: argparse.Namespace, argv: list[str]) -> int:
    from gator_nb.execution import Execution

    settings = _execution_options(options, argv)
    return _execute(Execution(options.spec, seed=options.seed, **settings), options)


def _rerun(options: argparse.Namespace, argv: list[str]) -> int:
    import gator_nb as gn
    from gator_nb.execution import Execution

    before = gn.load(options.run, options.runs_dir)
    settings = _execution_options(options, argv)
    settings["runs_dir"] = options.runs_dir or before.path.parent
    execution = Execution.rerun(
        before.path, failed=not options.all, only=options.only, deps=options.deps, **settings
    )
    if not options.quiet:
        print(f"gator: rerun of {before.id} as {execution.id}", flush=True)
    return _execute(execution, options)


def _execute(execution: Execution, options: argparse.Namespace) -> int:
    """Drive a run to its end with the live view or line log; its exit code."""
    from gator_nb.terminal import LineLog, LiveTree, summary_line

    for warning in execution.plan.warnings:
        print(warning, file=sys.stderr)
    if execution.backend == "dask" and not options.verbose:
        _quiet_dask()
    live = None
    if sys.stdout.isatty() and not options.quiet:
        live = LiveTree(execution.state, sys.stdout, title=execution.id, verbose=options.verbose)
        execution.listeners.append(live)
    elif not options.quiet:
        print(f"gator: run {execution.id} in {execution.path}", flush=True)
        execution.listeners.append(LineLog(sys.stdout, verbose=options.verbose))
    try:
        status = asyncio.run(_drive(execution, live))
    except (KeyboardInterrupt, asyncio.CancelledError):
        status = None
    if live is not None and live in execution.listeners:
        live.draw(final=True)
    summary = summary_line(execution.state, time.time())
    for problem in execution.problems:
        _say(f"gator: {problem}", sys.stderr)
    if status is None or execution.status.value == "cancelled":
        _say(f"gator: interrupted; {summary}; run {execution.id}", sys.stderr)
        return 130
    _say(f"gator: {status.value}: {summary}; run {execution.id}", sys.stdout)
    return 0 if status.value == "passed" else 1


def _backend(options: argparse.Namespace) -> str:
    if options.cluster and options.backend == "local":
        raise GatorError(f"--cluster {options.cluster} runs jobs on Dask: not with --backend local")
    return str(options.backend or ("dask" if options.cluster else "local"))


def _quiet_dask() -> None:
    """gator says in one line what a lost scheduler or worker means for the run; Dask's
    own log would add tracebacks of its reconnection attempts (-v keeps them)."""
    # Imported first: on import it sets its loggers' levels from the Dask config. The
    # backend was checked already: distributed is there.
    import distributed  # noqa: F401

    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in ("distributed", "tornado"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _say(text: str, stream: TextIO) -> None:
    """Print, unless whoever read our output has gone (`gator run ... | head`)."""
    try:
        print(text, file=stream, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())  # so the interpreter's final flush is quiet too


async def _drive(execution: Execution, live: LiveTree | None) -> Status:
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    # Handle both ourselves: asyncio.run skips SIGINT when the shell started us with it
    # ignored (a background job), and SIGTERM should stop the jobs just as Ctrl-C does.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.cancel)
    drawing = asyncio.create_task(live.run()) if live is not None else None
    try:
        return await execution.main()
    finally:
        if drawing is not None:
            drawing.cancel()
            await asyncio.gather(drawing, return_exceptions=True)


def _runs(runs_dir: str | None) -> int:
    import gator_nb as gn
    from gator_nb.execution import runs_dir_of
    from gator_nb.state import format_duration

    table = gn.runs(runs_dir)
    for line in table.attrs.get("skipped", ()):
        print(f"gator: skipped a run that cannot be read: {line}", file=sys.stderr)
    if not len(table):
        print(f"no runs in {runs_dir_of(runs_dir)}")
        return 0
    for row in table.itertuples(index=False):
        took = (
            "-"
            if row.end is None or row.end != row.end
            else format_duration((row.end - row.start).total_seconds())
        )
        print(
            f"{row.id}  {row.status:<9}  {row.passed:>5} passed  "
            f"{row.failed:>4} failed  {row.jobs:>5} jobs  {took:>7}  {row.spec}"
        )
    return 0


def _show(name: str, job: str | None, runs_dir: str | None, *, everything: bool = False) -> int:
    import gator_nb as gn
    from gator_nb.views import render, row_text

    found = gn.load(name, runs_dir)
    info, state = found.info(), found.state
    group = state.nodes.get(job) if job is not None else None
    if job is not None and (group is None or group.kind == "job"):
        facts = found.job(job)
        return _show_job(facts, found.tests_of(job) if facts["tests"] else None)
    roots = None if group is None else [group.path]  # `gator show RUN GROUP`: its subtree
    note = "  (its engine stopped without finishing it)" if info["interrupted"] else ""
    print(f"run {found.id}: {state.status.value}{note}  ({found.path})")
    jobs = everything or len(state.jobs) <= _SHOW_JOBS
    now = time.time()
    print("\n".join(row_text(row) for row in render(state, now, jobs=jobs, roots=roots)))
    if not jobs:  # a big run: its groups, then only the jobs that failed
        failed = [n.path for n in state.jobs if n.status.value == "failed"]
        print(f"{len(state.jobs)} jobs; the {len(failed)} that failed (--all for every job):")
        for row in render(state, now, roots=failed):  # named by their whole path
            print("  " + row_text(dataclasses.replace(row, name=row.key)))
    return 0


def _show_job(row: dict[str, Any], tests: Any = None) -> int:
    from gator_nb.display import clip, for_display
    from gator_nb.state import format_bytes, format_duration

    duration = format_duration(row["duration_s"]) if row.get("duration_s") is not None else "-"
    print(f"{row['job']}: {row['status']}")
    for label, value in (
        ("exit code", row.get("exit_code")),
        ("reason", row.get("reason")),
        ("duration", duration),
        ("cpu", f"{row.get('cpu_s') or 0:.2f}s"),
        ("peak rss", format_bytes(row["peak_rss"]) if row.get("peak_rss") else "not measured"),
        ("attempts", row.get("attempt") if (row.get("attempt") or 1) > 1 else None),
        ("warnings", row.get("warnings")),
        ("errors", row.get("errors")),
        ("first error", row.get("first_error")),
        (
            "tests",
            f"{row['tests']} ({row['tests_failed'] or 0} failed)" if row.get("tests") else None,
        ),
        ("command", row.get("command")),
        ("cwd", row.get("cwd")),
    ):
        if value not in (None, ""):
            print(f"  {label:<12} {for_display(clip(str(value)))}")
    for name, value in sorted((row.get("metrics") or {}).items()):
        print(f"  {'metric':<12} {name} = {value:.6g}")
    if tests is not None:
        for case in tests.itertuples(index=False):
            if case.status in ("failed", "error"):
                message = str(case.message).strip().split("\n", 1)[0] if case.message else ""
                print(for_display(f"  {case.status:<12} {case.test}  {message}"[:300]))
    return 0


def _logs(options: argparse.Namespace) -> int:
    """Stream the job's lines: constant memory whatever the log's size (``--tail`` keeps N)."""
    import collections
    import re

    import gator_nb as gn

    try:
        pattern = re.compile(options.grep) if options.grep is not None else None
    except re.error as exc:
        print(f"gator: bad --grep {options.grep!r}: {exc}", file=sys.stderr)
        return 2
    lines: Iterable[tuple[str, str]] = gn.load(options.run, options.runs_dir).lines(
        options.job, options.severity
    )
    if pattern is not None:
        lines = (line for line in lines if pattern.search(line[1]))
    if options.tail:
        lines = collections.deque(lines, maxlen=options.tail)
    out = sys.stdout
    for _severity, text in lines:
        out.write(text + "\n")
    return 0


def _compare(before: str, after: str, runs_dir: str | None, everything: bool) -> int:
    import gator_nb as gn

    a, b = gn.load(before, runs_dir), gn.load(after, runs_dir)
    table = gn.compare(a, b)
    print(f"{a.id} -> {b.id}")
    for change, count in table["change"].value_counts().items():
        print(f"  {count:>5} {change}")
    if not everything:  # what did not change, or was not run again, only with --all
        table = table[~table["change"].isin(["unchanged", "not-rerun"])]
    for row in table.itertuples(index=False):
        ratio = row.duration_ratio
        took = f"  x{ratio:.2f} time" if ratio == ratio and ratio is not None else ""
        was, now = (s if isinstance(s, str) else "-" for s in (row.status_a, row.status_b))
        print(f"{row.change:<14} {row.job}  ({was} -> {now}){took}")
    return 0


def _report(name: str, html: str | None, junit: str | None, runs_dir: str | None) -> int:
    import gator_nb as gn

    found = gn.load(name, runs_dir)
    if not html and not junit:
        html = str(found.path / "report.html")
    if html:
        print(f"gator: wrote {found.report(html)}")
    if junit:
        print(f"gator: wrote {found.to_junit(junit)}")
    return 0
