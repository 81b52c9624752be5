"""cfn-lint and checkov on the synthesized templates, for every supported setting, not only cdk.json's.

`make cfn-lint` / `make checkov` scan cdk.out (the whole app as configured: the pipeline stack's
template at the root, each upload stack in assembly-UploadApiPipeline-Dev/-Prod); these scan each
variant a setting can produce, of one upload stage and of the whole app. Every skip lives in the
resource's metadata with its reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.repo import REPO_ROOT

from .conftest import SynthesizedApp, synth_stage

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
    ("UploadFunction/Resource", "CKV_AWS_116"),
    ("UploadFunction/Resource", "CKV_AWS_117"),
    ("UploadFunction/Resource", "CKV_AWS_173"),
    # dev reserves no concurrency, so that it deploys on a new account (docs/capacity.md)
    ("UploadFunction/Resource", "CKV_AWS_115"),
    ("UploadApi/DeploymentStage.dev/Resource", "CKV_AWS_120"),  # the dev stage's API stage is "dev"
    ("AccessLogsBucket/Resource", "CKV_AWS_18"),
    # The direct-upload finalizer (stages/upload/direct_upload.py): outside a VPC, a non-secret
    # environment, unreserved like dev's upload function, its DLQ with SQS-managed SSE
    ("DirectUploads/FinalizerFunction/Resource", "CKV_AWS_117"),
    ("DirectUploads/FinalizerFunction/Resource", "CKV_AWS_173"),
    ("DirectUploads/FinalizerFunction/Resource", "CKV_AWS_115"),
    ("DirectUploads/FinalizerDLQ/Resource", "CKV_AWS_27"),
}
EXPECTED_CFN_LINT_IGNORES = {
    ("UploadFunction/Resource", "W3005"),
    ("DirectUploads/FinalizerFunction/Resource", "W3005"),
}
# The whole app: main.build_app with these pipeline / stage settings (cdk.json spelling).
APP_VARIANTS: dict[str, dict[str, Any]] = {
    "cdk.json": {},
    "approverEmails": {"pipeline": {"approverEmails": ["release-manager@example.com"]}},
    "codecommit": {
        "pipeline": {
            "source": {"provider": "codecommit", "repository": "secure-upload-api", "branch": "main"}
        }
    },
    "three accounts": {
        "pipeline": {"account": "333333333333", "region": "eu-west-1"},
        "stages": {
            "dev": {"account": "111111111111", "region": "eu-west-1"},
            "prod": {"account": "222222222222", "region": "eu-west-1"},
        },
    },
}
# The reviewed skips of the pipeline stack (paths under it), of CDK Pipelines' generated resources.
# (The asset role's CKV_AWS_111 skip is gone: it may start only its own project.)
_AUTO_APPROVE = "Pipeline/PipelinesSecurityCheck/CDKPipelinesAutoApprove/Resource"
EXPECTED_PIPELINE_CHECKOV_SKIPS = {
    ("ArtifactAccessLogs/Resource", "CKV_AWS_18"),
    (_AUTO_APPROVE, "CKV_AWS_115"),
    (_AUTO_APPROVE, "CKV_AWS_116"),
    (_AUTO_APPROVE, "CKV_AWS_117"),
}
EXPECTED_PIPELINE_CFN_LINT_IGNORES = {("Pipeline/Pipeline/Resource", "W3005"), (_AUTO_APPROVE, "W3005")}


def _cfn_lint() -> str:
    return str(Path(sys.executable).with_name("cfn-lint"))


def _checkov() -> str | None:
    candidates = [os.environ.get("CHECKOV"), str(REPO_ROOT / ".venv-tools" / "checkov" / "bin" / "checkov")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


@pytest.fixture(scope="module", params=list(VARIANTS))
def assembly(request, tmp_path_factory) -> Path:
    """A cloud assembly (cdk.out) of one variant, synthesized with the nag packs."""
    stage, settings = VARIANTS[request.param]
    outdir = tmp_path_factory.mktemp("cdk.out")
    synth_stage(stage, outdir=outdir, **settings).app.synth()
    return outdir


@pytest.fixture(scope="module", params=list(APP_VARIANTS))
def app_assembly(request, synth_pipeline) -> Path:
    """The whole app's cloud assembly (pipeline stack + nested stage assemblies) of one variant."""
    return synth_pipeline(**APP_VARIANTS[request.param]).outdir


def _templates(outdir: Path) -> list[Path]:
    """Every template of an assembly, as `make cfn-lint` globs them: the root's and each stage's."""
    templates = sorted(outdir.glob("*.template.json")) + sorted(outdir.glob("assembly-*/*.template.json"))
    assert templates
    return templates


def _run_cfn_lint(outdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_cfn_lint(), *map(str, _templates(outdir))], capture_output=True, text=True, check=False
    )


def _run_checkov(outdir: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """checkov on the assembly as `make checkov` runs it (assets skipped, nothing downloaded)."""
    checkov = _checkov()
    if checkov is None:
        pytest.skip("checkov is not installed here (.venv-tools/checkov, CHECKOV=...): `make checkov`")
    result = subprocess.run(
        [
            checkov, "--quiet", "--compact", "--skip-download", "--framework", "cloudformation",
            "--directory", str(outdir), "--skip-path", r"asset\.", "--output", "json",
        ],
        capture_output=True, text=True, check=False, cwd=outdir,
    )  # fmt: skip
    return result, json.loads(result.stdout)


def _skips_have_reasons(resources: dict[str, dict[str, Any]]) -> None:
    for logical_id, resource in resources.items():
        metadata = resource.get("Metadata", {})
        # each checkov skip says what compensates
        for skip in metadata.get("checkov", {}).get("skip", []):
            assert len(skip["comment"].split()) >= 12, (logical_id, skip)
        # each cfn-lint ignore has its reason next to it
        cfn_lint = metadata.get("cfn-lint", {})
        for rule in cfn_lint.get("config", {}).get("ignore_checks", []):
            assert len(cfn_lint["ignore_reasons"][rule].split()) >= 12, (logical_id, rule)


def _skips(resources: Any, depth: int = 2) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(checkov skips, cfn-lint ignores) as (construct path under the stack, id)."""
    resources = list(resources)
    checkov = {
        (_under_stack(r, depth), skip["id"])
        for r in resources
        for skip in r.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }
    cfn_lint = {
        (_under_stack(r, depth), rule)
        for r in resources
        for rule in r.get("Metadata", {}).get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
    }
    return checkov, cfn_lint


def _resources(outdir: Path) -> dict[str, dict[str, Any]]:
    (template,) = _templates(outdir)
    return json.loads(template.read_text(encoding="utf-8"))["Resources"]


def _under_stack(resource: dict[str, Any], depth: int = 2) -> str:
    """The resource's construct path below its stack (`depth` path parts: stage and stack, or the stack)."""
    return resource.get("Metadata", {}).get("aws:cdk:path", "?/?/?").split("/", depth)[depth]


def test_cfn_lint_is_clean(assembly):
    # GIVEN a synthesized variant of the upload stack
    # WHEN cfn-lint checks its template (warnings count: exit code 4)
    result = _run_cfn_lint(assembly)
    # THEN it reports nothing
    assert (result.returncode, result.stdout) == (0, "")


def test_checkov_is_clean(assembly):
    # GIVEN a synthesized variant and checkov (its own venv: make install, or CHECKOV=/path/to/checkov)
    # WHEN checkov scans the assembly as `make checkov` does (assets skipped, nothing downloaded)
    result, report = _run_checkov(assembly)
    # THEN it scanned the template and nothing failed
    assert report["summary"]["resource_count"] > 0
    assert report["summary"]["failed"] == 0, result.stdout
    assert result.returncode == 0


def test_every_scanner_skip_has_a_reason(assembly):
    # GIVEN a synthesized variant
    # WHEN each resource's checkov skips and cfn-lint ignores are read
    # THEN each checkov skip says what compensates, and each cfn-lint ignore has its reason next to it
    _skips_have_reasons(_resources(assembly))


def test_the_default_skips_are_the_reviewed_ones(tmp_path):
    # GIVEN the dev stage as cdk.json configures it
    synth_stage("dev", outdir=tmp_path).app.synth()
    # WHEN the skips are collected
    checkov, cfn_lint = _skips(_resources(tmp_path).values())
    # THEN they are exactly the reviewed lists (a new one is a decision, not an accident)
    assert checkov == EXPECTED_CHECKOV_SKIPS
    assert cfn_lint == EXPECTED_CFN_LINT_IGNORES


# -- the whole app (what `make scan-templates` scans) --------------------------------------------


def test_cfn_lint_is_clean_on_the_whole_app(app_assembly):
    # GIVEN the whole app's assembly of one variant
    # WHEN cfn-lint checks the pipeline template and both upload stack templates
    result = _run_cfn_lint(app_assembly)
    # THEN it reports nothing
    assert len(_templates(app_assembly)) == 3
    assert (result.returncode, result.stdout) == (0, "")


def test_checkov_is_clean_on_the_whole_app(app_assembly):
    # GIVEN the whole app's assembly of one variant
    # WHEN checkov scans it as `make checkov` does
    result, report = _run_checkov(app_assembly)
    # THEN it scanned every template and nothing failed
    summaries = report if isinstance(report, list) else [report]
    assert sum(s["summary"]["resource_count"] for s in summaries) > 0
    assert sum(s["summary"]["failed"] for s in summaries) == 0, result.stdout
    assert result.returncode == 0


def test_every_scanner_skip_in_the_whole_app_has_a_reason(app_assembly):
    # GIVEN every template of the whole app's assembly
    for template in _templates(app_assembly):
        # WHEN each resource's skips and ignores are read
        # THEN each carries its reason
        _skips_have_reasons(json.loads(template.read_text(encoding="utf-8"))["Resources"])


def test_the_pipeline_stacks_skips_are_the_reviewed_ones(pipeline_app: SynthesizedApp):
    # GIVEN the pipeline stack as cdk.json configures it
    # WHEN its skips are collected
    checkov, cfn_lint = _skips(pipeline_app.resources.values(), depth=1)
    # THEN they are exactly the reviewed lists
    assert checkov == EXPECTED_PIPELINE_CHECKOV_SKIPS
    assert cfn_lint == EXPECTED_PIPELINE_CFN_LINT_IGNORES
