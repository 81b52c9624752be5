"""Dependency gate: pip-audit on every pinned requirements file and uv.lock; any known vulnerability fails.

uv.lock is exported (`uv export`) as requirements: every package the groups install, transitive
ones included, for this Python (pip-audit evaluates the markers); checkov's group, whose pins
conflict with the others', in a file of its own. Each file is audited on its own
(lambda/requirements-py39.txt pins other versions of the same packages) with `--no-deps
--disable-pip`: the pins are exact, and the Lambda asset is exactly lambda/requirements.txt
installed with --no-deps. The vulnerability data comes from PyPI's JSON API
(`--vulnerability-service pypi`).

pip-audit reports a package the service did not answer for as "skipped" and still says "No known
vulnerabilities found" with exit 0. Here a skipped package, or a run that could not reach the
service at all, is NOT CHECKED: the gate says so and exits 3, and never passes.
"""

from __future__ import annotations

import json
import re
import subprocess  # runs the pinned pip-audit, no shell
import sys
import tempfile
from pathlib import Path
from typing import Any

from tools.pipeline_checks.gates.common import (
    FAILED,
    NOT_CHECKED,
    PASSED,
    REPO_ROOT,
    GateResult,
    ToolMissing,
    display_path,
    tool,
    tool_missing,
    tool_version,
)

GATE, TITLE = "audit", "Known vulnerabilities in the pinned dependencies (pip-audit)"
SERVICE = "pypi"
UNREACHABLE = "pip-audit: could not reach the vulnerability service: NOT CHECKED"
PATTERNS = ("requirements*.txt", "lambda/requirements*.txt")
# uv.lock's groups as the files they are exported to (one resolution each: checkov's conflicts).
LOCK_EXPORTS = {"uv.lock[dev+scan]": ("dev", "scan"), "uv.lock[checkov]": ("checkov",)}


def requirement_files(root: Path) -> list[Path]:
    return sorted({path for pattern in PATTERNS for path in root.glob(pattern)})


def exported_lock(root: Path, scratch: Path) -> list[Path]:
    """uv.lock's groups, written into `scratch` as pinned requirements files named as in LOCK_EXPORTS."""
    uv = tool("uv")
    exported = []
    for name, groups in LOCK_EXPORTS.items():
        path = scratch / name
        subprocess.run(  # noqa: S603 - the locked uv, fixed arguments
            [uv, "export", "--frozen", "--no-hashes", "--no-emit-project", "--quiet", "--project", str(root)]
            + [f"--only-group={group}" for group in groups]
            + ["-o", str(path)],
            check=True,
            capture_output=True,
        )
        exported.append(path)
    return exported


def run(
    root: Path = REPO_ROOT,
    files: list[Path] | None = None,
    env: dict[str, str] | None = None,
    cache_dir: Path | None = None,
) -> GateResult:
    """cache_dir: pip-audit's HTTP cache (default: its own); a fresh one makes every answer a live one."""
    try:
        pip_audit = tool("pip-audit")
    except ToolMissing as error:
        return tool_missing(GATE, TITLE, error)
    with tempfile.TemporaryDirectory(prefix="audit-lock-") as scratch:
        if files is None:
            files = requirement_files(root) + exported_lock(root, Path(scratch))
        return _run(pip_audit, root, files, env, cache_dir, Path(scratch))


def _run(
    pip_audit: str,
    root: Path,
    files: list[Path],
    env: dict[str, str] | None,
    cache_dir: Path | None,
    scratch: Path,
) -> GateResult:
    vulnerable: list[dict[str, Any]] = []
    unchecked: list[dict[str, Any]] = []
    audited = 0
    for requirements in files:
        name = requirements.name if requirements.parent == scratch else display_path(requirements, root)
        report, problem = _audit(pip_audit, requirements, env, cache_dir)
        if report is None:
            unchecked.append({"id": "NOT CHECKED", "severity": "", "where": name, "message": problem})
            continue
        for dependency in report.get("dependencies", []):
            # A skipped package has no `version` field; its skip_reason ends with "(1.2.3)".
            pinned = dependency.get("version") or _version_in(str(dependency.get("skip_reason", "")))
            where = f"{name}: {dependency.get('name')}=={pinned}"
            if dependency.get("skip_reason"):
                unchecked.append(
                    {
                        "id": "NOT CHECKED",
                        "severity": "",
                        "where": where,
                        "message": dependency["skip_reason"],
                    }
                )
                continue
            audited += 1
            for vuln in dependency.get("vulns", []):
                fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed release"
                vulnerable.append(
                    {
                        "id": vuln.get("id", ""),
                        "severity": "HIGH",
                        "where": where,
                        "message": f"fixed in {fixes}; aliases {', '.join(vuln.get('aliases', [])) or '-'}: "
                        f"{str(vuln.get('description', ''))[:300]}",
                    }
                )
    version = tool_version(pip_audit)
    if vulnerable:
        summary = f"{len(vulnerable)} known vulnerabilit(y/ies) in {len(files)} requirements files"
        if unchecked:
            summary += f"; {len(unchecked)} not checked"
        return GateResult(GATE, TITLE, FAILED, summary, version, vulnerable + unchecked)
    if unchecked:
        return GateResult(
            GATE,
            TITLE,
            NOT_CHECKED,
            f"{UNREACHABLE} ({len(unchecked)} of {len(unchecked) + audited} pins got no answer)",
            version,
            unchecked,
        )
    return GateResult(
        GATE, TITLE, PASSED, f"no known vulnerabilities in {audited} pins of {len(files)} files", version
    )


def _audit(
    pip_audit: str, requirements: Path, env: dict[str, str] | None, cache_dir: Path | None
) -> tuple[dict[str, Any] | None, str]:
    cache = ["--cache-dir", str(cache_dir)] if cache_dir else []
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [
            pip_audit,
            "--vulnerability-service",
            SERVICE,
            "--no-deps",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--requirement",
            str(requirements),
            *cache,
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=600,
    )
    try:
        report = json.loads(result.stdout)
    except ValueError:
        # No report: pip-audit stopped (connection refused, DNS, TLS) before auditing anything.
        last = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
        return None, f"{UNREACHABLE}: {last[-300:]}"
    return report, ""


def _version_in(reason: str) -> str:
    match = re.search(r"\(([^()\s]+)\)\s*$", reason)
    return match[1] if match else "?"


def main() -> int:
    result = run()
    if result.status == NOT_CHECKED:
        print(UNREACHABLE)
    print(f"{result.gate}: {result.status.upper()}: {result.summary}")
    for finding in result.findings:
        print(f"  {finding['id']} {finding['where']}: {finding['message']}")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
