"""The report as data: one JSON document, from which the HTML, Markdown and JUnit files are rendered.

Every list is flat (each item names its stage and stack) so a machine can filter it; `counts`
sums them for the whole app and `stacks[].counts` per stack. Beside the stacks: `boundary`, the
bootstrap policies every deployment runs inside; `risks`, cloudsplaining's risk classes per
principal (the boundary's policies' stage is `bootstrap`); `acknowledgementReasons`, the
acknowledgements grouped by reason; `delivery`, the delivery path (review/delivery.py), whose flags
are findings too (pack `DeliveryPath`, severity error, warning or info); `claims`, the README's trust
claims with the tests that check them and how those ended in this build (review/claims.py). Every
item has a `key` that stays the same between two builds of the same code, which is what `--baseline`
diffs on.
"""

from __future__ import annotations

import os
import shutil
import subprocess  # `git rev-parse HEAD`, no shell
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.common.assembly import Assembly
from tools.pipeline_checks.review import controls, iam, nag, scanners

# `bootstrap` when the review was not given the bootstrap folder's policies
# (tools.pipeline_checks.review.boundary).
NO_BOUNDARY: dict[str, Any] = {"status": "not read", "directory": "", "policies": [], "unreadable": []}
# `delivery` when the review was not given the delivery path (tools.pipeline_checks.review.delivery).
NO_DELIVERY: dict[str, Any] = {"status": "not read", "flags": []}
# `claims` when the review was not given the tests' results (tools.pipeline_checks.review.claims).
NO_CLAIMS: dict[str, Any] = {"status": "not read", "junit": "", "claims": []}

SCHEMA = "secure-upload-api/security-review/1"
# Which gates results count as what (tools/pipeline_checks/gates/common.py statuses).
GATE_STATUSES = {"passed": "passed", "failed": "failed", "not checked": "notChecked"}


def build(
    assembly: Assembly,
    *,
    checkov: tuple[str, Any],
    cfn_lint: tuple[str, Any],
    gates: dict[str, Any] | None,
    source: dict[str, str] | None = None,
    boundary: dict[str, Any] | None = None,
    delivery: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """checkov / cfn_lint: (status, the tool's JSON report or None); gates: the gates'
    summary.json;
    boundary: review.boundary.load(bootstrap/), the policies every deployment runs inside;
    delivery: review.delivery.build(assembly), the delivery path and its flags;
    claims: review.claims.build(junit), the README's trust claims and how their tests ended."""
    delivery = delivery if delivery is not None else NO_DELIVERY
    order = {stage: i for i, stage in enumerate(assembly.stages)}
    stack_order = {s.stack_name: i for i, s in enumerate(assembly.stacks)}

    def ordered(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(
            items, key=lambda i: (order.get(i["stage"], len(order)), stack_order.get(i["stack"], 0))
        )

    checkov_status, checkov_report = checkov
    cfn_lint_status, cfn_lint_report = cfn_lint
    by_stack_checkov = (
        scanners.checkov_results(assembly, checkov_report) if checkov_status == scanners.RAN else {}
    )
    by_stack_cfn_lint = (
        scanners.cfn_lint_results(assembly, cfn_lint_report) if cfn_lint_status == scanners.RAN else {}
    )
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "generatedAt": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "source": source if source is not None else source_info(),
        "assembly": str(assembly.directory),
        "validationReport": "read" if nag.validation_ran(assembly) else "missing: cdk-nag did not run",
        "stages": assembly.stages,
        "stacks": [
            {
                "stage": s.stage,
                "stack": s.stack_name,
                "artifactId": s.artifact_id,
                "constructPath": s.construct_path,
                "templateFile": str(s.template_file.relative_to(assembly.directory)),
                "resources": len(s.resources),
                "checkovPassed": by_stack_checkov.get(s.artifact_id, {}).get("passed", 0),
            }
            for s in assembly.stacks
        ],
        "findings": ordered([*nag.findings(assembly), *delivery["flags"]]),
        "acknowledgements": ordered(nag.acknowledgements(assembly)),
        "checkov": {
            "status": checkov_status,
            "failed": ordered(c for r in by_stack_checkov.values() for c in r["failed"]),
            "skipped": ordered(c for r in by_stack_checkov.values() for c in r["skipped"]),
        },
        "cfnLint": {
            "status": cfn_lint_status,
            "findings": ordered(m for r in by_stack_cfn_lint.values() for m in r),
            "ignores": ordered(i for s in assembly.stacks for i in scanners.cfn_lint_ignores(s)),
        },
        "iam": ordered(e for s in assembly.stacks for e in iam.permissions(s)),
        "boundary": boundary if boundary is not None else NO_BOUNDARY,
        "delivery": delivery,
        "claims": claims if claims is not None else NO_CLAIMS,
        "controls": ordered(c for s in assembly.stacks for c in controls.controls(s)),
        "gates": _gates(gates),
    }
    report["acknowledgementReasons"] = acknowledgement_reasons(report["acknowledgements"])
    report["risks"] = risk_items(report)
    report["counts"] = counts(report)
    for stack in report["stacks"]:
        stack["counts"] = counts(report, stack=stack["stack"])
    return report


def _gates(gates: dict[str, Any] | None) -> dict[str, Any]:
    """The gates' summary.json as the report's `gates` (not run when there is none)."""
    return {
        "status": "ran" if gates is not None else "not run: no reports/gates/summary.json (`make scan`)",
        "strict": bool((gates or {}).get("strict", False)),
        "results": list((gates or {}).get("gates", [])),
    }


def counts(report: dict[str, Any], stack: str | None = None) -> dict[str, int]:
    """Flat counts (the HTML page shows each as data-count="..."); per stack when `stack` is given."""

    def of(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if stack is None or i["stack"] == stack]

    findings = of(report["findings"])
    entities = of(report["iam"])
    rows = [row for entity in entities for row in entity["rows"]]
    result = {
        "findings.failed": sum(1 for f in findings if f["severity"] == "error"),
        "findings.warnings": sum(1 for f in findings if f["severity"] == "warning"),
        "findings.info": sum(1 for f in findings if f["severity"] == "info"),
        "acknowledgements": len(of(report["acknowledgements"])),
        "checkov.failed": len(of(report["checkov"]["failed"])),
        "checkov.skipped": len(of(report["checkov"]["skipped"])),
        "checkov.passed": sum(s["checkovPassed"] for s in report["stacks"] if stack in (None, s["stack"])),
        "cfnLint.findings": len(of(report["cfnLint"]["findings"])),
        "cfnLint.ignores": len(of(report["cfnLint"]["ignores"])),
        "iam.roles": sum(1 for e in entities if e["kind"] == "role"),
        "iam.resourcePolicies": sum(1 for e in entities if e["kind"] != "role"),
        "iam.rows": len(rows),
        "iam.wildcardRows": sum(1 for r in rows if r["wildcards"]),
        "iam.wildcardAllowRows": sum(1 for r in rows if r["wildcards"] and r["effect"] == "Allow"),
    }
    result["acknowledgements.reasons"] = len({a["reason"] for a in of(report["acknowledgements"])})
    result["acknowledgements.ownClaimsFlagged"] = sum(
        1 for a in of(report["acknowledgements"]) if a["ownClaimWildcards"]
    )
    result["risks.findings"] = len(of(report["risks"]))
    if stack is None:
        boundary_rows = [row for policy in report["boundary"]["policies"] for row in policy["rows"]]
        result["boundary.policies"] = len(report["boundary"]["policies"])
        result["boundary.rows"] = len(boundary_rows)
        result["boundary.wildcardAllowRows"] = sum(
            1 for r in boundary_rows if r["wildcards"] and r["effect"] == "Allow"
        )
        result["stacks"] = len(report["stacks"])
        delivery = report.get("delivery", NO_DELIVERY)
        result["delivery.flagged"] = sum(1 for f in delivery["flags"] if f["severity"] != "info")
        result["delivery.bootstrapAssumers"] = len(delivery.get("assumes", []))
        verdicts = [c["verdict"] for c in report.get("claims", NO_CLAIMS)["claims"]]
        result["claims.checked"] = verdicts.count("checked")
        result["claims.notChecked"] = len(verdicts) - verdicts.count("checked")
        statuses = [GATE_STATUSES.get(g["status"], "failed") for g in report["gates"]["results"]]
        for status in GATE_STATUSES.values():
            result[f"gates.{status}"] = statuses.count(status)
    return result


def acknowledgement_reasons(acks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per distinct reason, most used first: a reason given 40 times is one decision to judge."""
    groups: dict[str, dict[str, Any]] = {}
    for ack in acks:
        group = groups.setdefault(
            ack["reason"],
            {"reason": ack["reason"], "count": 0, "ownClaimsFlagged": 0, "acknowledgements": []},
        )
        group["count"] += 1
        group["ownClaimsFlagged"] += 1 if ack["ownClaimWildcards"] else 0
        group["acknowledgements"].append(
            {
                "stage": ack["stage"],
                "stack": ack["stack"],
                "findingId": ack["findingId"],
                "construct": ack["construct"],
                "ownClaimWildcards": ack["ownClaimWildcards"],
            }
        )
    return sorted(groups.values(), key=lambda g: (-g["count"], g["reason"]))


def risk_items(report: dict[str, Any]) -> list[dict[str, Any]]:
    """cloudsplaining's classes, one item per principal and class: the boundary's policies, then each role."""
    items = []
    for policy in report["boundary"]["policies"]:
        for risk in policy["risks"]:
            items.append(_risk("bootstrap", policy["file"], "bootstrap policy", policy["file"], risk))
    for entity in report["iam"]:
        for risk in entity.get("risks", []):
            items.append(_risk(entity["stage"], entity["stack"], entity["kind"], entity["principal"], risk))
    return items


def _risk(stage: str, stack: str, kind: str, principal: str, risk: dict[str, Any]) -> dict[str, Any]:
    return {
        "stage": stage,
        "stack": stack,
        "kind": kind,
        "principal": principal,
        **risk,
        "key": f"{stage}/{stack} | {principal} | {risk['check']}",
    }


def source_info() -> dict[str, str]:
    """Which code the report is about: CodeBuild's resolved commit, else git's HEAD."""
    commit = os.environ.get("CODEBUILD_RESOLVED_SOURCE_VERSION", "")
    git = shutil.which("git")
    if not commit and git:
        head = subprocess.run(  # noqa: S603 - fixed arguments
            [git, "rev-parse", "HEAD"], capture_output=True, text=True, check=False, cwd=Path(__file__).parent
        )
        commit = head.stdout.strip() if head.returncode == 0 else ""
    return {"commit": commit or "unknown", "build": os.environ.get("CODEBUILD_BUILD_ID", "local")}
