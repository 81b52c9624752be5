"""`make scan`: every security gate, one summary, one exit code.

All gates run even when one fails, so the summary (reports/gates/summary.json, shown in the
review report) is complete. Exit 1 when a gate failed. A gate that could not check (NOT CHECKED:
no vulnerability service, a scanner missing) fails the build with --strict / SCAN_STRICT=1, which
buildspec.yml sets for the pipeline; elsewhere it is printed in capitals and recorded as not
checked, never as passed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from tools.pipeline_checks.gates import code_scan, dependency_audit, sbom, secrets_scan
from tools.pipeline_checks.gates.common import EXIT_CODES, FAILED, NOT_CHECKED, REPO_ROOT, GateResult, write

GATES: dict[str, Callable[[], GateResult]] = {
    "secrets": secrets_scan.run,
    "bandit": code_scan.run,
    "audit": dependency_audit.run,
    "sbom": sbom.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("gates", nargs="*", metavar="GATE", help=f"some of {', '.join(GATES)}; default: all")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "gates")
    parser.add_argument(
        "--strict",
        action="store_true",
        default=os.environ.get("SCAN_STRICT", "0") == "1",
        help="a gate that could not check fails (default from SCAN_STRICT=1)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.gates) - set(GATES)
    if unknown:
        parser.error(f"no such gate: {', '.join(sorted(unknown))}")
    results = []
    for name in args.gates or list(GATES):
        print(f"-- {name}", flush=True)
        result = GATES[name]()
        write(result, args.out)
        results.append(result)
        print(f"{name}: {result.status.upper()}: {result.summary}", flush=True)
        for finding in result.findings[:50]:
            severity = finding.get("severity", "")
            print(f"    {severity:<6} {finding['id']} {finding['where']}: {finding['message']}")
    summary = {"strict": args.strict, "gates": [r.to_json() for r in results]}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    failed = [r.gate for r in results if r.status == FAILED]
    unchecked = [r.gate for r in results if r.status == NOT_CHECKED]
    print(
        f"scan: {len(results) - len(failed) - len(unchecked)} passed, {len(failed)} failed, "
        f"{len(unchecked)} NOT CHECKED ({args.out / 'summary.json'})"
    )
    if unchecked:
        banner = "=" * 78
        print(
            f"{banner}\nNOT CHECKED: {', '.join(unchecked)}. These gates did not run to completion; their "
            f"result is unknown, not clean.\n"
            + (
                "SCAN_STRICT=1: the build fails."
                if args.strict
                else "Allowed outside the pipeline (SCAN_STRICT=0); the pipeline (SCAN_STRICT=1) fails."
            )
            + f"\n{banner}",
            file=sys.stderr,
        )
    if failed:
        return EXIT_CODES[FAILED]
    return EXIT_CODES[NOT_CHECKED] if unchecked and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
