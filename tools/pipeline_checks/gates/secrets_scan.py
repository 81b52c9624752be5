"""Secrets gate: detect-secrets over every file git would commit, against the committed .secrets.baseline.

The baseline lists what was found once and audited (`is_secret: false`: test credentials for
moto such as "testing"); anything new fails, and so does an entry audited as a real secret.
`python -m tools.pipeline_checks.gates.secrets_scan --update-baseline` (`make secrets-baseline`) refreshes it,
keeping the audit labels; then audit new entries with `detect-secrets audit .secrets.baseline`.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import shutil
import subprocess  # runs git and the pinned detect-secrets, no shell
import sys
from pathlib import Path

from tools.pipeline_checks.gates.common import (
    FAILED,
    PASSED,
    REPO_ROOT,
    GateResult,
    ToolMissing,
    tool,
    tool_missing,
    tool_version,
)

GATE, TITLE = "secrets", "Secrets in the repository (detect-secrets)"
BASELINE = ".secrets.baseline"
# Files never scanned, each with the reason (also recorded in the baseline's filters).
EXCLUDED_FILES = {
    r"(^|/)package-lock\.json$": "npm integrity hashes (sha512, base64) are high-entropy by design; "
    "npm verifies them, and the file holds nothing else a secret could hide in",
    r"(^|/)\.secrets\.baseline$": "the baseline holds hashes of audited findings, not secrets",
}


def tracked_files(root: Path) -> list[str]:
    """What git would commit: tracked files and untracked ones .gitignore does not ignore. Without git
    metadata (CodePipeline hands CodeBuild a zip), every file
    .gitignore would not ignore, by its simple name patterns (`.venv*/`, `cdk.out/`, `*.pyc`)."""
    git = shutil.which("git")
    if git and (root / ".git").exists():
        listed = subprocess.run(  # noqa: S603 - fixed arguments
            [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=False,
        )
        if listed.returncode == 0:
            return [f for f in listed.stdout.decode().split("\0") if f and (root / f).is_file()]
    patterns = [".git"] + [
        line.strip().rstrip("/")
        for line in (root / ".gitignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file()
        and not any(fnmatch.fnmatch(part, p) for part in path.relative_to(root).parts for p in patterns)
    )


def run(root: Path = REPO_ROOT, files: list[str] | None = None, baseline: Path | None = None) -> GateResult:
    baseline = baseline or root / BASELINE
    try:
        scan = tool("detect-secrets")
    except ToolMissing as error:
        return tool_missing(GATE, TITLE, error)
    if not baseline.is_file():
        return GateResult(GATE, TITLE, FAILED, f"{baseline} is missing: `make secrets-baseline` creates it")
    audited = json.loads(baseline.read_text(encoding="utf-8")).get("results", {})
    known = {
        (name, e.get("type"), e.get("hashed_secret")) for name, entries in audited.items() for e in entries
    }
    real = [
        _finding(name, entry, "marked as a real secret in the baseline: remove it and rotate it")
        for name, entries in audited.items()
        for entry in entries
        if entry.get("is_secret") is True
    ]
    files = tracked_files(root) if files is None else files
    # `scan` with explicit files, not detect-secrets-hook: the hook needs a git work tree (it runs
    # `git diff`), and CodeBuild gets the source as a zip. A finding is new when its (file, type,
    # secret hash) is not in the baseline, as the hook decides; line numbers may move.
    excludes = [arg for pattern in EXCLUDED_FILES for arg in ("--exclude-files", pattern)]
    result = subprocess.run(  # noqa: S603 - fixed arguments, file names as arguments
        [scan, "scan", *excludes, *files], cwd=root, capture_output=True, text=True, check=False
    )
    version = f"detect-secrets {tool_version(scan)}"
    try:
        found = json.loads(result.stdout).get("results", {})
    except ValueError:
        message = f"detect-secrets exited {result.returncode}: {(result.stderr or result.stdout)[-500:]}"
        return GateResult(GATE, TITLE, FAILED, message, version)
    new = [
        _finding(name, entry, "new potential secret")
        for name, entries in found.items()
        for entry in entries
        if (name, entry.get("type"), entry.get("hashed_secret")) not in known
    ]
    if new or real:
        summary = f"{len(new)} new potential secret(s) in {len(files)} files"
        if real:
            summary += f", {len(real)} baseline entries marked as real secrets"
        return GateResult(GATE, TITLE, FAILED, summary, version, new + real)
    summary = f"no new secrets in {len(files)} files ({len(known)} audited baseline entries)"
    return GateResult(GATE, TITLE, PASSED, summary, version)


def _finding(name: str, entry: dict[str, object], message: str) -> dict[str, str]:
    where = f"{name}:{entry.get('line_number')}"
    return {"id": str(entry.get("type", "")), "severity": "HIGH", "where": where, "message": message}


def update_baseline(root: Path = REPO_ROOT) -> int:
    """Create or refresh .secrets.baseline (audit labels kept) over the tracked files."""
    scan = tool("detect-secrets")
    args = [scan, "scan"]
    for pattern in EXCLUDED_FILES:
        args += ["--exclude-files", pattern]
    if (root / BASELINE).is_file():
        args += ["--baseline", BASELINE]
        return subprocess.run(args, cwd=root, check=False).returncode  # noqa: S603 - fixed arguments
    output = subprocess.run(args, cwd=root, capture_output=True, text=True, check=False)  # noqa: S603 - fixed arguments
    (root / BASELINE).write_text(output.stdout, encoding="utf-8")
    return output.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--update-baseline", action="store_true", help="create or refresh the baseline")
    args = parser.parse_args(argv)
    if args.update_baseline:
        return update_baseline()
    result = run()
    print(f"{result.gate}: {result.status.upper()}: {result.summary}")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
