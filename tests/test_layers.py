"""The package's shape: imports flow one way, views use the public API, heavy imports stay lazy.

Read from the source with ``ast`` (every import counts: module level, inside functions and
under ``TYPE_CHECKING``), so a new circle or a view reaching into the store fails here.
Run alone with ``python -m pytest tests/test_layers.py``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gator_nb"
# Front ends: they get rows, DataFrames and Run's public methods, never the store or SQL.
VIEWS = ("cli", "terminal", "report", "notebook")
NOT_FOR_VIEWS = ("gator_nb.store", "gator_nb.runner", "gator_nb.engine", "sqlite3")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text()) for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The package modules ``name`` imports, anywhere in its source."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: from . import x
                base = ".".join([*name.split(".")[: -node.level], node.module])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(name, tree, known) for name, tree in modules.items()}
    for name in graph:  # importing a.b runs a/__init__ first; that is not a dependency of a.b
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_circle() -> None:
    graph = _graph()
    graph.pop("gator_nb", None)  # the package root only re-exports the API, lazily
    for deps in graph.values():
        deps.discard("gator_nb")
    assert _cycles(graph) == []


def test_store_and_state_do_not_import_the_engine_or_anything_above_them() -> None:
    graph = _graph()
    for name in ("gator_nb.state", "gator_nb.views", "gator_nb.frames"):
        assert not {t for t in graph[name] if t.startswith("gator_nb.engine")}, name
    for name in [n for n in graph if n.startswith("gator_nb.store")]:
        above = {t for t in graph[name] if not t.startswith("gator_nb.store")}
        assert above <= {"gator_nb.errors", "gator_nb.events", "gator_nb.display"}, name


@pytest.mark.parametrize(
    "name", sorted(n for n in _modules() if n.removeprefix("gator_nb.").startswith(VIEWS))
)
def test_views_use_the_public_api_only(name: str) -> None:
    tree = _modules()[name]
    imported = _imports(name, tree, set(_modules()) | {"sqlite3"})
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {t for t in imported if t.startswith(NOT_FOR_VIEWS)}
    privates = [
        f"{ast.unparse(node)} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.endswith("_")  # dunders and IPython's _repr_*_ protocol
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]
    assert privates == []


def test_importing_the_runner_loads_no_heavy_library() -> None:
    code = (
        "import sys, gator_nb.runner, gator_nb.cli\n"
        "heavy = {'IPython', 'ipywidgets', 'anywidget', 'pandas', 'matplotlib', 'distributed'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
