"""Static analysis gate: bandit on the app, the Lambda code and the tools; high severity fails.

Configuration is pyproject.toml's [tool.bandit] (which tests it skips, and why). Medium and low
findings do not fail the build but are listed, in the gate's JSON and in the review report,
so a reviewer sees them. ruff's flake8-bandit rules (`S`) catch most of these at lint time; bandit
is the second, independent look the security gate asks for.
"""

from __future__ import annotations

import json
import subprocess  # runs the pinned bandit, no shell
import sys
from collections import Counter
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

GATE, TITLE = "bandit", "Static analysis of the Python code (bandit)"
TARGETS = ("main.py", "stages", "lambda", "tools")
FAILING_SEVERITY = "HIGH"


def run(root: Path = REPO_ROOT, targets: tuple[str, ...] = TARGETS, config: Path | None = None) -> GateResult:
    try:
        bandit = tool("bandit")
    except ToolMissing as error:
        return tool_missing(GATE, TITLE, error)
    config = config or root / "pyproject.toml"
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [bandit, "-c", str(config), "-r", *targets, "-f", "json", "-q"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except ValueError:
        return GateResult(
            GATE, TITLE, FAILED, f"bandit exited {result.returncode} without a report: {result.stderr[-500:]}"
        )
    findings = [
        {
            "id": f"{issue['test_id']} {issue['test_name']}",
            "severity": issue["issue_severity"],
            "confidence": issue["issue_confidence"],
            "where": f"{issue['filename']}:{issue['line_number']}",
            "message": issue["issue_text"],
        }
        for issue in report.get("results", [])
    ]
    findings.sort(
        key=lambda f: (
            ["HIGH", "MEDIUM", "LOW"].index(f["severity"])
            if f["severity"] in ("HIGH", "MEDIUM", "LOW")
            else 3,
            f["where"],
        )
    )
    by_severity = Counter(f["severity"] for f in findings)
    errors = report.get("errors", [])
    counts = ", ".join(f"{by_severity[s]} {s.lower()}" for s in ("HIGH", "MEDIUM", "LOW"))
    files = len(report.get("metrics", {})) - 1  # one entry per file, plus _totals
    summary = f"{counts} severity in {files} files" + (f"; {len(errors)} files not parsed" if errors else "")
    status = FAILED if by_severity[FAILING_SEVERITY] or errors else PASSED
    return GateResult(GATE, TITLE, status, summary, tool_version(bandit), findings)


def main() -> int:
    result = run()
    print(f"{result.gate}: {result.status.upper()}: {result.summary}")
    for finding in result.findings:
        print(f"  {finding['severity']:<6} {finding['id']} at {finding['where']}: {finding['message']}")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
