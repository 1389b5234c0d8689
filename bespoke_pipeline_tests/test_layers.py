"""The package's rooms, lowest first: a module never imports from a room above its own."""

import ast
from pathlib import Path

import bespoke_pipeline

ROOMS = ["pixelart", "dataset", "models", "training", "evaluation", "bench", "defs"]
PACKAGE = Path(bespoke_pipeline.__file__).parent


def imported_rooms(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "bespoke_pipeline" and len(parts) > 1 and parts[1] in ROOMS:
                found.add(parts[1])
    return found


def test_no_room_imports_from_a_room_above_it():
    upward = []
    for room in ROOMS:
        for path in sorted((PACKAGE / room).rglob("*.py")):
            for other in imported_rooms(path):
                if ROOMS.index(other) > ROOMS.index(room):
                    upward.append(f"{path.relative_to(PACKAGE)} imports {other}")
    assert upward == []
