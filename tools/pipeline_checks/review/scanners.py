"""checkov and cfn-lint on each synthesized template, with every skip and its reason.

Both run as `make checkov` / `make cfn-lint` run them (checkov from its own venv, assets
skipped, nothing downloaded), but with JSON output, so each result is tied to the stack whose
template it is about. A scanner that cannot run is reported as not run, never as clean.
checkov reports its own skips (with the `Metadata.checkov.skip` comment as suppress_comment);
cfn-lint does not report ignored rules, so those are read from `Metadata.cfn-lint` with the
reason stages/compliance.py writes next to them (`ignore_reasons`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # runs the pinned scanners on our own templates, no shell
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tools.common.assembly import Assembly, Stack
from tools.common.paths import REPO_ROOT

RAN = "ran"
# Where `make scan-templates` leaves each scanner's JSON (reports/scanners/), for `make report`.
CHECKOV_JSON = "checkov.json"
CFN_LINT_JSON = "cfn-lint.json"


def checkov_binary() -> str | None:
    candidates = [os.environ.get("CHECKOV"), str(REPO_ROOT / ".venv-tools" / "checkov" / "bin" / "checkov")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


def cfn_lint_binary() -> str | None:
    beside = Path(sys.executable).with_name("cfn-lint")
    return str(beside) if beside.is_file() else shutil.which("cfn-lint")


def run_checkov(assembly: Assembly) -> tuple[str, Any]:
    """(status, checkov's JSON report) for the whole assembly; status is RAN or why not."""
    checkov = checkov_binary()
    if checkov is None:
        return "not run: checkov is not installed (.venv-tools/checkov, or CHECKOV=...): `make install`", None
    result = subprocess.run(  # noqa: S603 - fixed argument list, our own assembly directory
        [
            checkov,
            "--skip-download",
            "--framework",
            "cloudformation",
            "--directory",
            ".",
            "--skip-path",
            r"asset\.",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=assembly.directory,
    )
    try:
        return RAN, json.loads(result.stdout)
    except ValueError:
        return (
            f"not run: checkov exited {result.returncode} without a JSON report: {result.stderr[-500:]}",
            None,
        )


def run_cfn_lint(assembly: Assembly) -> tuple[str, Any]:
    cfn_lint = cfn_lint_binary()
    if cfn_lint is None:
        return "not run: cfn-lint is not installed (`make install`)", None
    templates = [str(stack.template_file) for stack in assembly.stacks]
    result = subprocess.run(  # noqa: S603 - fixed argument list, our own templates
        [cfn_lint, "--format", "json", *templates], capture_output=True, text=True, check=False
    )
    try:
        return RAN, json.loads(result.stdout or "[]")
    except ValueError:
        return (
            f"not run: cfn-lint exited {result.returncode} without a JSON report: {result.stderr[-500:]}",
            None,
        )


def run_both(assembly: Assembly) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """(checkov, cfn-lint) results, the two processes side by side."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        checkov = pool.submit(run_checkov, assembly)
        cfn_lint = pool.submit(run_cfn_lint, assembly)
        return checkov.result(), cfn_lint.result()


def saved_or_run(assembly: Assembly, saved: Path | None) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """The JSON `make scan-templates` saved in `saved` for this very synth (written after its
    manifest), else both scanners run now. Each scanner's file is taken or run on its own."""
    manifest = assembly.directory / "manifest.json"

    def fresh(name: str) -> tuple[str, Any] | None:
        path = saved / name if saved else None
        if path is None or not path.is_file() or path.stat().st_mtime < manifest.stat().st_mtime:
            return None
        return RAN, json.loads(path.read_text(encoding="utf-8"))

    checkov, cfn_lint = fresh(CHECKOV_JSON), fresh(CFN_LINT_JSON)
    if checkov and cfn_lint:
        return checkov, cfn_lint
    if checkov:
        return checkov, run_cfn_lint(assembly)
    if cfn_lint:
        return run_checkov(assembly), cfn_lint
    return run_both(assembly)


def checkov_results(assembly: Assembly, report: Any) -> dict[str, dict[str, Any]]:
    """Per stack (artifact id): passed count, failed and skipped checks (each with its reason)."""
    per_stack: dict[str, dict[str, Any]] = {
        s.artifact_id: {"passed": 0, "failed": [], "skipped": []} for s in assembly.stacks
    }
    by_file = {stack.template_file.resolve(): stack for stack in assembly.stacks}
    for framework in report if isinstance(report, list) else [report]:
        results = (framework or {}).get("results", {}) if isinstance(framework, dict) else {}
        for outcome in ("passed", "failed", "skipped"):
            for check in results.get(f"{outcome}_checks", []) or []:
                stack = by_file.get(
                    (assembly.directory / str(check.get("file_path", "")).lstrip("/")).resolve()
                )
                if stack is None:
                    continue
                if outcome == "passed":
                    per_stack[stack.artifact_id]["passed"] += 1
                else:
                    per_stack[stack.artifact_id][outcome].append(_checkov_item(stack, check, outcome))
    return per_stack


def _checkov_item(stack: Stack, check: dict[str, Any], outcome: str) -> dict[str, Any]:
    _type, _, logical_id = str(check.get("resource", "")).partition(".")
    resource = stack.resources.get(logical_id)
    path = stack.relative_path(resource.path) if resource and resource.path else logical_id
    check_id = str(check.get("check_id", ""))
    item = {
        "stage": stack.stage,
        "stack": stack.stack_name,
        "checkId": check_id,
        "checkName": str(check.get("check_name", "")),
        "logicalId": logical_id,
        "resourceType": resource.type if resource else _type,
        "resource": path,
        "key": f"{check_id} @ {stack.stack_name}/{path}",
    }
    if outcome == "skipped":
        item["reason"] = str((check.get("check_result") or {}).get("suppress_comment") or "")
    return item


def cfn_lint_results(assembly: Assembly, matches: Any) -> dict[str, list[dict[str, Any]]]:
    per_stack: dict[str, list[dict[str, Any]]] = {s.artifact_id: [] for s in assembly.stacks}
    by_file = {stack.template_file.resolve(): stack for stack in assembly.stacks}
    for match in matches or []:
        stack = by_file.get(Path(str(match.get("Filename", ""))).resolve())
        if stack is None:
            continue
        location = match.get("Location", {})
        where = [str(p) for p in location.get("Path", [])]
        logical_id = where[1] if len(where) > 1 and where[0] == "Resources" else ""
        resource = stack.resources.get(logical_id)
        path = stack.relative_path(resource.path) if resource and resource.path else logical_id
        rule = str((match.get("Rule") or {}).get("Id", ""))
        per_stack[stack.artifact_id].append(
            {
                "stage": stack.stage,
                "stack": stack.stack_name,
                "rule": rule,
                "level": str(match.get("Level", "")),
                "message": str(match.get("Message", "")),
                "logicalId": logical_id,
                "resource": path,
                "location": "/".join(where),
                "line": (location.get("Start") or {}).get("LineNumber"),
                "key": f"{rule} @ {stack.stack_name}/{'/'.join(where)}",
            }
        )
    return per_stack


def cfn_lint_ignores(stack: Stack) -> list[dict[str, Any]]:
    """Every `Metadata.cfn-lint.config.ignore_checks` entry, with the reason recorded next to it."""
    found = []
    for resource in stack.resources.values():
        cfn_lint = resource.metadata.get("cfn-lint") or {}
        reasons = cfn_lint.get("ignore_reasons") or {}
        path = stack.relative_path(resource.path) if resource.path else resource.logical_id
        for rule in (cfn_lint.get("config") or {}).get("ignore_checks", []) or []:
            found.append(
                {
                    "stage": stack.stage,
                    "stack": stack.stack_name,
                    "rule": str(rule),
                    "logicalId": resource.logical_id,
                    "resourceType": resource.type,
                    "resource": path,
                    "reason": str(reasons.get(rule, "")),
                    "key": f"{rule} @ {stack.stack_name}/{path}",
                }
            )
    return found
