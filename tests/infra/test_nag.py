"""cdk-nag (AwsSolutions + Serverless): zero unacknowledged findings, each acknowledgement with a reason.

In-process `app.synth()` raises when a validation plugin reports an error, so a clean
synth is itself the assertion; the report the CLI gate reads is checked as well.
The real app is main.build_app: the pipeline stack (AwsSolutions, attached by main.py) with
the Dev and Prod upload stages in it (AwsSolutions + Serverless, attached by UploadApiStage).
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

import stages.pipeline.stack
from main import PIPELINE_STACK_ID, build_app
from stages.compliance import add_nag_packs
from stages.settings import CONTEXT_KEY, load_stage_settings
from stages.upload_stage import UPLOAD_STACK_ID, UploadApiStage
from tools.pipeline_checks import nag_gate

from .conftest import app_context, context_with, synth_stage

pytestmark = pytest.mark.synth

NAG_PACKS = {"AwsSolutions", "Serverless"}
# Every acknowledgement in the default stack, reviewed. A new one must be added here on purpose.
# (The API stage's construct is named after its stage, DeploymentStage.dev / .prod: see expected_for.)
EXPECTED_ACKNOWLEDGEMENTS = {
    # The direct-upload finalizer, on every stage (stages/upload/direct_upload.py).
    ("DirectUploads/FinalizerFunctionRole/DefaultPolicy", "AwsSolutions-IAM5[Resource::*]"),
    ("DirectUploads/FinalizerDLQ", "AwsSolutions-SQS3"),
    ("DirectUploads/FinalizerDLQ", "Serverless-SQSRedrivePolicy"),
    ("DirectUploads/FinalizerFunction/EventInvokeConfig", "Serverless-LambdaAsyncFailureDestination"),
    ("DirectUploads/FinalizerFunction", "AwsSolutions-L1"),
    ("DirectUploads/FinalizerFunction", "Serverless-LambdaLatestVersion"),
    ("UploadFunctionRole/DefaultPolicy", "AwsSolutions-IAM5[Resource::*]"),
    ("UploadFunctionPolicy", "AwsSolutions-IAM5[Resource::<UploadBucketD2C1DA78.Arn>/uploads/*]"),
    ("UploadFunction", "Serverless-LambdaDLQ"),
    ("UploadFunction", "AwsSolutions-L1"),
    ("UploadFunction", "Serverless-LambdaLatestVersion"),
    ("UploadApi/DeploymentStage.<stage>", "AwsSolutions-APIG3"),
    ("UploadApi/Default/upload/POST", "AwsSolutions-COG4"),
    (
        "UploadApi/CloudWatchRole",
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
    ),
    # The security event rules forward CloudTrail records; FailedInvocations is alarmed instead.
    ("Observability/KeyChangesRule", "Serverless-EventBusDLQ"),
    ("Observability/BucketChangesRule", "Serverless-EventBusDLQ"),
}
# Prod scans uploads (malwareScanning): the GuardDuty plan's role and the scan-result function.
MALWARE_SCANNING_ACKNOWLEDGEMENTS = {
    ("MalwareScanning/ScannerPolicy", "AwsSolutions-IAM5[Resource::<UploadBucketD2C1DA78.Arn>/uploads/*]"),
    (
        "MalwareScanning/ScannerPolicy",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:rule/"
        "DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3*]",
    ),
    ("MalwareScanning/ScanResultFunctionRole/DefaultPolicy", "AwsSolutions-IAM5[Resource::*]"),
    ("MalwareScanning/ScanResultDLQ", "AwsSolutions-SQS3"),
    ("MalwareScanning/ScanResultDLQ", "Serverless-SQSRedrivePolicy"),
    ("MalwareScanning/ScanResultFunction/EventInvokeConfig", "Serverless-LambdaAsyncFailureDestination"),
    ("MalwareScanning/ScanResultFunction", "AwsSolutions-L1"),
    ("MalwareScanning/ScanResultFunction", "Serverless-LambdaLatestVersion"),
}
STAGES_THAT_SCAN = {"Prod"}


# Where dev and prod share an account (the committed default), neither sets the account-level API
# Gateway CloudWatch role: the account's bootstrap does (stages/pipeline/settings.py).
ACCOUNT_ROLE_ACKNOWLEDGEMENT = (
    "UploadApi/CloudWatchRole",
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
)
STAGES_WITHOUT_THE_ACCOUNT_ROLE = {"dev", "prod"}


def expected_for(stage: str) -> set[tuple[str, str]]:
    """The reviewed acknowledgements of one stage's upload stack (its API stage is named after it)."""
    expected = {(path.replace("<stage>", stage), finding) for path, finding in EXPECTED_ACKNOWLEDGEMENTS}
    return expected - {ACCOUNT_ROLE_ACKNOWLEDGEMENT} if stage in STAGES_WITHOUT_THE_ACCOUNT_ROLE else expected


_ARTIFACT_READ = {
    "AwsSolutions-IAM5[Action::s3:GetBucket*]",
    "AwsSolutions-IAM5[Action::s3:GetObject*]",
    "AwsSolutions-IAM5[Action::s3:List*]",
    "AwsSolutions-IAM5[Resource::<ArtifactBucket7410C9EF.Arn>/*]",
}
_ARTIFACT_WRITE = _ARTIFACT_READ | {
    "AwsSolutions-IAM5[Action::s3:Abort*]",
    "AwsSolutions-IAM5[Action::s3:DeleteObject*]",
}
_ARTIFACT_KEY = {
    "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
    "AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
}
_ARN = "arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>"


def _own_logs(project_id: str) -> set[str]:
    """CodeBuild's default grant to a project: its own log group and report groups."""
    return {
        f"AwsSolutions-IAM5[Resource::{_ARN.format(service='logs')}:log-group:/aws/codebuild/<{project_id}>:*]",
        f"AwsSolutions-IAM5[Resource::{_ARN.format(service='codebuild')}:report-group/<{project_id}>-*]",
    }


def _on(path: str, finding_ids: set[str]) -> set[tuple[str, str]]:
    return {(path, finding_id) for finding_id in finding_ids}


_AUTO_APPROVE = "Pipeline/PipelinesSecurityCheck/CDKPipelinesAutoApprove"
# Every acknowledgement in the pipeline stack (paths under it), reviewed: CDK Pipelines' generated grants.
# Read-only steps (self-mutation, verifiers, permission check) hold no KMS wildcard (kms:Decrypt and
# DescribeKey only); the asset role holds no `*` (it starts only its own project).
EXPECTED_PIPELINE_ACKNOWLEDGEMENTS = (
    _on("Pipeline/Pipeline/Role/DefaultPolicy", _ARTIFACT_WRITE | _ARTIFACT_KEY)
    | _on(
        "Pipeline/Pipeline/Source/your-org_secure-upload-api/CodePipelineActionRole/DefaultPolicy",
        _ARTIFACT_WRITE | _ARTIFACT_KEY,
    )
    | _on(
        "Pipeline/Pipeline/Build/Synth/CdkBuildProject/Role/DefaultPolicy",
        _ARTIFACT_WRITE | _ARTIFACT_KEY | _own_logs("PipelineBuildSynthCdkBuildProject6BEFA8E6"),
    )
    | _on(
        "Pipeline/UpdatePipeline/SelfMutation/Role/DefaultPolicy",
        _ARTIFACT_READ
        | _own_logs("PipelineUpdatePipelineSelfMutationDAA41400")
        | {
            "AwsSolutions-IAM5[Resource::arn:*:iam::<AWS::AccountId>:role/*]",
            "AwsSolutions-IAM5[Resource::*]",
        },
    )
    | _on(
        "Pipeline/Assets/FileRole/DefaultPolicy",
        _ARTIFACT_READ | _own_logs("PipelineAssetsFileAsset5D8C5DA6"),
    )
    | _on("DevPreflightRole/DefaultPolicy", _ARTIFACT_READ | _own_logs("PipelineDevDevPreflight687B53FA"))
    | _on("ProdPreflightRole/DefaultPolicy", _ARTIFACT_READ | _own_logs("PipelineProdProdPreflight650BA773"))
    | _on(
        "ProdApprovedChangeSetRole/DefaultPolicy",
        _ARTIFACT_READ | _own_logs("PipelineProdUploadApiApprovedChangeSet8BB5333F"),
    )
    | _on(
        "DevJudgedChangeSetRole/DefaultPolicy",
        _ARTIFACT_READ | _own_logs("PipelineDevUploadApiJudgedChangeSetAA0DC7F7"),
    )
    | _on(
        "ProdJudgedChangeSetRole/DefaultPolicy",
        _ARTIFACT_READ
        | _own_logs("PipelineProdUploadApiJudgedChangeSet2BF7ED69"),  # pragma: allowlist secret
    )
    | _on("VerifyDevRole/DefaultPolicy", _ARTIFACT_READ | _own_logs("PipelineDevVerifyDev2BA78AE9"))
    | _on("VerifyProdRole/DefaultPolicy", _ARTIFACT_READ | _own_logs("PipelineProdVerifyProd5F9B0646"))
    | _on(
        "Pipeline/PipelinesSecurityCheck/CDKSecurityCheck/Role/DefaultPolicy",
        _ARTIFACT_READ
        | _own_logs("PipelinePipelinesSecurityCheckCDKSecurityCheck1D09275A")
        | {
            "AwsSolutions-IAM5[Resource::*]",
            "AwsSolutions-IAM5[Resource::<PipelinePipelinesSecurityCheckCDKPipelinesAutoApprove438244C8.Arn>:*]",
        },
    )
    | _on(_AUTO_APPROVE, {"Serverless-LambdaDLQ", "Serverless-LambdaTracing"})
    | _on(
        f"{_AUTO_APPROVE}/ServiceRole",
        {
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
        },
    )
    | _on(
        f"{_AUTO_APPROVE}/ServiceRole/DefaultPolicy",
        {
            f"AwsSolutions-IAM5[Resource::{_ARN.format(service='codepipeline')}:*/{stage}/{stage}PermissionsCheck.Confirm]"
            for stage in ("Dev", "Prod")
        }
        | {f"AwsSolutions-IAM5[Resource::{_ARN.format(service='codepipeline')}:*]"},
    )
    # The approval record's rules (stages/pipeline/approvals.py): no dead-letter queue.
    | _on("ApprovalRecord/StateChanges", {"Serverless-EventBusDLQ"})
    | _on("ApprovalRecord/ApprovalCalls", {"Serverless-EventBusDLQ"})
    # The self-mutation gate: its own logs, its input artifact's read, and the pipeline stack's template.
    | _on(
        "PipelineChangeGate/Role/DefaultPolicy",
        _ARTIFACT_READ | _own_logs("PipelineChangeGateProjectC15D38D6"),
    )
    | _on(
        "PipelineChangeGate/ReadAndApprovePolicy",
        {f"AwsSolutions-IAM5[Resource::{_ARN.format(service='cloudformation')}:stack/UploadApiPipeline/*]"},
    )
    # Who approved the pipeline change (PipelineChange.Approved) and each stage's permission check
    # (<Stage>PermissionsCheck.Approved): its own logs, its input artifact's read.
    | _on(
        "PipelineChangeApproved/Role/DefaultPolicy",
        _ARTIFACT_READ | _own_logs("PipelineChangeApprovedProject2B0AFA01"),
    )
    | _on(
        "DevPermissionsCheckApproved/Role/DefaultPolicy",
        _ARTIFACT_READ | _own_logs("DevPermissionsCheckApprovedProjectBF9B0A02"),
    )
    | _on(
        "ProdPermissionsCheckApproved/Role/DefaultPolicy",
        _ARTIFACT_READ | _own_logs("ProdPermissionsCheckApprovedProjectA767E5DF"),
    )
)
_FINDING_ID = re.compile(r"^(AwsSolutions|Serverless)-[A-Za-z0-9]+(\[.+\])?$")
PLACEHOLDER_WARNING = ("Annotation::upload-api:placeholder-connection", "warning")
# allowedCallers empty (the default): each upload stack says only its verifier may call the API.
CALLERS_WARNING = ("Annotation::upload-api:verifier-only-callers", "warning")
# dev and prod in one account (the committed default): the pipeline stack names the reason.
SHARED_ACCOUNT_WARNING = ("Annotation::upload-api:shared-account", "warning")
# approvers [] (the committed default): no approver role is deployed.
NO_APPROVERS_WARNING = ("Annotation::upload-api:no-approvers", "warning")
# reservedConcurrency "unreserved" (dev, as committed: a new account can reserve nothing).
UNRESERVED_WARNING = ("Annotation::upload-api:no-reserved-concurrency", "warning")


def _without_callers_warning(findings: set[tuple[str, str, str, str]]) -> set[tuple[str, str, str, str]]:
    """The report's entries but the committed defaults' warnings (tested on their own): allowedCallers
    empty, and dev's unreserved concurrency."""
    return {f for f in findings if (f[1], f[3]) not in (CALLERS_WARNING, UNRESERVED_WARNING)}


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


def _errors(report: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {finding for finding in _findings(report) if finding[3] == "error"}


@pytest.fixture(scope="module")
def real_app(pipeline_app) -> Path:
    """main.py's app with cdk.json's context, synthesized in-process (raises on any nag error)."""
    return pipeline_app.outdir


def test_the_real_app_has_zero_unacknowledged_findings(real_app):
    # GIVEN main.py's app: the pipeline stack and its Dev and Prod upload stages, with the nag packs
    # WHEN it was synthesized in-process (which raises on an unacknowledged error)
    report = _report(real_app)
    # THEN the validation report has no error, and the CLI gate passes
    assert _errors(report) == set()
    assert nag_gate.violations(report) == []
    assert nag_gate.main([str(real_app)]) == 0


def test_the_real_apps_only_report_entry_is_the_placeholder_warning(real_app):
    # GIVEN the synthesized real app with cdk.json as committed
    # WHEN every entry of the validation report is read
    findings = _findings(_report(real_app))
    # THEN the entries are the committed placeholders' warnings: the connection, the shared account and
    # no approvers on the pipeline stack, the verifier-only callers on each upload stack, dev's
    # unreserved concurrency
    assert {(rule, severity, path) for _, rule, path, severity in findings} == {
        (*PLACEHOLDER_WARNING, PIPELINE_STACK_ID),
        (*SHARED_ACCOUNT_WARNING, PIPELINE_STACK_ID),
        (*NO_APPROVERS_WARNING, PIPELINE_STACK_ID),
        (*UNRESERVED_WARNING, f"{PIPELINE_STACK_ID}/Dev/{UPLOAD_STACK_ID}"),
        (*CALLERS_WARNING, f"{PIPELINE_STACK_ID}/Dev/{UPLOAD_STACK_ID}"),
        (*CALLERS_WARNING, f"{PIPELINE_STACK_ID}/Prod/{UPLOAD_STACK_ID}"),
    }


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


def _acknowledged_under(outdir: Path, prefix: str) -> set[tuple[str, str]]:
    return {
        (path.removeprefix(prefix), finding_id)
        for path, finding_id, _ in _acknowledged(outdir)
        if path.startswith(prefix)
    }


@pytest.mark.parametrize("stage_id", ["Dev", "Prod"])
def test_each_upload_stacks_acknowledgements_are_the_reviewed_ones(real_app, stage_id):
    # GIVEN the synthesized real app
    # WHEN the acknowledgements in the stage's upload stack are read
    acknowledged = _acknowledged_under(real_app, f"/{PIPELINE_STACK_ID}/{stage_id}/{UPLOAD_STACK_ID}/")
    # THEN they are exactly the reviewed list (a new one is a decision, not an accident)
    scanning = MALWARE_SCANNING_ACKNOWLEDGEMENTS if stage_id in STAGES_THAT_SCAN else set()
    assert acknowledged == expected_for(stage_id.lower()) | scanning


def test_the_pipeline_stacks_acknowledgements_are_the_reviewed_ones(real_app):
    # GIVEN the synthesized real app
    # WHEN the acknowledgements in the pipeline stack itself (not its stages) are read
    acknowledged = {
        (path, finding_id)
        for path, finding_id in _acknowledged_under(real_app, f"/{PIPELINE_STACK_ID}/")
        if not path.startswith(("Dev/", "Prod/"))
    }
    # THEN they are exactly the reviewed list of CDK Pipelines' generated grants
    assert acknowledged == EXPECTED_PIPELINE_ACKNOWLEDGEMENTS


def test_every_acknowledgement_is_in_a_reviewed_list(real_app):
    # GIVEN the synthesized real app
    # WHEN all acknowledgements are counted
    # THEN none sits outside the pipeline stack's and the two upload stacks' reviewed lists
    assert len({(p, f) for p, f, _ in _acknowledged(real_app)}) == len(
        EXPECTED_PIPELINE_ACKNOWLEDGEMENTS
    ) + len(expected_for("dev")) + len(expected_for("prod")) + len(STAGES_THAT_SCAN) * len(
        MALWARE_SCANNING_ACKNOWLEDGEMENTS
    )


def test_acknowledgements_sit_on_resources_not_on_the_app_stages_or_stacks(pipeline_app):
    # GIVEN every construct of the real app by path, and the acknowledgements' paths from metadata.json
    constructs = {f"/{c.node.path}": c for c in pipeline_app.app.node.find_all() if c.node.path}
    paths = {path for path, _, _ in _acknowledged(pipeline_app.outdir)}
    # WHEN each acknowledged construct is looked up
    # THEN it is one resource (a CfnResource or an L2 wrapping one), never the pipeline stack,
    # a Stage or a Stack, where an acknowledgement would silence the finding for everything below it
    assert paths
    for path in paths:
        construct = constructs[path]
        assert not isinstance(construct, cdk.Stack | cdk.Stage), path
        assert isinstance(construct, cdk.CfnResource) or isinstance(
            construct.node.default_child, cdk.CfnResource
        ), path
    assert f"/{PIPELINE_STACK_ID}" not in paths


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
    # THEN the report is empty but the default allowedCallers warning
    assert _without_callers_warning(_findings(_report(tmp_path))) == set()


def test_the_prod_stage_passes_nag(tmp_path):
    # GIVEN the prod stage as cdk.json configures it
    stage = synth_stage("prod", outdir=tmp_path)
    # WHEN synthesized with the packs
    stage.app.synth()
    # THEN the report is empty but the default allowedCallers warning
    assert _without_callers_warning(_findings(_report(tmp_path))) == set()


def test_python_3_9_passes_nag_with_only_its_deprecation_warnings(tmp_path):
    # GIVEN a stage on the deprecated python3.9
    stage = synth_stage("dev", outdir=tmp_path, lambdaRuntime="python3.9")
    # WHEN synthesized with the packs
    stage.app.synth()
    # THEN nothing fails; the only entries are the two deprecation warnings (CDK's own and ours)
    findings = _without_callers_warning(_findings(_report(tmp_path)))
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
    findings = _without_callers_warning(_findings(_report(tmp_path)))
    rules = {(plugin, rule, path.split("/")[2]) for plugin, rule, path, _ in findings}
    assert ("AwsSolutions", "AwsSolutions-S10", "NonCompliantBucket") in rules
    assert ("AwsSolutions", "AwsSolutions-S1", "NonCompliantBucket") in rules
    assert ("Serverless", "Serverless-LambdaTracing", "NonCompliantFunction") in rules
    assert {path.split("/")[2] for *_, path, _ in findings} == {"NonCompliantBucket", "NonCompliantFunction"}
    # AND the CLI gate fails on the same report
    assert nag_gate.main([str(tmp_path)]) == 1


def test_the_packs_really_run_on_the_pipeline_stack(tmp_path):
    # GIVEN the real app (main.build_app) with an unencrypted, non-TLS bucket added to the pipeline stack
    app = cdk.App(context=app_context(), outdir=str(tmp_path))
    build_app(app)
    s3.Bucket(app.node.find_child(PIPELINE_STACK_ID), "NonCompliantBucket")
    # WHEN it is synthesized in-process
    # THEN synth fails
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    # AND AwsSolutions reports the bucket, and nothing else of the app fails
    errors = _errors(_report(tmp_path))
    bucket = f"{PIPELINE_STACK_ID}/NonCompliantBucket/Resource"
    assert ("AwsSolutions", "AwsSolutions-S1", bucket, "error") in errors
    assert ("AwsSolutions", "AwsSolutions-S10", bucket, "error") in errors
    assert {path for _, _, path, _ in errors} == {bucket}
    # AND the CLI gate fails on the same report
    assert nag_gate.main([str(tmp_path)]) == 1


class _StageWithNonCompliantConstructs(UploadApiStage):
    """UploadApiStage plus a bucket without TLS or access logs and a bare function in one stage."""

    stage_id = "Dev"

    def __init__(self, scope: Any, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if construct_id == self.stage_id:
            s3.Bucket(self.stack, "NonCompliantBucket")
            lambda_.Function(
                self.stack,
                "NonCompliantFunction",
                runtime=lambda_.Runtime.PYTHON_3_13,
                handler="index.handler",
                code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
            )


@pytest.mark.parametrize("stage_id", ["Dev", "Prod"])
def test_the_packs_really_run_on_the_upload_stacks_inside_the_pipeline(tmp_path, monkeypatch, stage_id):
    # GIVEN the real app (main.build_app) whose stage builds a non-compliant bucket and function
    # (added while the stage is built: the pipeline synthesizes each stage when it adds it)
    monkeypatch.setattr(_StageWithNonCompliantConstructs, "stage_id", stage_id)
    monkeypatch.setattr(stages.pipeline.stack, "UploadApiStage", _StageWithNonCompliantConstructs)
    app = cdk.App(context=app_context(), outdir=str(tmp_path))
    build_app(app)
    # WHEN it is synthesized in-process
    # THEN synth fails
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    # AND both packs report the new constructs in that stage's upload stack, and nothing else fails
    errors = _errors(_report(tmp_path))
    under = f"{PIPELINE_STACK_ID}/{stage_id}/{UPLOAD_STACK_ID}"
    assert ("AwsSolutions", "AwsSolutions-S10", f"{under}/NonCompliantBucket/Resource", "error") in errors
    assert ("AwsSolutions", "AwsSolutions-S1", f"{under}/NonCompliantBucket/Resource", "error") in errors
    assert ("Serverless", "Serverless-LambdaDLQ", f"{under}/NonCompliantFunction/Resource", "error") in errors
    assert {path.split("/")[3] for _, _, path, _ in errors} == {"NonCompliantBucket", "NonCompliantFunction"}
    assert all(path.startswith(f"{under}/NonCompliant") for _, _, path, _ in errors)
    # AND the CLI gate fails on the same report
    assert nag_gate.main([str(tmp_path)]) == 1


@pytest.mark.parametrize(
    ("pipeline", "stages"),
    [
        pytest.param({"approverEmails": ["release-manager@example.com"]}, None, id="approverEmails"),
        pytest.param(
            {
                "approvers": [
                    "arn:aws:iam::444444444444:role/release-managers",
                    "arn:aws:iam::111111111111:user/alice",
                ]
            },
            None,
            id="approvers",
        ),
        pytest.param(
            {
                "source": {"provider": "codecommit", "repository": "secure-upload-api", "branch": "main"},
                "sharedAccountReason": "a test of one account for both stages",
                "approvers": ["arn:aws:iam::111111111111:role/ReleaseApprover"],
            },
            None,
            id="codecommit",
        ),
        pytest.param({"account": "333333333333", "region": "eu-west-1"}, None, id="explicit pipeline env"),
        pytest.param(
            {"account": "333333333333", "region": "eu-west-1"},
            {
                "dev": {"account": "111111111111", "region": "eu-west-1"},
                "prod": {"account": "222222222222", "region": "eu-west-1"},
            },
            id="three accounts",
        ),
    ],
)
def test_every_supported_pipeline_setting_passes_nag(synth_pipeline, pipeline, stages):
    # GIVEN the real app with a supported non-default pipeline setting
    # WHEN it is synthesized with the packs (raises on an unacknowledged error)
    app = synth_pipeline(pipeline=pipeline, stages=stages)
    # THEN the report has no error
    assert _errors(_report(app.outdir)) == set()


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
