"""What every gate returns and writes, and where the pinned tools are."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tools.common.paths import REPO_ROOT

# The gates' tools are uv.lock's scan group, installed in the project venv (`make scan`).
SCAN_VENV = REPO_ROOT / ".venv"

PASSED = "passed"
FAILED = "failed"
NOT_CHECKED = "not checked"
# 3, not 1 or 2: a caller can tell "could not check" from "found something" and from a crash.
EXIT_CODES = {PASSED: 0, FAILED: 1, NOT_CHECKED: 3}


class ToolMissing(Exception):
    """A pinned scanner is not installed: `make install` (or `make install-scan`)."""


@dataclass
class GateResult:
    gate: str
    title: str
    status: str
    summary: str
    tool: str = ""
    findings: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def tool(name: str) -> str:
    """A scanner's executable: .venv's (the pinned one), else SCAN_BIN, else PATH."""
    for directory in (SCAN_VENV / "bin", Path(os.environ.get("SCAN_BIN", SCAN_VENV / "bin"))):
        if (directory / name).is_file():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise ToolMissing(f"{name} is not installed: run `make scan` (uv.lock's scan group, in .venv/)")
    return found


def write(result: GateResult, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result.gate}.json"
    path.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def tool_missing(gate: str, title: str, error: ToolMissing) -> GateResult:
    return GateResult(gate, title, NOT_CHECKED, f"NOT CHECKED: {error}")


def tool_version(executable: str) -> str:
    """The first line `<tool> --version` prints, recorded in each gate's result."""
    out = subprocess.run([executable, "--version"], capture_output=True, text=True, check=False)  # noqa: S603 - fixed arguments
    return out.stdout.strip().split("\n", 1)[0].strip()


def display_path(path: Path, root: Path) -> str:
    """`path` relative to `root` when it is inside it, as reports show it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
