"""The rooms of ``oidc_provider`` and the one direction of their imports.

``core → directory → servicetitan → pairing → oidc → web, cli``: a room imports only itself
and the rooms before it; ``web`` and ``cli`` are both last and import neither each other nor
the package root. Only the wiring modules at the top (the app factory, the server and its settings)
see everything. Every import counts, those inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "oidc_provider"
ORDER = ["core", "directory", "servicetitan", "pairing", "oidc", ("web", "cli")]
WIRING = {"__init__.py", "gunicorn_conf.py", "serve.py"}


def rank(room: str) -> int:
    for position, rooms in enumerate(ORDER):
        if room == rooms or room in rooms:
            return position
    raise AssertionError(f"oidc_provider.{room} is in no room: add it to a room or to ORDER")


def imported_rooms(path: Path) -> set[str]:
    """The rooms a module imports, or "" for the package root itself."""
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; name the room (from oidc_provider.ROOM ...)")
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            parts = name.split(".")
            if parts[0] != "oidc_provider":
                continue
            if len(parts) > 1:
                rooms.add(parts[1])
            else:  # from oidc_provider import x
                rooms.update(alias.name for alias in node.names)
    return rooms


def modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if path.relative_to(PACKAGE).parts[0] not in WIRING)


def room_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0]


def test_every_module_is_in_a_room():
    for path in modules():
        assert len(path.relative_to(PACKAGE).parts) > 1, f"{path.name} stands at the top: put it in a room"
        rank(room_of(path))


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_follow_the_direction(path):
    own = room_of(path)
    for room in imported_rooms(path) - {own}:
        assert room not in WIRING and room not in ("gunicorn_conf", "serve"), (
            f"{path}: imports the wiring module {room}"
        )
        assert rank(room) < rank(own), f"{path}: the room {own} may not import {room}"


def test_the_package_has_exactly_these_rooms():
    rooms = {path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    assert rooms == {"core", "directory", "servicetitan", "pairing", "oidc", "web", "cli"}


@pytest.mark.parametrize("room", ["core", "directory", "servicetitan", "pairing", "oidc", "web", "cli"])
def test_each_room_says_what_it_owns_and_may_import(room):
    docstring = ast.get_docstring(ast.parse((PACKAGE / room / "__init__.py").read_text()))
    assert docstring and "May import:" in docstring


def imported_modules(path: Path) -> set[str]:
    """The product's modules that a module imports (a name imported from a package counts
    as its submodule when there is one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("oidc_provider"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if module_path(candidate) else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("oidc_provider"))
    return {name for name in found if module_path(name)}


def module_path(name: str) -> Path | None:
    base = PACKAGE.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_two_modules_import_each_other():
    """Within a room too: a cycle means two modules share one job, or one reaches into the
    other's privates (the outbox learns its senders from a registry instead)."""
    graph = {module_name(path): imported_modules(path) for path in modules()}
    cycles = []
    for module, imports in graph.items():
        for other in imports:
            if module in graph.get(other, set()) and module < other:
                cycles.append((module, other))
    assert cycles == []
