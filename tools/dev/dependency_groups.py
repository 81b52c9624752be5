"""Write pyproject.toml's `cdk` and `lambda` dependency groups from the requirements files a person edits.

    python -m tools.dev.dependency_groups            (what `make lock` runs before `uv lock`)
    python -m tools.dev.dependency_groups --check    (exit 1 when a group differs from its file)

requirements.txt holds the CDK app's pins and lambda/requirements.txt the handler's (bundled for
arm64 from its own hash lock, lambda/requirements.lock). uv's project mode reads dependency
groups, not requirements files, so each group between the BEGIN and END markers of pyproject.toml
is a copy of one file's pins, written here and nowhere else (docs/supply-chain.md).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from tools.common.paths import REPO_ROOT

PYPROJECT = REPO_ROOT / "pyproject.toml"
# group -> the requirements file it is written from
SOURCES = {"cdk": "requirements.txt", "lambda": "lambda/requirements.txt"}
_BLOCK = re.compile(r"(# BEGIN groups written by `make lock`[^\n]*\n)(.*?)(# END groups written)", re.S)


def pins(requirements: Path) -> list[str]:
    """The requirement lines of a requirements file, comments and blank lines left out."""
    lines = (raw.split(" #")[0].strip() for raw in requirements.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def rendered(pyproject_text: str, root: Path = REPO_ROOT) -> str:
    """pyproject.toml's text with the generated block rewritten from the requirements files."""
    match = _BLOCK.search(pyproject_text)
    if match is None:
        raise SystemExit("pyproject.toml: no `# BEGIN groups written by `make lock`` block")
    body = "".join(
        f"# {group}: {source}\n{group} = [{', '.join(json.dumps(pin) for pin in pins(root / source))}]\n"
        for group, source in SOURCES.items()
    )
    return pyproject_text[: match.start(2)] + body + pyproject_text[match.end(2) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when stale")
    args = parser.parse_args(argv)
    current = PYPROJECT.read_text(encoding="utf-8")
    wanted = rendered(current)
    if args.check:
        if wanted != current:
            print("pyproject.toml's cdk/lambda groups differ from their requirements files: `make lock`")
            return 1
        return 0
    if wanted != current:
        PYPROJECT.write_text(wanted, encoding="utf-8")
        print("pyproject.toml: cdk and lambda groups rewritten from " + ", ".join(SOURCES.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
