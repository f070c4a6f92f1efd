"""Notebook views of a run: ``RunView``, a live ipywidgets tree refreshed from ``RunState``
on the engine's loop, and ``mimebundle``/``show`` through which a ``Run`` displays itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gator_nb.events import Status
from gator_nb.notebook.kernel import adopt_parent, cell_key, current_parent, in_kernel
from gator_nb.state import RunState
from gator_nb.views import MAX_ROWS, Row, header, render, row_text, summary_text

if TYPE_CHECKING:
    import ipywidgets as widgets

    from gator_nb import Run
    from gator_nb.notebook.detail import DetailPanel
    from gator_nb.notebook.tree import HeaderWidget, RowWidget

__all__ = ["RunView", "Throttle", "display_once", "mimebundle", "show", "text", "view_of"]

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
    """A run's tree as stock ipywidgets, built once and updated in place.

    Args:
        run: the run shown; its store feeds the job panels, ``cancel`` the Stop button.
        state: the tree to show (default ``run.state``; a synthetic one in tests).
        max_rows: rows under each expanded node before "… N more".
        refresh_s: shortest time between two renders of a changed state (<= 10 per second).
        tick_s: longest time between renders while running, so elapsed times advance.
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
        import ipywidgets as widgets

        from gator_nb.notebook.tree import HeaderWidget

        self.run = run
        self.state = run.state if state is None else state
        self.max_rows, self.refresh_s, self.wall = max_rows, refresh_s, wall
        self.throttle = Throttle(refresh_s, tick_s, clock)
        self.expanded: set[str] = set(self.state.roots)
        self.opened: set[str] = set()
        self.limits: dict[str, int] = {}
        self.renders = 0
        self.finished = threading.Event()  # set once the final state is on show
        self._rows: dict[str, RowWidget] = {}  # by row key, for the rows on show
        self._spare: dict[str, list[RowWidget]] = {}  # by kind, for rows that left the view
        self._details: dict[str, DetailPanel] = {}
        self._lock = threading.RLock()  # renders come from the engine, kernel and end threads
        self.header: HeaderWidget = HeaderWidget(run.id, self.stop)
        self.body = widgets.VBox()
        self.widget = widgets.VBox([self.header.box, self.body])
        self.widget.add_class("gator-view")
        self.update()

    # -- rendering -----------------------------------------------------------------

    def rows(self) -> list[Row]:
        """The rows the view shows now (pure function of the state and what is expanded)."""
        return render(
            self.state,
            self.wall(),
            expanded=self.expanded,
            opened=self.opened,
            limits=self.limits,
            max_rows=self.max_rows,
        )

    def update(self) -> None:
        """Render the state and apply it to the widgets."""
        with self._lock:
            self.apply(self.rows())

    def apply(self, rows: list[Row]) -> None:
        """Make the widgets show ``rows``: reuse the widgets of rows that left the view for
        rows that entered it, create widgets only when there are none to reuse.
        """
        with self._lock:
            self.renders += 1
            self.header.update(header(self.state, self.wall()))
            keys = {row.key for row in rows}
            for key in [key for key in self._rows if key not in keys]:
                widget = self._rows.pop(key)
                self._spare.setdefault(widget.row.kind, []).append(widget)
            boxes = [self._widget(row) for row in rows]
            if tuple(boxes) != tuple(self.body.children):
                self.body.children = tuple(boxes)

    def _widget(self, row: Row) -> widgets.Box:
        from gator_nb.notebook.tree import RowWidget

        if row.kind == "detail":
            return self._detail(row.name).box
        widget = self._rows.get(row.key)
        if widget is None:
            spare = self._spare.get(row.kind)
            widget = spare.pop() if spare else RowWidget(row, self._clicked)
            self._rows[row.key] = widget
        widget.update(row)
        return widget.box

    def _detail(self, job: str) -> DetailPanel:
        from gator_nb.notebook.detail import DetailPanel

        if job not in self._details:
            self._details[job] = DetailPanel(self.run, job)
        return self._details[job]

    # -- user actions (kernel thread) ---------------------------------------------------

    def _clicked(self, row: Row) -> None:
        if row.kind == "more":
            parent = row.key.removesuffix("#more")
            with self._lock:
                self.limits[parent] = self.limits.get(parent, self.max_rows) + self.max_rows
        elif row.kind == "job":
            self.toggle_job(row.key)
            return
        else:
            self.toggle_group(row.key)
            return
        self.update()

    def toggle_job(self, job: str) -> None:
        """Open or close a job's panel (its log, command line and resource plot)."""
        if job not in self.opened:
            if job in self._details:
                self._details[job].load()  # fresh log lines since it was last open
            else:
                self._detail(job)  # reads the store outside the lock: renders go on
        with self._lock:
            self.opened.symmetric_difference_update({job})
        self.update()

    def toggle_group(self, path: str) -> None:
        """Expand or collapse a group or array."""
        with self._lock:
            self.expanded.symmetric_difference_update({path})
        self.update()

    def row_widget(self, key: str) -> RowWidget:
        """The widgets of the row on show with ``key`` (a node path)."""
        return self._rows[key]

    def panel(self, job: str) -> DetailPanel:
        """The detail panel of ``job``, opened or not."""
        return self._detail(job)

    def stop(self) -> None:
        """Cancel the run without blocking the kernel: the cancel waits on its own thread."""
        self.header.stop.disabled = True
        self.header.stop.description = "Stopping…"
        threading.Thread(target=self.run.cancel, name="gator-stop", daemon=True).start()

    # -- keeping up with a live run -----------------------------------------------------

    def attach(self, parent: dict[str, Any] | None = None) -> bool:
        """Refresh from the engine's loop until the run ends; False if it is not live."""
        if self.run.on_loop(self._start(parent or {})) is None:
            self.header.stop.layout.display = "none"
            self.update()
            self.finished.set()
            return False
        threading.Thread(target=self._final, name=f"gator-view-{self.run.id}", daemon=True).start()
        return True

    async def _start(self, parent: dict[str, Any]) -> None:
        adopt_parent(parent)  # before this thread sends anything (ipywidgets#4020)
        self._tick(asyncio.get_running_loop())

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        # A timer callback rather than a task: the engine's loop closes as soon as the run
        # ends, and a task still sleeping then is reported as destroyed; a timer is dropped.
        if self.state.status == Status.RUNNING:  # first, so one failed render stops nothing
            loop.call_later(self.refresh_s, self._tick, loop)
        if self.throttle.due(self.state.version):
            self.update()

    def _final(self) -> None:
        # The run's own error is raised to whoever waits on it; the view shows where it stopped.
        with contextlib.suppress(Exception):
            self.run.wait()
        self.update()
        self.finished.set()


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


def mimebundle(run: Run, *, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    """The run's display: the live (or finished) widget tree in a kernel, and text/plain."""
    data: dict[str, Any] = {}
    if in_kernel():
        view = view_of(run)
        bundle = view.widget._repr_mimebundle_() or {}
        data[_WIDGET_MIME] = bundle[_WIDGET_MIME]
        data["text/plain"] = text(run, view.state)
    else:
        data["text/plain"] = text(run)
    if include:
        data = {k: v for k, v in data.items() if k in include}
    if exclude:
        data = {k: v for k, v in data.items() if k not in exclude}
    return data


def show(run: Run) -> None:
    """Display ``run`` in the current cell (the magic's display of the run it started)."""
    from IPython import display as ipython_display

    publish: Any = ipython_display.display  # untyped upstream
    publish(mimebundle(run), raw=True)
    _SHOWN_IN[run] = cell_key()


def display_once(run: Run) -> None:
    """IPython display hook for ``Run``: skip the copy ``show`` already put in this cell.

    ``%gator`` shows the run itself (so ``run = %gator ...`` and ``--wait`` show it too)
    and also returns it; the cell's result would otherwise show a second copy.
    """
    if _SHOWN_IN.pop(run, None) == cell_key():
        return
    show(run)
