"""Fail the build on any unacknowledged cdk-nag finding in a cloud assembly.

`cdk synth` (CLI 2.1148) writes cdk.out/validation-report.json but exits 0
even when a validation plugin reports failures, so the gate reads the report.
It also refuses an assembly with no acknowledgements at all: that means the
plugins did not run (or someone removed every reason), not that all is well.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def violations(report: dict, *, severity: str = "error") -> list[str]:
    """Findings of one severity; the report also carries warnings (e.g. a deprecated runtime)."""
    found = []
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            if violation.get("severity", "error") != severity:
                continue
            for construct in violation.get("violatingConstructs", []):
                found.append(
                    f"{plugin.get('pluginName')}: {violation.get('ruleName')} at "
                    f"{construct.get('constructPath')}: {violation.get('description')}"
                )
    return found


def acknowledgements(assembly: Path) -> list[dict]:
    """Every acknowledged finding with its reason, from each stack's metadata.json."""
    found = []
    for metadata_file in sorted(assembly.rglob("*.metadata.json")):
        metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
        for path, entries in metadata.items():
            for entry in entries:
                if entry.get("type") == "aws:cdk:acknowledged-rules":
                    for rule in _as_list(entry.get("data")):
                        found.append({"stackFile": metadata_file.name, "path": path, **rule})
    return found


def _as_list(data: object) -> list[dict]:
    if isinstance(data, list):
        return [d for d in data if isinstance(d, dict)]
    return [data] if isinstance(data, dict) else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("assembly", nargs="?", default="cdk.out", type=Path)
    args = parser.parse_args(argv)
    report_file = args.assembly / "validation-report.json"
    if not report_file.is_file():
        print(f"nag gate: {report_file} is missing: run cdk synth first", file=sys.stderr)
        return 2
    report = json.loads(report_file.read_text(encoding="utf-8"))
    found = violations(report)
    acks = acknowledgements(args.assembly)
    for line in violations(report, severity="warning"):
        print(f"WARNING {line}")
    for line in found:
        print(f"UNACKNOWLEDGED {line}")
    print(f"nag gate: {len(found)} unacknowledged finding(s), {len(acks)} acknowledged with a reason")
    if not acks:
        print("nag gate: no acknowledgements found: were the nag packs attached?", file=sys.stderr)
        return 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
