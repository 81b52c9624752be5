"""`make report`: write the security review of a synthesized app.

    python -m tools.pipeline_checks.review [cdk.out] [--out reports/review] [--baseline old/report.json]

Writes report.html (self-contained), report.md, report.json, findings-junit.xml, and the JSON of
checkov and cfn-lint it read (`--scans reports/scanners` reuses `make scan-templates`' when that
ran on this synth, else both run here, side by side). It reports;
it does not judge: the build's gates (the nag gate, cfn-lint, checkov, `make scan`) fail the
build, and the report shows what they found, also after one of them failed. Exit 2 when there
is nothing to report on (no cloud assembly) or the baseline is not a review report.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tools.common import assembly
from tools.pipeline_checks.review import (
    boundary,
    claims,
    delivery,
    diff,
    html_report,
    junit,
    markdown_report,
    model,
    scanners,
)

FILES = {"json": "report.json", "html": "report.html", "md": "report.md", "junit": "findings-junit.xml"}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("assembly", nargs="?", default=Path("cdk.out"), type=Path)
    parser.add_argument("--out", type=Path, default=Path("reports/review"))
    parser.add_argument(
        "--gates",
        type=Path,
        default=Path("reports/gates/summary.json"),
        help="tools.pipeline_checks.gates' summary (`make scan`); reported as not run when missing",
    )
    parser.add_argument(
        "--bootstrap",
        type=Path,
        default=scanners.REPO_ROOT / "bootstrap",
        help="the folder of the bootstrap IAM policies (execution policy, permissions boundary)",
    )
    parser.add_argument(
        "--bootstrap-template",
        type=Path,
        default=delivery.BOOTSTRAP_TEMPLATE,
        help="the committed CDK bootstrap template (whom the bootstrap roles trust)",
    )
    parser.add_argument(
        "--cdk-json", type=Path, default=delivery.CDK_JSON, help="the settings the accounts are read from"
    )
    parser.add_argument(
        "--junit",
        type=Path,
        default=claims.JUNIT,
        help="pytest's JUnit of this build: the trust claims' tests",
    )
    parser.add_argument("--baseline", type=Path, help="a previous report.json: new and removed items first")
    parser.add_argument(
        "--checkov-json", type=Path, help="use this `checkov -o json` output instead of running it"
    )
    parser.add_argument("--cfn-lint-json", type=Path, help="use this `cfn-lint --format json` output instead")
    parser.add_argument(
        "--scans",
        type=Path,
        help="`make scan-templates`' output folder: its JSON is used when written after this synth",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        app = assembly.load(args.assembly)
    except assembly.AssemblyError as error:
        print(f"review: nothing to report: {error}", file=sys.stderr)
        return 2
    checkov, cfn_lint = _given(args.checkov_json), _given(args.cfn_lint_json)
    if checkov is None or cfn_lint is None:
        found_checkov, found_cfn_lint = scanners.saved_or_run(app, args.scans)
        checkov, cfn_lint = checkov or found_checkov, cfn_lint or found_cfn_lint
    report = model.build(
        app,
        checkov=checkov,
        cfn_lint=cfn_lint,
        gates=json.loads(args.gates.read_text(encoding="utf-8")) if args.gates.is_file() else None,
        boundary=boundary.load(args.bootstrap),
        delivery=delivery.build(app, bootstrap_template=args.bootstrap_template, cdk_json=args.cdk_json),
        claims=claims.build(args.junit),
    )
    if args.baseline:
        try:
            baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
            report["diff"] = diff.compare(baseline, report, str(args.baseline))
        except (OSError, ValueError, KeyError, diff.BaselineError) as error:
            print(f"review: cannot use the baseline {args.baseline}: {error}", file=sys.stderr)
            return 2
    written = write(report, args.out) + _write_scans({"checkov": checkov, "cfn-lint": cfn_lint}, args.out)
    counts = report["counts"]
    print(
        f"review: {counts['findings.failed']} unacknowledged finding(s), {counts['acknowledgements']} "
        f"acknowledged, checkov {counts['checkov.failed']} failed / {counts['checkov.skipped']} skipped, "
        f"cfn-lint {counts['cfnLint.findings']} / {counts['cfnLint.ignores']} ignored, "
        f"{counts['iam.wildcardAllowRows']} wildcard Allow rows in {counts['iam.rows']}, "
        f"{counts['risks.findings']} risky-permission classes, {counts['acknowledgements.ownClaimsFlagged']} "
        f"'own' reasons over others' resources, {counts['delivery.flagged']} delivery-path flag(s), "
        f"trust claims {counts['claims.checked']} checked / {counts['claims.notChecked']} NOT CHECKED, gates "
        f"{counts['gates.failed']} failed / {counts['gates.notChecked']} NOT CHECKED"
        + (f"; since baseline: {report['diff']['counts']['diff.new']} new" if "diff" in report else "")
    )
    for path in written:
        print(f"review: wrote {path}")
    return 0


def write(report: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in FILES.items()}
    paths["json"].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    paths["html"].write_text(html_report.render(report), encoding="utf-8")
    paths["md"].write_text(markdown_report.render(report), encoding="utf-8")
    paths["junit"].write_bytes(junit.render(report))
    return list(paths.values())


def _write_scans(results: dict[str, tuple[str, Any]], out: Path) -> list[Path]:
    """Each scanner's own JSON beside the report (the review's evidence; `--scans` reads it back)."""
    names = {"checkov": scanners.CHECKOV_JSON, "cfn-lint": scanners.CFN_LINT_JSON}
    written = []
    for scanner, (status, raw) in results.items():
        if status == scanners.RAN:
            written.append(out / names[scanner])
            written[-1].write_text(json.dumps(raw, indent=1) + "\n", encoding="utf-8")
    return written


def _given(path: Path | None) -> tuple[str, Any] | None:
    if path is None:
        return None
    return scanners.RAN, json.loads(path.read_text(encoding="utf-8"))


if __name__ == "__main__":
    sys.exit(main())
