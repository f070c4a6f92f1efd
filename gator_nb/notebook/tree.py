"""Stock ipywidgets for one row of the run tree and for the header, updated from plain rows.

A widget is built once per row key and then only fed new ``Row`` values: traitlets sends
nothing for an unchanged trait, and ``hold_sync`` folds a widget's changed traits into
one comm message. Every piece of user text goes through ``html.escape``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import cache
from typing import Any

import ipywidgets as widgets
from ipywidgets.widgets.widget_button import ButtonStyle
from ipywidgets.widgets.widget_int import ProgressStyle
from ipywidgets.widgets.widget_string import HTMLStyle

from gator_nb.events import Status
from gator_nb.palette import STATUS
from gator_nb.views import COUNTED, Header, Row, tests_text

__all__ = ["COLOURS", "HeaderWidget", "RowWidget", "indent", "row_traits", "status_html"]

COLOURS = {status: STATUS[status.value] for status in Status}


@cache
def indent(depth: int) -> widgets.Layout:
    """One shared Layout per depth: rows share models instead of each creating one."""
    return widgets.Layout(margin=f"0 0 0 {1.4 * depth:.1f}em", align_items="center")


@cache
def _layout(name: str) -> widgets.Layout:
    sizes = {"toggle": "2.2em", "bar": "12em", "text": "auto"}
    return widgets.Layout(width=sizes[name], min_width=sizes[name], margin="0 4px 0 0")


@cache
def _name_layout(depth: int) -> widgets.Layout:
    # Group names get a fixed width (less their indent) so the progress bars line up.
    width = f"{max(14.0 - 1.4 * depth, 6.0):.1f}em"
    return widgets.Layout(width=width, min_width=width, overflow="hidden", margin="0 4px 0 0")


@cache
def _style(kind: str) -> widgets.Style:
    # Shared style models too: a 50-row view opens ~3 comms per row instead of ~9.
    styles: dict[str, type[widgets.Style]] = {
        "button": ButtonStyle,
        "html": HTMLStyle,
        "progress": ProgressStyle,
    }
    return styles[kind]()


def status_html(status: Status) -> str:
    """The status word in its colour, with a class tests and stylesheets can find."""
    return (
        f'<span class="gator-status gator-{status.value}" style="color:{COLOURS[status]};'
        f'font-weight:bold">{status.value}</span>'
    )


def _counts(row: Row | Header) -> list[str]:
    return [
        f'<span style="color:{COLOURS[status]}">{row.count(status)} {status.value}</span>'
        for status in COUNTED
        if row.count(status)
    ]


def _facts(row: Row) -> list[str]:
    parts = []
    if row.tests:
        colour = COLOURS[Status.FAILED] if row.tests_failed else COLOURS[Status.PASSED]
        parts.append(f'<span class="gator-tests" style="color:{colour}">{tests_text(row)}</span>')
    parts += [
        f'<span class="gator-metric">{html.escape(name)} {html.escape(value)}</span>'
        for name, value in row.metrics
    ]
    parts += [html.escape(text) for text in (row.elapsed, row.peak) if text]
    if row.warnings or row.errors:
        parts.append(f"{row.warnings}W {row.errors}E")
    return parts


def _note(row: Row) -> str:
    if not row.note:
        return ""
    colour = COLOURS[Status.FAILED]
    return f' <span class="gator-note" style="color:{colour}">{html.escape(row.note)}</span>'


def _bar_style(row: Row) -> str:
    if row.failed:
        return "danger"
    return {Status.PASSED: "success", Status.RUNNING: "info", Status.CANCELLED: "warning"}.get(
        row.status, ""
    )


def row_traits(row: Row) -> dict[str, dict[str, Any]]:
    """The trait values of each part of ``row``'s widgets (pure: tested without widgets)."""
    if row.kind == "more":
        return {"toggle": {"description": row.name, "tooltip": "show more rows"}}
    what = "log" if row.kind == "job" else "jobs"
    toggle = {
        "description": "▾" if row.open else "▸",
        "tooltip": ("hide " if row.open else "show ") + what,
    }
    name = f'<b class="gator-name">{html.escape(row.name)}</b>'
    if row.kind == "job":
        text = " · ".join([f"{name} {status_html(row.status)}", *_facts(row)]) + _note(row)
        return {"toggle": toggle, "text": {"value": text}}
    return {
        "toggle": toggle,
        "text": {"value": name},
        "bar": {
            "max": float(max(row.total, 1)),
            "value": float(row.done),
            "bar_style": _bar_style(row),
        },
        "stats": {
            "value": " · ".join([f"{row.done}/{row.total}", *_counts(row), *_facts(row)])
            + _note(row)
        },
    }


class RowWidget:
    """The widgets of one row; ``update`` copies a new ``Row`` onto them.

    Widgets are created with their first values (one comm_open each, no follow-up
    messages) and reused for other rows of the same kind as rows scroll in and out.
    """

    def __init__(self, row: Row, on_click: Callable[[Row], None]) -> None:
        self.row = row
        self._on_click = on_click
        traits = row_traits(row)
        self.parts: dict[str, widgets.DOMWidget] = {}
        layout = widgets.Layout(width="auto") if row.kind == "more" else _layout("toggle")
        self.parts["toggle"] = widgets.Button(
            layout=layout, style=_style("button"), **traits["toggle"]
        )
        self.parts["toggle"].on_click(lambda _button: self._on_click(self.row))
        for name in ("text", "stats"):
            if name in traits:
                layout = _name_layout(row.depth) if "bar" in traits and name == "text" else None
                self.parts[name] = widgets.HTML(
                    layout=layout or _layout("text"), style=_style("html"), **traits[name]
                )
        if "bar" in traits:
            self.parts["bar"] = widgets.FloatProgress(
                min=0.0, layout=_layout("bar"), style=_style("progress"), **traits["bar"]
            )
        order = [self.parts[n] for n in ("toggle", "text", "bar", "stats") if n in self.parts]
        self.box = widgets.HBox(
            order, layout=indent(row.depth), _dom_classes=("gator-row", f"gator-{row.kind}")
        )

    def update(self, row: Row) -> None:
        """Show ``row``; sends only the traits that changed, one message per widget."""
        if row == self.row:
            return
        self.row = row
        if self.box.layout is not indent(row.depth):
            self.box.layout = indent(row.depth)
            if "bar" in self.parts:
                self.parts["text"].layout = _name_layout(row.depth)
        for name, values in row_traits(row).items():
            widget = self.parts[name]
            changed = {k: v for k, v in values.items() if getattr(widget, k) != v}
            if changed:
                with widget.hold_sync():
                    for key, value in changed.items():
                        setattr(widget, key, value)


class HeaderWidget:
    """Run id, status, counts and elapsed time, and a Stop button."""

    def __init__(self, run_id: str, on_stop: Callable[[], None]) -> None:
        self.run_id = run_id
        self.text = widgets.HTML()
        self.stop = widgets.Button(description="Stop", icon="stop", button_style="danger")
        self.stop.tooltip = "cancel the run: stops every running job"
        self.stop.layout = widgets.Layout(width="7em")
        self.stop.on_click(lambda _button: on_stop())
        self.box = widgets.HBox([self.text, self.stop], layout=widgets.Layout(align_items="center"))
        self.box.add_class("gator-header")
        self.header: Header | None = None

    def update(self, header: Header) -> None:
        if header == self.header:
            return
        self.header = header
        parts = [
            f"<b>gator</b> {html.escape(self.run_id)}",
            status_html(header.status),
            f"{header.done}/{header.total} done",
            *_counts(header),
        ]
        if header.elapsed:
            parts.append(html.escape(header.elapsed))
        self.text.value = " · ".join(parts)
        if header.status != Status.RUNNING:
            self.stop.layout.display = "none"
