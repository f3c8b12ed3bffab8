"""The import structure the next engineer relies on: packages import only down the stack
(topo <- traffic <- collectives <- inference <- fleet <- sweep <- cli), and the modules of a package import
one way (no circle, counting imports inside functions too: a deferred import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["topo", "traffic", "collectives", "inference", "fleet", "sweep"]


def _imports(path: Path) -> set[str]:
    """Modules ``path`` imports (absolute names), anywhere in the file."""
    pkg_parts = path.relative_to(ROOT).with_suffix("").parts[:-1]  # the package a module sits in
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from .x import y / from . import x: relative to the module's package
                base = list(pkg_parts[: len(pkg_parts) - node.level + 1])
                name = ".".join([*base, node.module] if node.module else base)
                if node.module is None:  # from . import x
                    out.update(f"{name}.{a.name}" for a in node.names)
                else:
                    out.add(name)
            elif node.module:
                out.add(node.module)
    return out


#: deferred imports allowed to close a circle: a class method that delegates to the module which needs the
#: class (``Fabric.with_faults`` -> ``topo.faults``, whose functions take a Fabric), or a public entry point
#: that delegates one option to the module built on it (``collectives.all_reduce(stack=...)`` ->
#: ``collectives.stacks``, whose ladders run ``collectives.api.collective`` per rung). Listed, so that a new
#: circle fails until someone decides it is of this kind.
ALLOWED_DEFERRED = {("topo.fabric", "topo.faults"), ("collectives.api", "collectives.stacks")}


def _module_graph(package: str) -> dict[str, set[str]]:
    files = sorted((ROOT / package).glob("*.py"))
    names = {".".join(f.relative_to(ROOT).with_suffix("").parts): f for f in files}
    graph = {}
    for name, f in names.items():
        if f.name == "__init__.py":
            continue  # the package's exports import everything by design
        deps = {d for d in _imports(f) if d in names and not d.endswith("__init__")}
        graph[name] = {d for d in deps - {name} if (name, d) not in ALLOWED_DEFERRED}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


@pytest.mark.parametrize("package", LAYERS)
def test_no_import_circle_inside_a_package(package):
    assert _cycle(_module_graph(package)) is None, _cycle(_module_graph(package))


def test_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package", LAYERS)
def test_packages_import_only_down_the_stack(package):
    above = set(LAYERS[LAYERS.index(package) + 1:]) | {"cli"}
    for f in sorted((ROOT / package).rglob("*.py")):
        bad = {d for d in _imports(f) if d.split(".")[0] in above}
        assert not bad, f"{f.relative_to(ROOT)} imports {sorted(bad)} (above {package})"
