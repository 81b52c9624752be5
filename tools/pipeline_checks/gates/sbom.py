"""SBOM gate: CycloneDX bills of materials of the Lambda asset and of the build environment.

- reports/sbom/lambda.cdx.json: what the function ships, from lambda/requirements.txt (the bundle
  is exactly those pins, installed with --no-deps, next to upload_api/).
- reports/sbom/build.cdx.json: the Python environment that synthesizes and tests the app (.venv:
  the CDK app, cdk-nag, the test tools), as installed.

Both are kept as build artifacts (the synth step's `reports` output). The gate fails when either
cannot be written or does not list what it must (every pin of the Lambda asset).
"""

from __future__ import annotations

import json
import re
import subprocess  # runs the pinned cyclonedx-py, no shell
import sys
from pathlib import Path
from typing import Any

from tools.pipeline_checks.gates.common import (
    FAILED,
    PASSED,
    REPO_ROOT,
    GateResult,
    ToolMissing,
    display_path,
    tool,
    tool_missing,
    tool_version,
)

GATE, TITLE = "sbom", "Software bills of materials (CycloneDX)"
LAMBDA_REQUIREMENTS = Path("lambda/requirements.txt")


def normalize(name: str) -> str:
    """PEP 503: `aws_lambda_powertools` and `aws-lambda-powertools` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: Path) -> dict[str, str]:
    found = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)", line)
        if match:
            found[normalize(match[1])] = match[2]
    return found


def components(sbom: dict[str, Any]) -> dict[str, str]:
    return {normalize(str(c.get("name", ""))): str(c.get("version", "")) for c in sbom.get("components", [])}


def run(root: Path = REPO_ROOT, out: Path | None = None, python: str = sys.executable) -> GateResult:
    try:
        cyclonedx = tool("cyclonedx-py")
    except ToolMissing as error:
        return tool_missing(GATE, TITLE, error)
    out = out or root / "reports" / "sbom"
    out.mkdir(parents=True, exist_ok=True)
    lambda_sbom, build_sbom = out / "lambda.cdx.json", out / "build.cdx.json"
    common = [
        "--pyproject",
        str(root / "pyproject.toml"),
        "--mc-type",
        "application",
        "--output-reproducible",
    ]
    problems = []
    for command, target, name in (
        (["requirements", str(root / LAMBDA_REQUIREMENTS)], lambda_sbom, "lambda-asset"),
        (["environment", python], build_sbom, "build-environment"),
    ):
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [cyclonedx, *command, *common, "-o", str(target)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0 or not target.is_file():
            problems.append(f"{target.name}: cyclonedx-py exited {result.returncode}: {result.stderr[-300:]}")
            continue
        _name_the_root_component(target, name)
    expected = pins(root / LAMBDA_REQUIREMENTS)
    findings = []
    if not problems:
        listed = components(json.loads(lambda_sbom.read_text(encoding="utf-8")))
        missing = {n: v for n, v in expected.items() if listed.get(n) != v}
        findings = [
            {
                "id": "missing",
                "severity": "HIGH",
                "where": lambda_sbom.name,
                "message": f"{n}=={v} not listed",
            }
            for n, v in missing.items()
        ]
    artifacts = [display_path(p, root) for p in (lambda_sbom, build_sbom) if p.is_file()]
    if problems or findings:
        return GateResult(
            GATE,
            TITLE,
            FAILED,
            "; ".join(problems) or "the Lambda SBOM misses pins",
            f"cyclonedx-py {tool_version(cyclonedx)}",
            findings,
            artifacts,
        )
    build_count = len(components(json.loads(build_sbom.read_text(encoding="utf-8"))))
    return GateResult(
        GATE,
        TITLE,
        PASSED,
        f"Lambda asset: {len(expected)} components; build environment: {build_count} components",
        f"cyclonedx-py {tool_version(cyclonedx)}",
        [],
        artifacts,
    )


def _name_the_root_component(path: Path, suffix: str) -> None:
    """Both SBOMs describe this project; name which part, so the two are told apart."""
    sbom = json.loads(path.read_text(encoding="utf-8"))
    component = sbom.get("metadata", {}).get("component")
    if isinstance(component, dict):
        component["name"] = f"{component.get('name', 'project')}-{suffix}"
        path.write_text(json.dumps(sbom, indent=2) + "\n", encoding="utf-8")


def main() -> int:
    result = run()
    print(f"{result.gate}: {result.status.upper()}: {result.summary}")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
