"""Every module of the package imports, and no two modules import each other, even indirectly.

The graph is read from the source with ``ast``: an edge ``a -> b`` for every ``import b`` or
``from b import name`` in ``a`` (and ``a -> b.name`` when ``b.name`` is a module), wherever the
statement stands: an import deferred into a function, or kept under ``TYPE_CHECKING``, hides a
cycle from the interpreter but not from the design. Importing ``a.b`` also runs the package
``a``'s ``__init__``; those implicit parent edges are left out, since a package may re-export
its submodules.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import contradistinct

PACKAGE = Path(contradistinct.__file__).parent


def _modules() -> dict[str, Path]:
    modules = {"contradistinct": PACKAGE / "__init__.py"}
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="contradistinct."):
        relative = Path(*info.name.split(".")[1:])
        path = PACKAGE / relative / "__init__.py" if info.ispkg else PACKAGE / f"{relative}.py"
        modules[info.name] = path
    return modules


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    parts = module.split(".")[: len(module.split(".")) - node.level + is_package]
    return ".".join([*parts, node.module] if node.module else parts)


def _imports(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {target for target in targets if target in MODULES and target != module}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component that has one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module):
    importlib.import_module(module)


def test_no_import_cycle_in_the_package():
    graph = {module: _imports(module) for module in MODULES}
    # A package's __init__ re-exports its submodules: an edge into a package __init__ from
    # one of its own submodules would be a cycle the interpreter tolerates only by luck.
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
