"""Sizes that keep the code readable: no module over 500 lines, no function over 80.

Non-test Python in main.py, stages/, lambda/ and tools/ (tests are exempt: a table of cases may
be long). A function's length is its lines from `def` (decorators included) to its last line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.repo import REPO_ROOT

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
ROOTS = ("main.py", "stages", "lambda", "tools")


def python_modules() -> Iterator[Path]:
    for root in ROOTS:
        path = REPO_ROOT / root
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        yield from (f for f in files if "node_modules" not in f.parts and "__pycache__" not in f.parts)


def function_lengths(path: Path) -> Iterator[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            yield f"{node.name} (line {node.lineno})", (node.end_lineno or node.lineno) - first + 1


def relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def test_the_scan_sees_the_code():
    # GIVEN the roots WHEN listed THEN the handler and the app are among them (a scan of nothing passes)
    names = {relative(path) for path in python_modules()}
    assert {"main.py", "lambda/upload_api/handler.py", "tools/common/assembly.py"} <= names


def test_no_module_is_over_500_lines():
    too_long = {
        relative(path): lines
        for path in python_modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}


def test_no_function_is_over_80_lines():
    too_long = {
        f"{relative(path)}: {name}": lines
        for path in python_modules()
        for name, lines in function_lengths(path)
        if lines > MAX_FUNCTION_LINES
    }
    assert too_long == {}
