"""cdk-nag (AwsSolutions + Serverless): zero unacknowledged findings, each acknowledgement with a reason.

In-process `app.synth()` raises when a validation plugin reports an error, so a clean
synth is itself the assertion; the report the CLI gate reads is checked as well.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3

from main import build_app
from stages.nag import add_nag_packs
from stages.settings import CONTEXT_KEY, load_stage_settings
from stages.upload_stage import UploadApiStage
from tools import nag_gate

from .conftest import context_with, synth_stage

pytestmark = pytest.mark.synth

NAG_PACKS = {"AwsSolutions", "Serverless"}
# Every acknowledgement in the default stack, reviewed. A new one must be added here on purpose.
EXPECTED_ACKNOWLEDGEMENTS = {
    ("UploadFunctionRole/DefaultPolicy", "AwsSolutions-IAM5[Resource::*]"),
    ("UploadFunctionPolicy", "AwsSolutions-IAM5[Resource::<UploadBucketD2C1DA78.Arn>/uploads/*]"),
    ("UploadFunction", "Serverless-LambdaDLQ"),
    ("UploadFunction", "AwsSolutions-L1"),
    ("UploadFunction", "Serverless-LambdaLatestVersion"),
    ("UploadApi/DeploymentStage.prod", "AwsSolutions-APIG3"),
    ("UploadApi/Default/upload/POST", "AwsSolutions-COG4"),
    (
        "UploadApi/CloudWatchRole",
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
    ),
}
_FINDING_ID = re.compile(r"^(AwsSolutions|Serverless)-[A-Za-z0-9]+(\[.+\])?$")


def _report(outdir: Path) -> dict[str, Any]:
    return json.loads((outdir / "validation-report.json").read_text(encoding="utf-8"))


def _findings(report: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(plugin, rule, construct path, severity) of every violation in a validation report."""
    return {
        (plugin["pluginName"], violation["ruleName"], construct["constructPath"], violation["severity"])
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs", [])
    }


def _acknowledged(outdir: Path) -> list[tuple[str, str, str]]:
    """(construct path, finding id, reason) from every stack's metadata.json, as the CLI gate reads them."""
    found = []
    for entry in nag_gate.acknowledgements(outdir):
        for key, reason in entry.items():
            if key not in ("stackFile", "path"):
                found.append((entry["path"], key.removeprefix("Annotation::"), reason))
    return found


@pytest.fixture(scope="module")
def real_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main.py's app with cdk.json's context, synthesized in-process (raises on any nag error)."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(context=context_with("dev"), outdir=str(outdir))
    build_app(app)
    app.synth()
    return outdir


def test_the_real_app_has_zero_unacknowledged_findings(real_app):
    # GIVEN main.py's app with the nag packs attached by UploadApiStage
    # WHEN it was synthesized in-process (which raises on an unacknowledged error)
    report = _report(real_app)
    # THEN the validation report lists no violation at all, and the CLI gate passes
    assert _findings(report) == set()
    assert nag_gate.violations(report) == []
    assert nag_gate.main([str(real_app)]) == 0


def test_every_acknowledgement_is_an_exact_finding_id_with_a_reason(real_app):
    # GIVEN the synthesized real app
    # WHEN the acknowledgements are read from metadata.json
    acknowledged = _acknowledged(real_app)
    # THEN there are some (the packs ran), each is an exact finding id, each reason says something
    assert acknowledged
    for path, finding_id, reason in acknowledged:
        assert _FINDING_ID.match(finding_id), (path, finding_id)
        assert isinstance(reason, str)
        assert len(reason.split()) >= 12, (path, finding_id, reason)


def test_the_acknowledgements_are_the_reviewed_ones(real_app):
    # GIVEN the synthesized real app
    # WHEN the acknowledgements are read
    acknowledged = {
        (path.split("/UploadApi/", 1)[1], finding_id) for path, finding_id, _ in _acknowledged(real_app)
    }
    # THEN they are exactly the reviewed list (a new one is a decision, not an accident)
    assert acknowledged == EXPECTED_ACKNOWLEDGEMENTS


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"apiAuth": "none"}, id="apiAuth=none"),
        pytest.param({"createApiGatewayAccountRole": False}, id="no account role"),
        pytest.param({"breakGlassRoleArns": ["arn:aws:iam::123456789012:role/BreakGlass"]}, id="break-glass"),
        pytest.param({"lambdaRuntime": "python3.14"}, id="python3.14"),
        pytest.param({"account": "123456789012", "region": "eu-west-1"}, id="explicit env"),
    ],
)
def test_every_supported_setting_passes_nag(settings, tmp_path):
    # GIVEN a stage with a supported non-default setting
    stage = synth_stage("dev", outdir=tmp_path, **settings)
    # WHEN it is synthesized with the packs (raises on an unacknowledged error)
    stage.app.synth()
    # THEN the report is empty
    assert _findings(_report(tmp_path)) == set()


def test_the_prod_stage_passes_nag(tmp_path):
    # GIVEN the prod stage as cdk.json configures it
    stage = synth_stage("prod", outdir=tmp_path)
    # WHEN synthesized with the packs
    stage.app.synth()
    # THEN the report is empty
    assert _findings(_report(tmp_path)) == set()


def test_python_3_9_passes_nag_with_only_its_deprecation_warnings(tmp_path):
    # GIVEN a stage on the deprecated python3.9
    stage = synth_stage("dev", outdir=tmp_path, lambdaRuntime="python3.9")
    # WHEN synthesized with the packs
    stage.app.synth()
    # THEN nothing fails; the only entries are the two deprecation warnings (CDK's own and ours)
    findings = _findings(_report(tmp_path))
    assert {(rule, severity) for _, rule, _, severity in findings} == {
        ("W2531", "warning"),
        ("Annotation::upload-api:deprecated-runtime", "warning"),
    }
    assert not {plugin for plugin, *_ in findings} & NAG_PACKS


def _non_compliant_stage(outdir: Path) -> cdk.App:
    """The upload stage plus a bucket without TLS or access logs and a bare function."""
    app = cdk.App(context=context_with("dev"), outdir=str(outdir))
    stage = UploadApiStage(
        app, "Dev", settings=load_stage_settings(app.node.try_get_context(CONTEXT_KEY), "dev")
    )
    s3.Bucket(stage.stack, "NonCompliantBucket")
    lambda_.Function(
        stage.stack,
        "NonCompliantFunction",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
    )
    return app


def test_the_packs_really_run_on_the_upload_stage(tmp_path):
    # GIVEN the upload stage with a deliberately non-compliant bucket and function added
    app = _non_compliant_stage(tmp_path)
    # WHEN it is synthesized in-process
    # THEN synth fails
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    # AND both packs report the new constructs, and nothing of the upload stack
    findings = _findings(_report(tmp_path))
    rules = {(plugin, rule, path.split("/")[2]) for plugin, rule, path, _ in findings}
    assert ("AwsSolutions", "AwsSolutions-S10", "NonCompliantBucket") in rules
    assert ("AwsSolutions", "AwsSolutions-S1", "NonCompliantBucket") in rules
    assert ("Serverless", "Serverless-LambdaTracing", "NonCompliantFunction") in rules
    assert {path.split("/")[2] for *_, path, _ in findings} == {"NonCompliantBucket", "NonCompliantFunction"}
    # AND the CLI gate fails on the same report
    assert nag_gate.main([str(tmp_path)]) == 1


def test_add_nag_packs_alone_fails_a_non_compliant_stage(tmp_path):
    # GIVEN a plain stage with only add_nag_packs and an unencrypted, non-TLS bucket
    app = cdk.App(context=context_with("dev"), outdir=str(tmp_path))
    stage = cdk.Stage(app, "Probe")
    s3.Bucket(cdk.Stack(stage, "Probe"), "Bucket")
    add_nag_packs(stage)
    # WHEN synthesized
    # THEN synth fails and AwsSolutions-S10 is reported for the bucket
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert ("AwsSolutions", "AwsSolutions-S10", "Probe/Probe/Bucket/Resource", "error") in _findings(
        _report(tmp_path)
    )
