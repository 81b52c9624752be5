"""cfn-lint and checkov on the synthesized templates, for every supported setting, not only cdk.json's.

`make cfn-lint` / `make checkov` scan cdk.out (the dev stage as configured); these scan each
variant a setting can produce. Every skip lives in the resource's metadata with its reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools.template_resources import REPO_ROOT

from .conftest import synth_stage

pytestmark = pytest.mark.synth

VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "dev": ("dev", {}),
    "prod": ("prod", {}),
    "apiAuth=none": ("dev", {"apiAuth": "none"}),
    "no account role": ("dev", {"createApiGatewayAccountRole": False}),
    "python3.9": ("dev", {"lambdaRuntime": "python3.9"}),
    "break-glass": ("dev", {"breakGlassRoleArns": ["arn:aws:iam::123456789012:role/BreakGlass"]}),
}
# The reviewed checkov skips of the default stack: (construct path under the stack, check id).
EXPECTED_CHECKOV_SKIPS = {
    ("UploadFunction/Resource", "CKV_AWS_115"),
    ("UploadFunction/Resource", "CKV_AWS_116"),
    ("UploadFunction/Resource", "CKV_AWS_117"),
    ("UploadFunction/Resource", "CKV_AWS_173"),
    ("UploadApi/DeploymentStage.prod/Resource", "CKV_AWS_120"),
    ("AccessLogsBucket/Resource", "CKV_AWS_18"),
}
EXPECTED_CFN_LINT_IGNORES = {("UploadFunction/Resource", "W3005")}


def _cfn_lint() -> str:
    return str(Path(sys.executable).with_name("cfn-lint"))


def _checkov() -> str | None:
    candidates = [os.environ.get("CHECKOV"), str(REPO_ROOT / ".venv-checkov" / "bin" / "checkov")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


@pytest.fixture(scope="module", params=list(VARIANTS))
def assembly(request, tmp_path_factory) -> Path:
    """A cloud assembly (cdk.out) of one variant, synthesized with the nag packs."""
    stage, settings = VARIANTS[request.param]
    outdir = tmp_path_factory.mktemp("cdk.out")
    synth_stage(stage, outdir=outdir, **settings).app.synth()
    return outdir


def _templates(outdir: Path) -> list[Path]:
    templates = sorted(outdir.glob("assembly-*/*.template.json"))
    assert templates
    return templates


def _resources(outdir: Path) -> dict[str, dict[str, Any]]:
    (template,) = _templates(outdir)
    return json.loads(template.read_text(encoding="utf-8"))["Resources"]


def _under_stack(resource: dict[str, Any]) -> str:
    return resource.get("Metadata", {}).get("aws:cdk:path", "?/?/?").split("/", 2)[2]


def test_cfn_lint_is_clean(assembly):
    # GIVEN a synthesized variant of the upload stack
    # WHEN cfn-lint checks its template (warnings count: exit code 4)
    result = subprocess.run(
        [_cfn_lint(), *map(str, _templates(assembly))], capture_output=True, text=True, check=False
    )
    # THEN it reports nothing
    assert (result.returncode, result.stdout) == (0, "")


def test_checkov_is_clean(assembly):
    # GIVEN a synthesized variant and checkov (its own venv: make install, or CHECKOV=/path/to/checkov)
    checkov = _checkov()
    if checkov is None:
        pytest.skip("checkov is not installed here (.venv-checkov or CHECKOV=...); `make checkov` runs it")
    # WHEN checkov scans the assembly as `make checkov` does (assets skipped, nothing downloaded)
    result = subprocess.run(
        [
            checkov, "--quiet", "--compact", "--skip-download", "--framework", "cloudformation",
            "--directory", str(assembly), "--skip-path", r"asset\.", "--output", "json",
        ],
        capture_output=True, text=True, check=False, cwd=assembly,
    )  # fmt: skip
    report = json.loads(result.stdout)
    # THEN it scanned the template and nothing failed
    assert report["summary"]["resource_count"] > 0
    assert report["summary"]["failed"] == 0, result.stdout
    assert result.returncode == 0


def test_every_scanner_skip_has_a_reason(assembly):
    # GIVEN a synthesized variant
    # WHEN each resource's checkov skips and cfn-lint ignores are read
    for logical_id, resource in _resources(assembly).items():
        metadata = resource.get("Metadata", {})
        # THEN each checkov skip says what compensates
        for skip in metadata.get("checkov", {}).get("skip", []):
            assert len(skip["comment"].split()) >= 12, (logical_id, skip)
        # AND each cfn-lint ignore has its reason next to it
        cfn_lint = metadata.get("cfn-lint", {})
        for rule in cfn_lint.get("config", {}).get("ignore_checks", []):
            assert len(cfn_lint["ignore_reasons"][rule].split()) >= 12, (logical_id, rule)


def test_the_default_skips_are_the_reviewed_ones(tmp_path):
    # GIVEN the dev stage as cdk.json configures it
    synth_stage("dev", outdir=tmp_path).app.synth()
    resources = _resources(tmp_path).values()
    # WHEN the skips are collected
    checkov = {
        (_under_stack(r), skip["id"])
        for r in resources
        for skip in r.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }
    cfn_lint = {
        (_under_stack(r), rule)
        for r in resources
        for rule in r.get("Metadata", {}).get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
    }
    # THEN they are exactly the reviewed lists (a new one is a decision, not an accident)
    assert checkov == EXPECTED_CHECKOV_SKIPS
    assert cfn_lint == EXPECTED_CFN_LINT_IGNORES
