"""The code's shape, as ARCHITECTURE.md promises it: small modules, short functions, no cycles,
and rooms in one order (a room imports only rooms on floors below its own)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sidecar", "analyzer")
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60

# Each package's rooms, top floor first, as ARCHITECTURE.md draws them. A room (a folder, or a
# module directly in the package) imports only rooms on floors below its own; rooms sharing a
# floor do not import each other. A new room must be given its floor here.
FLOORS: dict[str, tuple[tuple[str, ...], ...]] = {
    "analyzer": (
        ("__main__",),
        ("commands",),
        ("live",),
        ("scheduling",),
        ("clarify",),
        ("pipeline",),
        ("engines",),
        ("checking", "reporting", "suggesting"),
        ("decoding",),
        ("reading",),
        ("results", "job"),
        ("profiling",),
        ("errors",),
    ),
    "sidecar": (
        ("__main__",),
        ("supervisor",),
        ("app", "injection"),
        ("proxy",),
        ("delivery",),
        ("capture",),
        ("metrics", "settings"),
        ("common",),
        ("errors",),
    ),
}
# The one room of another package a package may import (the record format and shared plumbing).
SHARED_ACROSS = {"analyzer": ("sidecar.common",), "sidecar": ()}
# Imports up the order that are known and being removed (none left); nothing else is tolerated.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the two packages."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules `name` imports (`from a.b import c` counts a.b.c when it is a module)."""
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                targets.add(submodule if submodule in known else node.module)
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
    return {target for target in targets if target in known and target != name}


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of either package it imports."""
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def room_of(module: str) -> tuple[str, str] | None:
    """(package, room) of a module; None for a package's own __init__."""
    parts = module.split(".")
    return (parts[0], parts[1]) if len(parts) > 1 else None


def floor_of(package: str, room: str) -> int | None:
    for level, rooms in enumerate(FLOORS[package]):
        if room in rooms:
            return level
    return None


def order_breaks(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes up (or sideways on one floor), or into another package's rooms."""
    found = []
    for source, targets in sorted(graph.items()):
        placed = room_of(source)
        if placed is None:
            continue
        package, room = placed
        level = floor_of(package, room)
        for target in sorted(targets):
            where = room_of(target)
            if where is None or (source, target) in KNOWN_UPWARD:
                continue
            if where[0] != package:
                if not target.startswith(SHARED_ACROSS[package]):
                    found.append(f"{source} -> {target}: another package's room")
                continue
            target_level = floor_of(*where)
            if where[1] != room and (
                level is None or target_level is None or target_level <= level
            ):
                found.append(f"{source} -> {target}: {room} may not import {where[1]}")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_every_room_has_a_floor() -> None:
    rooms = {placed for name in modules() if (placed := room_of(name)) is not None}
    unplaced = sorted(f"{p}.{r}" for p, r in rooms if floor_of(p, r) is None)
    assert unplaced == [], "give each new room its floor in FLOORS and in ARCHITECTURE.md"


def test_rooms_import_only_down_the_order() -> None:
    assert order_breaks(import_graph()) == []


def test_an_import_up_the_order_is_caught() -> None:
    graph = {
        "analyzer.checking.checks": {"analyzer.reporting.execution"},  # sideways on one floor
        "analyzer.reading.captures": {"analyzer.decoding.records"},  # up
        "analyzer.results.counts": {"analyzer.profiling.types"},  # down: allowed
        "sidecar.capture.queue": {"analyzer.results.counts"},  # into the other package
        "sidecar.metrics": {"sidecar.capture.genai_metrics"},  # up
    }
    assert order_breaks(graph) == [
        "analyzer.checking.checks -> analyzer.reporting.execution: "
        "checking may not import reporting",
        "analyzer.reading.captures -> analyzer.decoding.records: reading may not import decoding",
        "sidecar.capture.queue -> analyzer.results.counts: another package's room",
        "sidecar.metrics -> sidecar.capture.genai_metrics: metrics may not import capture",
    ]


def test_no_import_cycles() -> None:
    graph = import_graph()
    # A package's __init__ is imported on the way to its modules: only module edges count.
    graph = {
        name: {t for t in targets if not name.startswith(t + ".")}
        for name, targets in graph.items()
    }
    assert cycles(graph) == []


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_and_function_sizes(name: str) -> None:
    path = modules()[name]
    source = path.read_text()
    assert source.count("\n") <= MAX_MODULE_LINES, f"{path}: split it by job"
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{path}:{node.lineno} {node.name}: {length} lines"
