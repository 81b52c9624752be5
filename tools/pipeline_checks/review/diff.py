"""What changed since a previous report (`--baseline old/report.json`): what a reviewer of a change needs.

Items are matched by their `key` (finding id + construct path, acknowledgement id + path, role +
statement, check id + resource), never by position, so a reordered template changes nothing.
New items come first, findings and acknowledgements before the rest; then reasons that changed
(an acknowledgement that now says something else is a new decision); then what was removed; then
how many stayed the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tools.pipeline_checks.review.model import SCHEMA


class BaselineError(Exception):
    pass


# name -> (title, how to get the items out of a report, field a changed reason sits in)
CATEGORIES: dict[str, tuple[str, Callable[[dict[str, Any]], list[dict[str, Any]]], str | None]] = {
    "findings": ("findings (cdk-nag, delivery path)", lambda r: r["findings"], None),
    "acknowledgements": ("cdk-nag acknowledgements", lambda r: r["acknowledgements"], "reason"),
    "checkovFailed": ("checkov failed checks", lambda r: r["checkov"]["failed"], None),
    "checkovSkipped": ("checkov skips", lambda r: r["checkov"]["skipped"], "reason"),
    "cfnLintFindings": ("cfn-lint findings", lambda r: r["cfnLint"]["findings"], None),
    "cfnLintIgnores": ("cfn-lint ignores", lambda r: r["cfnLint"]["ignores"], "reason"),
    "iamRows": ("IAM permissions", lambda r: iam_rows(r), None),
    "boundaryRows": ("bootstrap policy statements", lambda r: boundary_rows(r), None),
    "risks": ("risky permissions (cloudsplaining)", lambda r: r.get("risks", []), None),
}


def boundary_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The bootstrap policies' statements (a report older than them has none)."""
    policies = report.get("boundary", {}).get("policies", [])
    return [{**row, "stage": "bootstrap", "stack": p["file"]} for p in policies for row in p["rows"]]


def iam_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every IAM row with the entity it belongs to (stage, stack, kind, attached to)."""
    return [
        {**row, "stage": e["stage"], "stack": e["stack"], "kind": e["kind"], "entity": e["principal"]}
        for e in report["iam"]
        for row in e["rows"]
    ]


def compare(baseline: dict[str, Any], current: dict[str, Any], baseline_path: str = "") -> dict[str, Any]:
    if baseline.get("schema") != SCHEMA:
        raise BaselineError(f"{baseline_path or 'baseline'} is not a review report ({SCHEMA})")
    new: dict[str, list[dict[str, Any]]] = {}
    removed: dict[str, list[dict[str, Any]]] = {}
    changed: dict[str, list[dict[str, Any]]] = {}
    unchanged: dict[str, int] = {}
    for name, (_title, items_of, reason_field) in CATEGORIES.items():
        before, after = _keyed(items_of(baseline)), _keyed(items_of(current))
        new[name] = [item for key, item in after.items() if key not in before]
        removed[name] = [item for key, item in before.items() if key not in after]
        both = [key for key in after if key in before]
        changed[name] = [
            {**after[key], "before": before[key].get(reason_field, "")}
            for key in both
            if reason_field and before[key].get(reason_field) != after[key].get(reason_field)
        ]
        unchanged[name] = len(both) - len(changed[name])
    return {
        "baseline": {
            "path": baseline_path,
            "generatedAt": baseline.get("generatedAt", ""),
            "commit": baseline.get("source", {}).get("commit", ""),
        },
        "new": new,
        "changed": changed,
        "removed": removed,
        "unchanged": unchanged,
        "counts": {
            "diff.new": sum(map(len, new.values())),
            "diff.changed": sum(map(len, changed.values())),
            "diff.removed": sum(map(len, removed.values())),
            "diff.unchanged": sum(unchanged.values()),
        },
    }


def _keyed(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """By key; a key seen again (the same statement twice on one role) gets `#2`, `#3`: kept, not merged."""
    keyed: dict[str, dict[str, Any]] = {}
    for item in items:
        key, n = item["key"], 1
        while key in keyed:
            n += 1
            key = f"{item['key']}#{n}"
        keyed[key] = item
    return keyed


def title(category: str) -> str:
    return CATEGORIES[category][0]
