"""`make scan-templates`: cfn-lint and checkov on every synthesized template, the build's template gate.

    python -m tools.pipeline_checks.scan_templates [cdk.out] [--out reports/scanners]

Both run as the review runs them (review/scanners.py: JSON output, assets skipped, nothing
downloaded), side by side: each is one process, and checkov alone takes longer than the rest of
the step. Their JSON goes to --out, where `make report` reads it instead of running them again.
Exit 1 on any finding that is not skipped or ignored with its reason, or when a scanner could
not run (never a pass for a scanner that did not look); exit 2 when there is no assembly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tools.common import assembly
from tools.pipeline_checks.review import scanners


def failures(app: assembly.Assembly, checkov: tuple[str, Any], cfn_lint: tuple[str, Any]) -> list[str]:
    """One line per finding (or per scanner that did not run)."""
    lines = [f"{name}: {status}" for name, (status, _) in (("checkov", checkov), ("cfn-lint", cfn_lint))]
    lines = [line for line in lines if not line.endswith(f": {scanners.RAN}")]
    if checkov[0] == scanners.RAN:
        per_stack = scanners.checkov_results(app, checkov[1])
        for stack_id, result in per_stack.items():
            lines += [
                f"checkov: {stack_id}: {c['checkId']} {c['resource']}: {c['checkName']}"
                for c in result["failed"]
            ]
        unmapped = _checkov_failed(checkov[1]) - sum(len(r["failed"]) for r in per_stack.values())
        if unmapped:
            lines.append(f"checkov: {unmapped} failed check(s) in files that are no stack's template")
    if cfn_lint[0] == scanners.RAN:
        for stack_id, matches in scanners.cfn_lint_results(app, cfn_lint[1]).items():
            lines += [f"cfn-lint: {stack_id}: {m['rule']} {m['location']}: {m['message']}" for m in matches]
    return lines


def _checkov_failed(report: Any) -> int:
    frameworks = report if isinstance(report, list) else [report]
    return sum(int((f or {}).get("summary", {}).get("failed", 0)) for f in frameworks if isinstance(f, dict))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("assembly", nargs="?", default=Path("cdk.out"), type=Path)
    parser.add_argument("--out", type=Path, default=Path("reports/scanners"))
    args = parser.parse_args(argv)
    try:
        app = assembly.load(args.assembly)
    except assembly.AssemblyError as error:
        print(f"scan-templates: nothing to scan: {error}", file=sys.stderr)
        return 2
    checkov, cfn_lint = scanners.run_both(app)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (status, report) in ((scanners.CHECKOV_JSON, checkov), (scanners.CFN_LINT_JSON, cfn_lint)):
        if status == scanners.RAN:
            (args.out / name).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    found = failures(app, checkov, cfn_lint)
    for line in found:
        print(line)
    templates = len(app.stacks)
    print(f"scan-templates: {len(found)} finding(s) in {templates} templates; JSON in {args.out}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
