"""The review as one self-contained HTML page: inline CSS, no script, no external reference.

It opens from a downloaded build artifact with no network, prints (print CSS: no navigation,
rows kept whole, colours kept), and every number in it carries `data-count="<name>"` (and
`data-stack` for a stack's own), so a test can compare the rendered page with report.json.

The page is rendered from Jinja2 templates (tools/pipeline_checks/review/templates/) with autoescaping on:
every reason, construct path and policy value comes from the repository, and a template cannot
forget to escape one. The only markup made in Python is the `wild` filter, which escapes first.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from tools.pipeline_checks.review.diff import title as category_title
from tools.pipeline_checks.review.scanners import RAN

# (count name, label, tone when above zero)
COUNT_LABELS = [
    ("findings.failed", "unacknowledged findings (cdk-nag, delivery path)", "bad"),
    ("findings.warnings", "warnings (cdk-nag, delivery path)", "warn"),
    ("findings.info", "informational findings", ""),
    ("delivery.flagged", "delivery-path flags (error or warning)", "bad"),
    ("delivery.bootstrapAssumers", "pipeline roles that may assume a bootstrap role", ""),
    ("claims.checked", "README trust claims whose tests all passed in this build", ""),
    ("claims.notChecked", "README trust claims NOT CHECKED (a test failed, skipped or did not run)", "bad"),
    ("acknowledgements", "acknowledged findings (each with a reason)", ""),
    ("acknowledgements.reasons", "distinct acknowledgement reasons", ""),
    ("acknowledgements.ownClaimsFlagged", 'acknowledgements saying "own" over others\' resources', "bad"),
    ("checkov.failed", "checkov failed checks", "bad"),
    ("checkov.skipped", "checkov skips (each with a reason)", ""),
    ("checkov.passed", "checkov passed checks", "ok"),
    ("cfnLint.findings", "cfn-lint findings", "bad"),
    ("cfnLint.ignores", "cfn-lint ignores (each with a reason)", ""),
    ("risks.findings", "risky-permission classes (cloudsplaining)", "warn"),
    ("boundary.policies", "bootstrap policies", ""),
    ("boundary.rows", "bootstrap policy statements", ""),
    ("boundary.wildcardAllowRows", "bootstrap Allow statements with a wildcard", "warn"),
    ("iam.roles", "IAM roles", ""),
    ("iam.resourcePolicies", "resource policies and permissions", ""),
    ("iam.rows", "IAM permission rows", ""),
    ("iam.wildcardAllowRows", "Allow rows with a wildcard", "warn"),
    ("iam.wildcardRows", "rows with a wildcard (Allow or Deny)", ""),
    ("gates.failed", "security gates failed", "bad"),
    ("gates.notChecked", "security gates NOT CHECKED", "warn"),
    ("gates.passed", "security gates passed", "ok"),
    ("stacks", "stacks", ""),
]
STACK_COLUMNS = [
    ("findings.failed", "failed"),
    ("findings.warnings", "warnings"),
    ("acknowledgements", "acks"),
    ("checkov.failed", "checkov failed"),
    ("checkov.skipped", "checkov skipped"),
    ("cfnLint.findings", "cfn-lint"),
    ("cfnLint.ignores", "cfn-lint ignored"),
    ("iam.roles", "roles"),
    ("iam.wildcardAllowRows", "wildcard Allow rows"),
    ("risks.findings", "risky classes"),
]
GATE_BADGE = {"passed": "ok", "failed": "bad", "not checked": "warn"}
SEVERITY_TONE = {"HIGH": "bad", "MEDIUM": "warn"}
DIFF_CARDS = [
    ("diff.new", "new", "warn"),
    ("diff.changed", "reasons changed", "warn"),
    ("diff.removed", "removed", ""),
    ("diff.unchanged", "unchanged", ""),
]


def wild(text: object) -> Markup:
    """Escaped, with every `*` marked: a reviewer's eye goes to wildcards first."""
    return escape(str(text)).replace("*", Markup('<mark class="wild">*</mark>'))


def anchor(text: object) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in str(text))


ENVIRONMENT = Environment(
    loader=PackageLoader("tools.pipeline_checks.review", "templates"),
    autoescape=True,  # every template, whatever its name: nothing from the repo reaches the page raw
    undefined=StrictUndefined,  # a misspelt field fails the report instead of rendering as nothing
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
ENVIRONMENT.filters.update(wild=wild, anchor=anchor, category_title=category_title)
ENVIRONMENT.globals.update(
    RAN=RAN,
    COUNT_LABELS=COUNT_LABELS,
    STACK_COLUMNS=STACK_COLUMNS,
    GATE_BADGE=GATE_BADGE,
    SEVERITY_TONE=SEVERITY_TONE,
    DIFF_CARDS=DIFF_CARDS,
)


def render(report: dict[str, Any]) -> str:
    return ENVIRONMENT.get_template("report.html.j2").render(report=report, toc=_toc(report))


def _toc(report: dict[str, Any]) -> list[tuple[str, str]]:
    links = [("summary", "Summary")]
    if "diff" in report:
        links.append(("changes", "Changes since baseline"))
    links += [
        ("gates", "Build gates"),
        ("boundary", "Deployment boundary"),
        ("delivery", "Delivery path"),
        ("risks", "Risky permissions"),
        ("trust", "Who may assume each role"),
        ("reasons", "Acknowledgements by reason"),
    ]
    links += [(f"stage-{anchor(stage)}", f"Stage {stage}") for stage in report["stages"]]
    links.append(("how-to-read", "How to read this"))
    return links
