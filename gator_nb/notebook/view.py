"""Notebook views of a run: ``RunView`` feeds the browser's tree (``TreeWidget``) with the rows
that changed, from the engine's loop; ``mimebundle``/``show`` are how a ``Run`` displays itself.

While the run is live the cell shows the widget; when it ends the cell's output is replaced
by the final tree as static HTML (``final.py``) and text, which is what a saved notebook,
nbconvert and GitHub show.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gator_nb.events import Event, JobFinished, JobMetric, JobSampled, JobStarted, Status
from gator_nb.notebook.detail import Tails, load_detail
from gator_nb.notebook.kernel import adopt_parent, cell_key, current_parent, in_kernel
from gator_nb.state import RunState
from gator_nb.views import (
    MAX_ROWS,
    Row,
    header,
    node_row,
    render,
    row_text,
    shown_kids,
    summary_text,
    time_left,
)

if TYPE_CHECKING:
    from gator_nb import Run
    from gator_nb.notebook.tree import TreeWidget

__all__ = [
    "RunView",
    "Throttle",
    "display_once",
    "final_bundle",
    "mimebundle",
    "show",
    "text",
    "view_of",
    "waited",
]

_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_VIEWS: weakref.WeakKeyDictionary[Run, RunView] = weakref.WeakKeyDictionary()
_SHOWN_IN: weakref.WeakKeyDictionary[Run, tuple[int, str]] = weakref.WeakKeyDictionary()


class Throttle:
    """When to render: the state changed and ``refresh_s`` passed, or ``tick_s`` passed."""

    def __init__(
        self,
        refresh_s: float = 0.25,
        tick_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.refresh_s, self.tick_s, self.clock = refresh_s, tick_s, clock
        self.seen: int | None = None
        self.last = float("-inf")

    def due(self, version: int) -> bool:
        """True when a render is due now (and note that it happens)."""
        now = self.clock()
        waited = now - self.last
        if (version != self.seen and waited >= self.refresh_s) or waited >= self.tick_s:
            self.seen, self.last = version, now
            return True
        return False


class RunView:
    """A run's tree in the browser: every row once, then only the rows that changed.

    Args:
        run: the run shown; its store feeds "more log", ``cancel`` the Stop button.
        state: the tree to show (default ``run.state``; a synthetic one in tests, which
            then pass its events to ``note``).
        max_rows: rows under each expanded node before "… N more" (the browser pages).
        refresh_s: shortest time between two updates (<= 4 a second by default, <= 10 ever).
        tick_s: longest time between updates while running (the header's estimate).
        clock: monotonic time for the throttle; ``wall``: time.time for durations.
    """

    def __init__(
        self,
        run: Run,
        *,
        state: RunState | None = None,
        max_rows: int = MAX_ROWS,
        refresh_s: float = 0.25,
        tick_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        from gator_nb.notebook.tree import COLOURS, ROW_FIELDS, TreeWidget, encode

        self.run = run
        self.state = run.state if state is None else state
        self.max_rows, self.wall = max_rows, wall
        self.throttle = Throttle(max(refresh_s, 0.1), tick_s, clock)
        self.renders = 0  # delta messages sent
        self.seq = 0
        self.finished = threading.Event()  # set once the final state is on show
        self.handles: list[Any] = []  # the displays of this view, replaced by the final HTML
        self.live = False  # following a run that executes in this process
        self._lock = threading.Lock()  # note() runs on the engine thread, update() too,
        self._dirty: set[str] = set()  # ... the kernel thread answers the browser
        self._details: dict[str, dict[str, Any]] = {}
        self._tails = Tails()
        self._encode = encode
        now = wall()
        state_ = self.state
        rows = {
            p: encode(node_row(state_, p, now)) for p, n in state_.nodes.items() if n.kind != "copy"
        }
        kids = {
            p: shown_kids(state_, p)
            for p, n in state_.nodes.items()
            if n.kind not in ("job", "copy")
        }
        snapshot = {
            "seq": 0, "now": now, "fields": list(ROW_FIELDS), "rows": rows, "kids": kids,
            "roots": list(state_.roots), "head": self._head(now), "colours": COLOURS,
            "max_rows": max_rows, "details": {},
        }  # fmt: skip
        # Given to the constructor: the comm opens with it (one message, not open + update).
        self.widget: TreeWidget = TreeWidget(run_id=run.id, snapshot=snapshot)
        self.widget.on_msg(self._message)

    # -- what changed ----------------------------------------------------------------

    def note(self, event: Event) -> None:
        """Mark what ``event`` changed (a ``Run.subscribe`` listener, on the engine thread)."""
        detail = self._tails.note(event)
        job = getattr(event, "job", None)
        if job is None or job not in self.state.nodes:
            return
        with self._lock:
            if isinstance(event, (JobStarted, JobFinished, JobMetric)):
                self._dirty.update(node.path for node in self.state.chain(job))
            elif isinstance(event, JobSampled):
                self._dirty.add(job)
            if detail is not None:
                self._details[job] = detail

    def rows(self) -> list[Row]:
        """The rows of the whole tree as ``render`` lays them out (text form, tests)."""
        return render(self.state, self.wall(), expanded=None, max_rows=self.max_rows)

    def update(self) -> None:
        """Send the rows that changed since the last update, and the header."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            details, self._details = self._details, {}
        now = self.wall()
        nodes = self.state.nodes
        rows = {
            p: self._encode(node_row(self.state, p, now)) for p in dirty if nodes[p].kind != "copy"
        }
        self.seq += 1
        self.renders += 1
        self.widget.send({"type": "delta", "seq": self.seq, "now": now, "head": self._head(now),
                          "rows": rows, "details": details})  # fmt: skip

    def _head(self, now: float) -> dict[str, Any]:
        from gator_nb.notebook.tree import head

        state = self.state
        return head(header(state, now), state.start, state.end, time_left(state, now))

    # -- the browser's requests (kernel thread) ----------------------------------------

    def _message(self, _widget: Any, content: Any, _buffers: Any = None) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "stop":
            self.stop()
        elif content.get("type") == "detail" and str(content.get("job")) in self.state.nodes:
            job = str(content["job"])
            self.widget.send({"type": "detail", "job": job, "detail": load_detail(self.run, job)})

    def stop(self) -> None:
        """Cancel the run without blocking the kernel: the cancel waits on its own thread."""
        threading.Thread(target=self.run.cancel, name="gator-stop", daemon=True).start()

    # -- keeping up with a live run -----------------------------------------------------

    def attach(self, parent: dict[str, Any] | None = None) -> bool:
        """Follow the run until it ends, then show the final tree; False if it is not live."""
        if not self.run.subscribe(self.note) or self.run.on_loop(self._start(parent or {})) is None:
            self.finished.set()
            return False
        self.live = True
        threading.Thread(
            target=self._final, args=(parent or {},), name=f"gator-view-{self.run.id}", daemon=True
        ).start()
        return True

    async def _start(self, parent: dict[str, Any]) -> None:
        adopt_parent(parent)  # before this thread sends anything (ipywidgets#4020)
        with self._lock:  # what happened before we subscribed
            self._dirty.update(self.state.nodes)
        self._tick(asyncio.get_running_loop())

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        # A timer callback rather than a task: the engine's loop closes as soon as the run
        # ends, and a task still sleeping then is reported as destroyed; a timer is dropped.
        if self.state.status == Status.RUNNING:  # first, so one failed update stops nothing
            loop.call_later(self.throttle.refresh_s, self._tick, loop)
        if self.throttle.due(self.state.version):
            self.update()

    def _final(self, parent: dict[str, Any]) -> None:
        # The run's own error is raised to whoever waits on it; the view shows where it stopped.
        with contextlib.suppress(Exception):
            self.run.wait()
        adopt_parent(parent)
        self.update()
        self.show_final()
        self.finished.set()

    def show_final(self) -> None:
        """Replace each display of this view by the final HTML and text (once per thread)."""
        if not self.handles:
            return
        bundle = final_bundle(self.run, self.state)
        for handle in self.handles:
            handle.update(bundle, raw=True)


def view_of(run: Run) -> RunView:
    """The one view of ``run`` in this kernel, created (and attached) on first use."""
    view = _VIEWS.get(run)
    if view is None:
        view = _VIEWS[run] = RunView(run)
        view.attach(current_parent())
    return view


def text(run: Run, state: RunState | None = None, *, max_lines: int = 20) -> str:
    """A text/plain summary: status and counts, then the top of the tree (groups only)."""
    state = state if state is not None else run.state
    now = time.time()
    lines = [f"gator run {run.id}: {state.status.value}; {summary_text(header(state, now))}"]
    tree = [row_text(row) for row in render(state, now, jobs=False, max_depth=2)]
    lines += ["  " + line for line in tree[:max_lines]]
    if len(tree) > max_lines:
        lines.append(f"  … {len(tree) - max_lines} more groups")
    return "\n".join(lines)


def final_bundle(run: Run, state: RunState | None = None) -> dict[str, Any]:
    """A finished run's display: the static tree as HTML, and text."""
    from gator_nb.notebook.final import final_html

    state = state if state is not None else run.state
    return {"text/html": final_html(run, state), "text/plain": text(run, state)}


def mimebundle(run: Run, *, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    """The run's display: the live widget tree while it runs in this kernel, else the final
    HTML tree; and text/plain always."""
    data: dict[str, Any]
    view = view_of(run) if in_kernel() and run.status == "running" else None
    if view is not None and view.live:
        bundle: Any = view.widget._repr_mimebundle_() or {}
        if isinstance(bundle, tuple):  # (data, metadata) from some ipywidgets versions
            bundle = bundle[0]
        data = {_WIDGET_MIME: bundle[_WIDGET_MIME], "text/plain": text(run, view.state)}
    elif in_kernel():  # finished, or running in another process: the tree as it stands
        data = final_bundle(run)
    else:
        data = {"text/plain": text(run)}
    if include:
        data = {k: v for k, v in data.items() if k in include}
    if exclude:
        data = {k: v for k, v in data.items() if k not in exclude}
    return data


def show(run: Run) -> None:
    """Display ``run`` in the current cell (the magic's display of the run it started)."""
    from IPython import display as ipython_display

    publish: Any = ipython_display.display  # untyped upstream
    bundle = mimebundle(run)
    handle = publish(bundle, raw=True, display_id=True)
    view = _VIEWS.get(run)
    if view is not None and _WIDGET_MIME in bundle:
        view.handles.append(handle)
        if view.finished.is_set():  # it ended while we displayed it
            view.show_final()
    _SHOWN_IN[run] = cell_key()


def waited(run: Run) -> None:
    """``Run.wait`` returned in the kernel's thread: show the final tree from there too, so
    that clients that only follow the running cell (nbclient, nbconvert) see it."""
    view = _VIEWS.get(run)
    if view is not None and view.handles and threading.current_thread() is threading.main_thread():
        view.finished.wait(5)
        view.show_final()


def display_once(run: Run) -> None:
    """IPython display hook for ``Run``: skip the copy ``show`` already put in this cell.

    ``%gator`` shows the run itself (so ``run = %gator ...`` and ``--wait`` show it too)
    and also returns it; the cell's result would otherwise show a second copy.
    """
    if _SHOWN_IN.pop(run, None) == cell_key():
        return
    show(run)
