"""The one renderer of the run tree: a ``RunState`` becomes plain rows, and rows become text.

The terminal, the notebook widget, the HTML report and ``gator show`` all call ``render``;
they differ only in which nodes are open and in how a ``Row`` is drawn. Failed rows come
first among siblings so they are never lost below the fold; array copies are folded so an
array lists its copies' jobs (``tests[3].sim``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from gator_nb.aggregate import BUILT_IN
from gator_nb.display import for_display
from gator_nb.events import Status
from gator_nb.state import NodeState, RunState, format_bytes, format_duration

__all__ = [
    "MAX_ROWS",
    "Header",
    "Row",
    "header",
    "kids",
    "label",
    "node_row",
    "render",
    "row_text",
    "shown_kids",
    "summary_text",
    "tests_text",
    "time_left",
]

MAX_ROWS = 50  # rows per expanded node before "… N more" (notebook default)
NOTE_CHARS = 160
SHOWN_METRICS = 3  # user metrics on a row, by name; the panel and frames have them all
# Order in which counts are listed wherever a view lists them.
COUNTED = (Status.FAILED, Status.RUNNING, Status.PASSED, Status.SKIPPED, Status.CANCELLED)
_MARK = {
    Status.PENDING: ".",
    Status.RUNNING: "~",
    Status.PASSED: "+",
    Status.FAILED: "x",
    Status.SKIPPED: "-",
    Status.CANCELLED: "!",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One line of the tree: a job, a group/array/copy, a job's detail panel, or "… N more".

    ``key`` identifies the row across renders (a node path, ``PATH#detail`` or
    ``PATH#more``); ``name`` is the label, plain text, escaped only when turned into HTML.
    """

    key: str
    kind: str  # job | group | array | copy | detail | more
    depth: int
    name: str
    status: Status = Status.PENDING
    done: int = 0
    total: int = 0
    passed: int = 0
    failed: int = 0
    running: int = 0
    skipped: int = 0
    cancelled: int = 0
    warnings: int = 0
    errors: int = 0
    elapsed: str = ""
    peak: str = ""
    note: str = ""
    open: bool = False  # a group is expanded / a job's detail panel is shown
    tests: int = 0  # test cases from results files under this row
    tests_failed: int = 0
    metrics: tuple[tuple[str, str], ...] = ()  # (name, shown value): a job's, a group's mean
    live: str = ""  # a running job's latest sample: "cpu 98% rss 1.2 GiB"
    # Epoch seconds, for views that tick elapsed time themselves; not compared: ``elapsed``
    # already says what changed.
    start: float | None = field(default=None, compare=False)
    end: float | None = field(default=None, compare=False)  # set once the row is done

    def count(self, status: Status) -> int:
        """How many jobs under this row have ``status``."""
        return int(getattr(self, status.value, 0)) if status in COUNTED else 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """The run-level summary: counts over every job and the time since the first start."""

    status: Status
    total: int
    done: int
    passed: int
    failed: int
    running: int
    skipped: int
    cancelled: int
    elapsed: str

    def count(self, status: Status) -> int:
        return int(getattr(self, status.value, 0)) if status in COUNTED else 0


def header(state: RunState, now: float) -> Header:
    """Counts by status over the whole run (the roots' aggregates), and its elapsed time."""
    roots = [state.nodes[path] for path in state.roots]

    def count(status: Status) -> int:
        # .get() only: the engine thread may add a key while another thread renders.
        return sum(node.counts.get(status, 0) for node in roots)

    total = sum(node.total for node in roots)
    elapsed = ""
    if state.start is not None:
        elapsed = format_duration(max((state.end or now) - state.start, 0.0))
    return Header(
        status=state.status,
        total=total,
        done=total - count(Status.PENDING) - count(Status.RUNNING),
        passed=count(Status.PASSED),
        failed=count(Status.FAILED),
        running=count(Status.RUNNING),
        skipped=count(Status.SKIPPED),
        cancelled=count(Status.CANCELLED),
        elapsed=elapsed,
    )


def summary_text(head: Header) -> str:
    """``12/30 done: 10 passed, 1 failed, 1 skipped; 2 running; 12.0s``."""
    finished = (Status.PASSED, Status.FAILED, Status.SKIPPED, Status.CANCELLED)
    parts = [f"{head.count(s)} {s.value}" for s in finished if head.count(s)]
    text = f"{head.done}/{head.total} done" + (f": {', '.join(parts)}" if parts else "")
    if head.running:
        text += f"; {head.running} running"
    if head.elapsed:
        text += f"; {head.elapsed}"
    return text


def time_left(state: RunState, now: float) -> str:
    """``~1m20s left`` from the pace so far (jobs done per second), once a job has ended."""
    head = header(state, now)
    if state.status != Status.RUNNING or state.start is None or not head.done:
        return ""
    left = head.total - head.done
    if not left:
        return ""
    return f"~{format_duration((now - state.start) / head.done * left)} left"


def label(node: NodeState, state: RunState | None = None) -> str:
    """A node's name in the tree: its last path segment, with its copy for jobs in arrays
    and the copy's matrix values: ``tests[3].sim test=stress width=16``."""
    name = node.path.rsplit(".", 1)[-1] if node.parent else node.path
    if node.parent and node.parent.endswith("]"):  # in an array copy: "tests[3].smoke"
        name = node.parent.rsplit(".", 1)[-1] + "." + name
        copy = state.nodes.get(node.parent) if state is not None else None
        if copy is not None and copy.params:
            name += " " + " ".join(f"{key}={value}" for key, value in copy.params)
    return name


def kids(state: RunState, node: NodeState) -> list[NodeState]:
    """A node's rows one level down; an array shows its copies' children, not the copies."""
    children = [state.nodes[path] for path in node.children]
    if node.kind == "array":
        return [state.nodes[path] for copy in children for path in copy.children]
    return children


def _pick(nodes: list[NodeState], limit: int | None) -> tuple[list[NodeState], int, int]:
    """Failed first, then running, then the rest in plan order; at most ``limit`` of them.

    Returns the rows shown, how many are hidden, and how many of those failed.
    """
    cap = len(nodes) if limit is None else limit
    failed: list[NodeState] = []
    running: list[NodeState] = []
    rest: list[NodeState] = []
    for node in nodes:
        outcome = node.outcome
        if outcome == Status.FAILED:
            failed.append(node)
        elif outcome == Status.RUNNING:
            if len(running) < cap:
                running.append(node)
        elif len(rest) < cap:
            rest.append(node)
    shown = (failed + running + rest)[:cap]
    return shown, len(nodes) - len(shown), max(len(failed) - cap, 0)


def _elapsed(node: NodeState, now: float) -> str:
    if node.start is None:
        return ""
    end = node.end if node.end is not None and node.outcome.done else now
    return format_duration(max(end - node.start, 0.0))


def _note(node: NodeState) -> str:
    if node.first_failure is None:
        return ""
    job, why = node.first_failure
    text = why if node.kind == "job" else f"{job}: {why}"
    text = text if len(text) <= NOTE_CHARS else text[: NOTE_CHARS - 1] + "…"
    return for_display(text)  # rows reach terminals: a stored error may hold escapes


def _number(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.3e}"


def _metrics(state: RunState, node: NodeState) -> tuple[tuple[str, str], ...]:
    """The user metrics a row shows (not the built-in figures, shown their own way)."""
    if node.kind == "job":
        names = sorted(n for n in node.values if n not in BUILT_IN)[:SHOWN_METRICS]
        return tuple((name, _number(node.values[name])) for name in names)
    shown = []
    for name in sorted(n for n in node.metrics if n not in BUILT_IN)[:SHOWN_METRICS]:
        aggregate = state.metric(node.path, name)
        if aggregate is not None and aggregate.count:
            shown.append((name, f"mean {_number(aggregate.mean)} of {aggregate.count}"))
    return tuple(shown)


def tests_text(row: Row) -> str:
    """``3 tests, 1 failed``, or nothing for a row without test cases."""
    if not row.tests:
        return ""
    text = f"{row.tests} test{'s' if row.tests != 1 else ''}"
    return text + (f", {row.tests_failed} failed" if row.tests_failed else "")


def _row(state: RunState, node: NodeState, depth: int, now: float, is_open: bool) -> Row:
    counts = node.counts
    return Row(
        key=node.path,
        kind=node.kind,
        depth=depth,
        name=label(node, state),
        status=node.outcome,
        done=node.done,
        total=node.total,
        passed=counts.get(Status.PASSED, 0),
        failed=counts.get(Status.FAILED, 0),
        running=counts.get(Status.RUNNING, 0),
        skipped=counts.get(Status.SKIPPED, 0),
        cancelled=counts.get(Status.CANCELLED, 0),
        warnings=node.warnings,
        errors=node.errors,
        elapsed=_elapsed(node, now),
        peak=format_bytes(node.peak_rss) if node.peak_rss else "",
        note=_note(node),
        open=is_open,
        tests=node.tests,
        tests_failed=node.tests_failed,
        metrics=_metrics(state, node),
        live=_live(node),
        start=node.start,
        end=node.end if node.outcome.done else None,
    )


def _live(node: NodeState) -> str:
    if node.kind != "job" or node.status != Status.RUNNING or node.rss is None:
        return ""
    return f"cpu {node.cpu_percent or 0:.0f}% rss {format_bytes(node.rss)}"


def node_row(state: RunState, path: str, now: float) -> Row:
    """The row of one node alone, for views that lay the tree out themselves (the browser)."""
    return _row(state, state.nodes[path], 0, now, False)


def shown_kids(state: RunState, path: str) -> list[str]:
    """The keys of a node's rows one level down (array copies folded, as ``render`` does)."""
    return [node.path for node in kids(state, state.nodes[path])]


def render(
    state: RunState,
    now: float,
    *,
    expanded: Collection[str] | None = None,
    opened: Collection[str] = (),
    limits: Mapping[str, int] | None = None,
    max_rows: int | None = None,
    jobs: bool = True,
    max_depth: int | None = None,
    roots: Iterable[str] | None = None,
) -> list[Row]:
    """The visible rows, top to bottom.

    Args:
        state: the run tree (read only; safe to call while the engine updates it).
        now: wall-clock time for the durations of running nodes.
        expanded: groups/arrays whose children are shown; None: every one.
        opened: jobs whose detail panel is shown under their row.
        limits: rows to show under a node instead of ``max_rows`` ("… N more" raises it).
        max_rows: rows per node (None: all); failed rows come first so they are hidden last.
        jobs: False lists groups only.
        max_depth: rows deeper than this are not shown.
        roots: where to start (default: the run's roots); ``gator show RUN GROUP``.
    """
    rows: list[Row] = []
    limits = limits or {}

    def visit(nodes: list[NodeState], depth: int, parent: str) -> None:
        if not jobs:
            nodes = [node for node in nodes if node.kind != "job"]
        shown, hidden, failed = _pick(nodes, limits.get(parent, max_rows))
        for node in shown:
            if node.kind == "job":
                is_open = node.path in opened
            else:
                is_open = expanded is None or node.path in expanded
                if max_depth is not None and depth >= max_depth:
                    is_open = False
            rows.append(_row(state, node, depth, now, is_open))
            if is_open and node.kind == "job":
                rows.append(Row(key=node.path + "#detail", kind="detail", depth=depth + 1,
                                name=node.path, status=node.outcome))  # fmt: skip
            elif is_open:
                visit(kids(state, node), depth + 1, node.path)
        if hidden:
            note = f"… {hidden} more" + (f" ({failed} failed)" if failed else "")
            rows.append(Row(key=parent + "#more", kind="more", depth=depth, name=note))

    start = state.roots if roots is None else list(roots)
    visit([state.nodes[path] for path in start], 0, "")
    return rows


def row_text(row: Row) -> str:
    """One row as a line of plain text (terminal, ``gator show``, ``text/plain``)."""
    indent = "  " * row.depth
    if row.kind in ("more", "detail"):
        return indent + row.name
    parts = [f"{_MARK[row.status]} {row.name}"]
    if row.kind == "job":
        parts.append(row.status.value)
    else:
        counts = ", ".join(f"{row.count(s)} {s.value}" for s in COUNTED if row.count(s))
        parts.append(f"{row.done}/{row.total}" + (f" ({counts})" if counts else ""))
    if row.tests:
        parts.append(tests_text(row))
    parts += [f"{name} {value}" for name, value in row.metrics]
    if row.elapsed:
        parts.append(row.elapsed)
    if row.live:
        parts.append(row.live)
    if row.peak:
        parts.append(f"peak {row.peak}")
    if row.warnings or row.errors:
        parts.append(f"{row.warnings}W {row.errors}E")
    if row.note and row.kind == "job":  # a group's note repeats a job's: the tree shows it
        parts.append(f"- {row.note}")
    return indent + "  ".join(parts)
