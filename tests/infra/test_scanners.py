"""cfn-lint and checkov on the synthesized templates, for every supported setting, not only cdk.json's.

`make cfn-lint` / `make checkov` scan cdk.out (the whole app as configured: the pipeline stack's
template at the root, each upload stack in assembly-UploadApiPipeline-Dev/-Prod); these scan each
variant a setting can produce, of one upload stage and of the whole app. Every skip lives in the
resource's metadata with its reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE
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
    # the e-mail subscription is the one resource only this setting adds
    "alarmEmail": ("prod", {"alarmEmail": "oncall@example.com"}),
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
            "source": {"provider": "codecommit", "repository": "secure-upload-api", "branch": "main"},
            "sharedAccountReason": "a test of one account for both stages",
            "approvers": ["arn:aws:iam::111111111111:role/ReleaseApprover"],
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


def _templates(outdir: Path) -> list[Path]:
    """Every template of an assembly, as `make cfn-lint` globs them: the root's and each stage's."""
    templates = sorted(outdir.glob("*.template.json")) + sorted(outdir.glob("assembly-*/*.template.json"))
    assert templates
    return templates


@dataclass(frozen=True)
class Scan:
    """Both scanners' JSON over every variant at once: one process each instead of one per variant
    (each start costs checkov ~10 s and cfn-lint ~5 s). Each variant's templates are copied under
    the scan root in a directory of their own, so every result names its variant by its path."""

    root: Path
    checkov: subprocess.CompletedProcess[str] | None
    cfn_lint: subprocess.CompletedProcess[str]

    def cfn_lint_matches(self, variant: str) -> list[dict[str, Any]]:
        matches = json.loads(self.cfn_lint.stdout or "[]")
        prefix = str(self.root / _dir_name(variant)) + os.sep
        return [m for m in matches if str(m["Filename"]).startswith(prefix)]

    def checkov_checks(self, variant: str, outcome: str) -> list[dict[str, Any]]:
        if self.checkov is None:
            pytest.skip("checkov is not installed here (.venv-tools/checkov, CHECKOV=...): `make checkov`")
        report = json.loads(self.checkov.stdout)
        prefix = f"/{_dir_name(variant)}/"
        return [
            check
            for framework in (report if isinstance(report, list) else [report])
            for check in framework["results"].get(f"{outcome}_checks", [])
            if check["file_path"].startswith(prefix)
        ]


def _dir_name(variant: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", variant)


def _scan(assemblies: dict[str, Path], root: Path) -> Scan:
    """cfn-lint and checkov, side by side, on copies of every variant's templates under `root`."""
    for variant, outdir in assemblies.items():
        for template in _templates(outdir):
            copy = root / _dir_name(variant) / template.relative_to(outdir)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template, copy)
    templates = [str(t) for variant in assemblies for t in _templates(root / _dir_name(variant))]
    lint = subprocess.Popen(
        [_cfn_lint(), "--format", "json", *templates], stdout=PIPE, stderr=PIPE, text=True
    )
    checkov_binary = _checkov()
    checkov = None
    if checkov_binary is not None:
        checkov = subprocess.run(
            [
                checkov_binary, "--skip-download", "--framework", "cloudformation",
                "--directory", str(root), "--skip-path", r"asset\.", "--output", "json",
            ],
            capture_output=True, text=True, check=False, cwd=root,
        )  # fmt: skip
    out, err = lint.communicate()
    return Scan(root, checkov, subprocess.CompletedProcess(lint.args, lint.returncode, out, err))


@pytest.fixture(scope="module")
def assemblies(synth_pipeline, tmp_path_factory) -> dict[str, Path]:
    """Every variant's cloud assembly: one upload stage (with the nag packs), or the whole app."""
    built: dict[str, Path] = {}
    for name, (stage, settings) in VARIANTS.items():
        built[name] = tmp_path_factory.mktemp("cdk.out")
        synth_stage(stage, outdir=built[name], **settings).app.synth()
    for name, app_settings in APP_VARIANTS.items():
        built[f"app {name}"] = synth_pipeline(**app_settings).outdir
    return built


@pytest.fixture(scope="module")
def scan(assemblies, tmp_path_factory) -> Scan:
    return _scan(assemblies, tmp_path_factory.mktemp("scan"))


@pytest.fixture(params=list(VARIANTS))
def assembly(request, assemblies) -> tuple[str, Path]:
    return request.param, assemblies[request.param]


@pytest.fixture(params=list(APP_VARIANTS))
def app_assembly(request, assemblies) -> tuple[str, Path]:
    return f"app {request.param}", assemblies[f"app {request.param}"]


def _assert_cfn_lint_clean(scan: Scan, variant: str) -> None:
    # cfn-lint ran (its JSON parses) and reported nothing for this variant's templates (warnings count)
    assert scan.cfn_lint.returncode in (0, 2, 4, 6, 8, 10, 12, 14), scan.cfn_lint.stderr[-2000:]
    assert scan.cfn_lint_matches(variant) == []


def _assert_checkov_clean(scan: Scan, variant: str) -> None:
    # checkov scanned this variant's templates and nothing of them failed
    assert scan.checkov is not None
    assert scan.checkov_checks(variant, "passed")
    assert scan.checkov_checks(variant, "failed") == [], scan.checkov.stdout[-3000:]


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


def test_cfn_lint_is_clean(assembly, scan):
    # GIVEN a synthesized variant of the upload stack
    # WHEN cfn-lint checks its template (warnings count)
    # THEN it reports nothing
    _assert_cfn_lint_clean(scan, assembly[0])


def test_checkov_is_clean(assembly, scan):
    # GIVEN a synthesized variant and checkov (its own venv: make install, or CHECKOV=/path/to/checkov)
    # WHEN checkov scans the assembly as `make checkov` does (assets skipped, nothing downloaded)
    # THEN it scanned the template and nothing failed
    _assert_checkov_clean(scan, assembly[0])


def test_every_scanner_skip_has_a_reason(assembly):
    # GIVEN a synthesized variant
    # WHEN each resource's checkov skips and cfn-lint ignores are read
    # THEN each checkov skip says what compensates, and each cfn-lint ignore has its reason next to it
    _skips_have_reasons(_resources(assembly[1]))


def test_the_default_skips_are_the_reviewed_ones(tmp_path):
    # GIVEN the dev stage as cdk.json configures it
    synth_stage("dev", outdir=tmp_path).app.synth()
    # WHEN the skips are collected
    checkov, cfn_lint = _skips(_resources(tmp_path).values())
    # THEN they are exactly the reviewed lists (a new one is a decision, not an accident)
    assert checkov == EXPECTED_CHECKOV_SKIPS
    assert cfn_lint == EXPECTED_CFN_LINT_IGNORES


# -- the whole app (what `make scan-templates` scans) --------------------------------------------


def test_cfn_lint_is_clean_on_the_whole_app(app_assembly, scan):
    # GIVEN the whole app's assembly of one variant
    # WHEN cfn-lint checks the pipeline template and both upload stack templates
    # THEN it reports nothing
    assert len(_templates(app_assembly[1])) == 3
    _assert_cfn_lint_clean(scan, app_assembly[0])


def test_checkov_is_clean_on_the_whole_app(app_assembly, scan):
    # GIVEN the whole app's assembly of one variant
    # WHEN checkov scans it as `make checkov` does
    # THEN it scanned every template and nothing failed
    _assert_checkov_clean(scan, app_assembly[0])
    # (the pipeline stack's template and both stage templates)
    assert len({check["file_path"] for check in scan.checkov_checks(app_assembly[0], "passed")}) == 3


def test_every_scanner_skip_in_the_whole_app_has_a_reason(app_assembly):
    # GIVEN every template of the whole app's assembly
    for template in _templates(app_assembly[1]):
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
