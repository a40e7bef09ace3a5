"""The layers of ARCHITECTURE.md hold: no import points up a layer, no modules import each other in a loop."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fedlib"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_table(text: str) -> dict[str, int]:
    """Module pattern -> layer number, from the Markdown table of ARCHITECTURE.md."""
    patterns = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            for pattern in re.findall(r"`([\w.*]+)`", cells[2]):
                patterns[pattern] = int(cells[0])
    return patterns


LAYERS = layer_table((ROOT / "ARCHITECTURE.md").read_text())


def layer_of(module: str, layers: dict[str, int] = LAYERS) -> int | None:
    for pattern, layer in layers.items():
        if module == pattern or fnmatch.fnmatch(module, pattern) or (
                pattern.endswith(".*") and module == pattern[:-2]):
            return layer
    return None


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The fedlib modules a file imports, at module level or inside functions (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from fedlib import claims` imports the module fedlib.claims; `from fedlib.x import y`, fedlib.x.
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                     for a in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


# The top-level package's face re-exports nothing a layer depends on: it is left out of the graph.
GRAPH = {name: imports_of(path, set(MODULES)) - {name, "fedlib"} for name, path in MODULES.items() if name != "fedlib"}


def upward_imports(graph, layers) -> list[str]:
    return [f"{a} (layer {layer_of(a, layers)}) imports {b} (layer {layer_of(b, layers)})"
            for a, targets in graph.items() for b in sorted(targets)
            if layer_of(b, layers) > layer_of(a, layers)]


def cycles(graph) -> list[list[str]]:
    """Every loop of imports among packages' submodules, found by depth-first search."""
    # A package's face (`__init__`) imports its own modules to re-export them; the modules importing
    # a sibling through the package is the usual Python idiom, not a loop of the design.
    def follows(a, b):
        return not (a.startswith(b + ".") or b.startswith(a + "."))

    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if not follows(node, nxt):
                continue
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_every_module_has_a_layer():
    unplaced = [m for m in GRAPH if layer_of(m) is None]
    assert not unplaced, f"add these modules to the layer table of ARCHITECTURE.md: {unplaced}"


def test_no_import_points_up_a_layer():
    assert not upward_imports(GRAPH, LAYERS), "\n".join(upward_imports(GRAPH, LAYERS))


def test_no_modules_import_each_other_in_a_loop():
    assert not cycles(GRAPH), cycles(GRAPH)


@pytest.mark.parametrize("graph, expected", [
    ({"fedlib.a": {"fedlib.b"}, "fedlib.b": set()}, []),
    ({"fedlib.a": {"fedlib.b"}, "fedlib.b": {"fedlib.a"}}, [["fedlib.a", "fedlib.b", "fedlib.a"]]),
])
def test_the_cycle_finder_finds_a_loop_and_only_a_loop(graph, expected):
    assert cycles(graph) == expected


def test_an_upward_import_is_reported():
    layers = {"fedlib.low": 0, "fedlib.high": 1}
    graph = {"fedlib.low": {"fedlib.high"}, "fedlib.high": set()}
    assert upward_imports(graph, layers) == ["fedlib.low (layer 0) imports fedlib.high (layer 1)"]
    assert upward_imports({"fedlib.high": {"fedlib.low"}, "fedlib.low": set()}, layers) == []
