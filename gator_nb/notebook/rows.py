"""Pure rendering of a ``RunState`` into the rows a view shows: which nodes, in what order.

No widgets here: ``render(state, now, ...)`` returns plain frozen rows, so what the notebook
shows is tested by list equality and the widget side only copies changed values across.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from gator_nb.events import Status
from gator_nb.state import NodeState, RunState, format_bytes, format_duration

__all__ = ["MAX_ROWS", "Header", "Row", "header", "kids", "label", "render"]

MAX_ROWS = 50  # rows per expanded node before "… N more"
_NOTE_CHARS = 160


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One line of the tree: a job, a group/array/copy, a job's detail panel, or "… N more".

    ``key`` identifies the row across renders (a node path, ``PATH#detail`` or
    ``PATH#more``); ``name`` is plain text, escaped only when turned into HTML.
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """The run-level summary line: counts over every job and the time since the first start."""

    status: Status
    total: int
    done: int
    passed: int
    failed: int
    running: int
    skipped: int
    cancelled: int
    elapsed: str


def _count(nodes: Iterable[NodeState], status: Status) -> int:
    # .get() only: the engine thread may add a key while another thread renders.
    return sum(node.counts.get(status, 0) for node in nodes)


def header(state: RunState, now: float) -> Header:
    """Counts by status over the whole run, and its elapsed time."""
    roots = [state.nodes[path] for path in state.roots]
    total = sum(node.total for node in roots)
    pending, running = _count(roots, Status.PENDING), _count(roots, Status.RUNNING)
    elapsed = ""
    if state.start is not None:
        elapsed = format_duration((state.end or now) - state.start)
    return Header(
        status=state.status,
        total=total,
        done=total - pending - running,
        passed=_count(roots, Status.PASSED),
        failed=_count(roots, Status.FAILED),
        running=running,
        skipped=_count(roots, Status.SKIPPED),
        cancelled=_count(roots, Status.CANCELLED),
        elapsed=elapsed,
    )


def label(node: NodeState) -> str:
    """A node's name in the tree: its last path segment, with its copy for jobs in arrays."""
    name = node.path.rsplit(".", 1)[-1] if node.parent else node.path
    if node.parent and node.parent.endswith("]"):  # in an array copy: "tests[3].smoke"
        name = node.parent.rsplit(".", 1)[-1] + "." + name
    return name


def kids(state: RunState, node: NodeState) -> list[NodeState]:
    """A node's rows one level down; an array shows its copies' children, not the copies."""
    children = [state.nodes[path] for path in node.children]
    if node.kind == "array":
        return [state.nodes[path] for copy in children for path in copy.children]
    return children


def _pick(nodes: list[NodeState], limit: int) -> tuple[list[NodeState], int, int]:
    """Failed first, then running, then the rest in plan order; at most ``limit`` of them.

    Returns the rows shown, how many are hidden, and how many of those failed.
    """
    failed: list[NodeState] = []
    running: list[NodeState] = []
    rest: list[NodeState] = []
    for node in nodes:
        outcome = node.outcome
        if outcome == Status.FAILED:
            failed.append(node)
        elif outcome == Status.RUNNING:
            if len(running) < limit:
                running.append(node)
        elif len(rest) < limit:
            rest.append(node)
    shown = (failed + running + rest)[:limit]
    return shown, len(nodes) - len(shown), max(len(failed) - limit, 0)


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
    return text if len(text) <= _NOTE_CHARS else text[: _NOTE_CHARS - 1] + "…"


def _row(node: NodeState, depth: int, now: float, is_open: bool) -> Row:
    counts = node.counts
    return Row(
        key=node.path,
        kind=node.kind,
        depth=depth,
        name=label(node),
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
    )


def render(
    state: RunState,
    now: float,
    *,
    expanded: Collection[str] = (),
    opened: Collection[str] = (),
    limits: Mapping[str, int] | None = None,
    max_rows: int = MAX_ROWS,
) -> list[Row]:
    """The visible rows, top to bottom.

    Args:
        state: the run tree (read only; safe to call while the engine updates it).
        now: wall-clock time for the durations of running nodes.
        expanded: groups/arrays whose children are shown.
        opened: jobs whose detail panel is shown under their row.
        limits: rows to show under a node instead of ``max_rows`` ("… N more" raises it).
        max_rows: rows per expanded node; failed rows come first so they are the last hidden.
    """
    rows: list[Row] = []
    limits = limits or {}

    def visit(nodes: list[NodeState], depth: int, parent: str) -> None:
        shown, hidden, failed = _pick(nodes, limits.get(parent, max_rows))
        for node in shown:
            is_open = node.path in (opened if node.kind == "job" else expanded)
            rows.append(_row(node, depth, now, is_open))
            if is_open and node.kind == "job":
                rows.append(Row(key=node.path + "#detail", kind="detail", depth=depth + 1,
                                name=node.path, status=node.outcome))  # fmt: skip
            elif is_open:
                visit(kids(state, node), depth + 1, node.path)
        if hidden:
            note = f"… {hidden} more" + (f" ({failed} failed)" if failed else "")
            rows.append(Row(key=parent + "#more", kind="more", depth=depth, name=note))

    visit([state.nodes[path] for path in state.roots], 0, "")
    return rows
