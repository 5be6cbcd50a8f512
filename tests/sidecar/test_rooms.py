"""The sidecar's rooms in the order ARCHITECTURE.md gives: a module imports only from rooms below
its own, so an import up the path (metrics reaching into capture, say) fails here."""

from __future__ import annotations

from tests.test_layout import imports_of, modules

# Top to bottom; rooms on one line are side by side and import nothing from each other.
ORDER = (
    ("__main__",),
    ("supervisor",),
    ("app",),
    ("injection", "proxy", "delivery"),
    ("capture",),
    ("metrics", "settings"),
    ("common",),
    ("errors",),
)
LEVEL = {room: level for level, rooms in enumerate(ORDER) for room in rooms}


def room_of(module: str) -> str:
    """`sidecar.proxy.handler` -> `proxy`; `sidecar.metrics` -> `metrics`."""
    return module.split(".")[1]


def test_every_sidecar_module_is_in_a_room() -> None:
    rooms = {room_of(name) for name in modules() if name.startswith("sidecar.")}
    assert rooms <= set(LEVEL), f"rooms missing from ORDER: {sorted(rooms - set(LEVEL))}"


def test_imports_only_go_down_the_rooms() -> None:
    found = modules()
    known = set(found)
    upward = []
    for name, path in found.items():
        if not name.startswith("sidecar."):
            continue
        for target in imports_of(name, path, known):
            if not target.startswith("sidecar."):
                continue
            source, destination = room_of(name), room_of(target)
            if source != destination and LEVEL[destination] <= LEVEL[source]:
                upward.append(f"{name} -> {target}")
    assert upward == []
