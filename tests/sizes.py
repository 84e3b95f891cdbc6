"""Size rules of the production code: no function over 60 lines, no class body over 20 methods.

``python -m tests.sizes`` lists what breaks them (nested functions count on their own and inside
their parent); ``tests/test_architecture.py`` fails when the list is not empty.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "adapters", "bot")
MAX_FUNCTION_LINES = 60
MAX_METHODS = 20

#: Exceptions, each with its reason (README, "Architecture"). Keys are "path:name".
EXCEPTIONS: dict[str, str] = {}


def oversized() -> Iterator[str]:
    """One line per function or class over its limit, outside migrations and the exceptions."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            where = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                found = _judge(node)
                if found is not None and f"{where}:{node.name}" not in EXCEPTIONS:  # type: ignore[attr-defined]
                    yield f"{where}:{node.lineno} {found}"  # type: ignore[attr-defined]


def _judge(node: ast.AST) -> str | None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        lines = (node.end_lineno or node.lineno) - node.lineno + 1
        return f"{node.name}: {lines} lines" if lines > MAX_FUNCTION_LINES else None
    if isinstance(node, ast.ClassDef):
        methods = sum(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) for n in node.body)
        return f"{node.name}: {methods} methods" if methods > MAX_METHODS else None
    return None


if __name__ == "__main__":
    found = list(oversized())
    print("\n".join(found) or "no function over 60 lines, no class over 20 methods")
    sys.exit(1 if found else 0)
