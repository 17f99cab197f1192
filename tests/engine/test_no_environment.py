"""The engine is configured by its callers: nothing under engine/ reads the environment (the
model directory and the model name arrive as arguments; alphamatte.config reads ALPHAMATTE_*)."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "src" / "alphamatte" / "engine"


def test_no_engine_module_reads_the_environment() -> None:
    readers = []
    for source in sorted(ENGINE.rglob("*.py")):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
            if name in ("environ", "getenv", "environb"):
                readers.append(f"{source.relative_to(ENGINE)}:{node.lineno}")
    assert readers == []
    assert any(ENGINE.rglob("*.py"))  # the walk saw the engine
