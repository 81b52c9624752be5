"""The Lambda code runs on the Python 3.9 runtime too (cdk.json's lambdaRuntime may pick it).

Three checks on every .py under lambda/: it parses as Python 3.9; PEP 604
(`X | Y`) and PEP 585 (`list[int]`) annotations only appear with
`from __future__ import annotations`, and `X | Y` is never a runtime type
expression; no standard-library name newer than 3.9 is used. The checker is
itself tested on snippets, so it cannot pass by finding nothing.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "lambda"
LAMBDA_FILES = sorted(path for path in LAMBDA_DIR.rglob("*.py") if "__pycache__" not in path.parts)

BUILTIN_GENERICS = {"list", "dict", "tuple", "set", "frozenset", "type"}
# Names a type expression is made of; `a | b` on these at run time needs Python 3.10.
TYPE_NAMES = BUILTIN_GENERICS | {"int", "str", "float", "bool", "bytes", "object", "Any", "Decimal"}
GENERIC_NAMES = BUILTIN_GENERICS | {
    "Optional", "Union", "List", "Dict", "Tuple", "Set", "FrozenSet", "Type", "Callable",
    "Mapping", "Sequence", "Iterable", "Iterator", "Literal",
}  # fmt: skip
# Standard-library names newer than 3.9 that ruff's pyupgrade (target py311) could introduce.
NEWER_STDLIB = {
    ("datetime", "UTC"): "3.11",
    ("typing", "Self"): "3.11",
    ("typing", "TypeAlias"): "3.10",
    ("typing", "ParamSpec"): "3.10",
    ("typing", "Never"): "3.11",
    ("typing", "assert_never"): "3.11",
    ("enum", "StrEnum"): "3.11",
    ("itertools", "pairwise"): "3.10",
    ("tomllib", None): "3.11",
}


def _annotation_nodes(tree: ast.AST) -> list[ast.expr]:
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            every_arg = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            found.extend(
                arg.annotation for arg in every_arg if arg is not None and arg.annotation is not None
            )
            if node.returns is not None:
                found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
    return found


def _uses_new_annotation_syntax(annotation: ast.expr) -> bool:
    for node in ast.walk(annotation):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return True
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in BUILTIN_GENERICS
        ):
            return True
    return False


def _is_type_operand(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and node.value is None:
        return True
    if isinstance(node, ast.Name) and node.id in TYPE_NAMES:
        return True
    if isinstance(node, ast.Subscript):  # List[int], typing.Optional[str]
        generic = node.value
        if isinstance(generic, ast.Attribute) and isinstance(generic.value, ast.Name):
            return generic.value.id == "typing"
        return isinstance(generic, ast.Name) and generic.id in GENERIC_NAMES
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _is_type_operand(node.left) or _is_type_operand(node.right)
    return False


def problems(source: str) -> list[str]:
    """Every Python-3.9 incompatibility the checks find in one module's source."""
    try:
        tree = ast.parse(source, feature_version=(3, 9))
    except SyntaxError as error:
        return [f"not Python 3.9 syntax: {error.msg} (line {error.lineno})"]
    found: list[str] = []
    future_annotations = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )
    annotations = _annotation_nodes(tree)
    if not future_annotations:
        found.extend(
            f"line {a.lineno}: PEP 604/585 annotation without `from __future__ import annotations`"
            for a in annotations
            if _uses_new_annotation_syntax(a)
        )
    inside_annotations = {id(node) for a in annotations for node in ast.walk(a)}
    for node in ast.walk(tree):
        if type(node).__name__ in {"Match", "TryStar"}:
            found.append(f"line {node.lineno}: {type(node).__name__} needs Python 3.10+")
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.BitOr)
            and id(node) not in inside_annotations
            and (_is_type_operand(node.left) or _is_type_operand(node.right))
        ):
            found.append(f"line {node.lineno}: `X | Y` type expression evaluated at run time")
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (node.module, alias.name) in NEWER_STDLIB:
                    found.append(f"line {node.lineno}: {node.module}.{alias.name} needs Python 3.10+")
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (alias.name, None) in NEWER_STDLIB:
                    found.append(f"line {node.lineno}: {alias.name} needs Python 3.10+")
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in NEWER_STDLIB
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr} needs Python 3.10+")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "zip"
            and any(k.arg == "strict" for k in node.keywords)
        ):
            found.append(f"line {node.lineno}: zip(strict=...) needs Python 3.10+")
    return found


# ---------------------------------------------------------------- the Lambda code


def test_there_is_lambda_code_to_check():
    # GIVEN the lambda/ tree
    # WHEN its Python files are listed
    names = {path.name for path in LAMBDA_FILES}
    # THEN the handler package is among them (the checks below are not vacuous)
    assert {"handler.py", "request.py", "storage.py", "settings.py", "errors.py"} <= names


@pytest.mark.parametrize("path", LAMBDA_FILES, ids=lambda p: str(p.relative_to(LAMBDA_DIR)))
def test_lambda_module_is_python_39_compatible(path):
    # GIVEN a module of the Lambda code
    source = path.read_text(encoding="utf-8")
    # WHEN it is checked for Python 3.9
    found = problems(source)
    # THEN nothing newer than 3.9 is in it
    assert found == []


def _python39() -> str | None:
    """A working Python 3.9 interpreter: on PATH, or one pyenv installed (its shim may not be active)."""
    candidates = [
        shutil.which("python3.9"),
        *map(str, Path.home().glob(".pyenv/versions/3.9*/bin/python3.9")),
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 9))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == "True":
            return candidate
    return None


PYTHON39 = _python39()


@pytest.mark.skipif(PYTHON39 is None, reason="no Python 3.9 interpreter on this machine")
def test_lambda_code_compiles_with_a_real_python_39():
    # GIVEN a Python 3.9 interpreter
    interpreter = PYTHON39
    assert interpreter is not None
    script = (
        "import sys\n"
        "for path in sys.argv[1:]:\n"
        "    compile(open(path, encoding='utf-8').read(), path, 'exec', dont_inherit=True)\n"
    )
    # WHEN it compiles every Lambda module (no byte-code is written)
    result = subprocess.run(
        [interpreter, "-c", script, *map(str, LAMBDA_FILES)], capture_output=True, text=True, check=False
    )
    # THEN it succeeds
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    "snippet",
    [
        pytest.param("def f(x: int | None) -> None: ...", id="pep604-argument"),
        pytest.param("def f() -> list[int]: ...", id="pep585-return"),
        pytest.param("x: dict[str, int] = {}", id="pep585-variable"),
        pytest.param("import os\nOptionalStr = str | None", id="runtime-alias"),
        pytest.param("ok = isinstance(1, int | str)", id="runtime-isinstance"),
        pytest.param("from typing import List\nT = List[int] | None", id="runtime-typing-generic"),
        pytest.param("match 1:\n    case 1:\n        pass", id="match"),
        pytest.param("from datetime import UTC", id="datetime-utc-import"),
        pytest.param("import datetime\nnow = datetime.datetime.now(datetime.UTC)", id="datetime-utc-attr"),
        pytest.param("import tomllib", id="tomllib"),
        pytest.param("pairs = list(zip([1], [2], strict=True))", id="zip-strict"),
    ],
)
def test_checker_flags_code_newer_than_39(snippet):
    # GIVEN a snippet Python 3.9 cannot run
    # WHEN it is checked
    found = problems(snippet)
    # THEN a problem is reported
    assert found


@pytest.mark.parametrize(
    "snippet",
    [
        pytest.param(
            "from __future__ import annotations\ndef f(x: int | None) -> list[int]: ...", id="future"
        ),
        pytest.param("from typing import Optional\ndef f(x: Optional[int]) -> None: ...", id="typing"),
        pytest.param("flags = 1 | 2", id="integer-or"),
        pytest.param("def f(data):\n    return data[0] | data[1]", id="subscript-or"),
        pytest.param("def f(a, b):\n    return a | b", id="set-or"),
        pytest.param("from datetime import timezone\nutc = timezone.utc", id="timezone-utc"),
    ],
)
def test_checker_accepts_python_39_code(snippet):
    # GIVEN a snippet Python 3.9 runs
    # WHEN it is checked
    found = problems(snippet)
    # THEN nothing is reported
    assert found == []
