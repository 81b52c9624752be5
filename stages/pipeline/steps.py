"""The pipeline's own steps: synth (buildspec.yml), permission checks, the prod approval, verifiers."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import pipelines
from constructs import Construct

from stages.upload.stack import pipeline_verify_role_name, verifier_role_name
from stages.upload_stage import UploadApiStage

# The synth build's peak is mypy's cold run, ~3.5 GB (tools/review_kit/rehearse/measured.json): more than
# SMALL's 3 GB. MEDIUM (4 vCPU, 7 GB) leaves the 30% headroom tests/infra/test_build_budget.py holds.
SYNTH_COMPUTE_TYPE = codebuild.ComputeType.MEDIUM
# Local cache of the paths each buildspec's `cache` lists (pip, npm, mypy): best effort, so the
# compute type is sized for a cold run.
BUILD_CACHE = codebuild.Cache.local(codebuild.LocalCacheMode.CUSTOM)
VERIFY_COMMAND = "make verify-deployed MODE={mode}"
# The synth step's outputs: the cloud assembly the pipeline deploys, then the build's reports
# (security review, gate results, SBOMs, JUnit) kept as an artifact of every run for reviewers.
SYNTH_OUTPUT = "cdk.out"
REPORTS_OUTPUT = "reports"
# The change set CDK Pipelines' deploy actions create and execute (the prod approval names it).
PROD_CHANGE_SET = "PipelineChange"


def runtime_versions(buildspec: dict[str, Any]) -> dict[str, str]:
    """buildspec.yml's runtime versions (Python, Node), which every step installs."""
    return dict(buildspec["phases"]["install"]["runtime-versions"])


def synth_step(
    source: pipelines.IFileSetProducer,
    buildspec: dict[str, Any],
    report_groups: dict[str, codebuild.ReportGroup],
) -> pipelines.CodeBuildStep:
    """buildspec.yml's commands (what `make test` runs), writing the cloud assembly and the reports."""
    step = pipelines.CodeBuildStep(
        "Synth",
        input=source,
        install_commands=buildspec["phases"]["install"]["commands"],
        commands=buildspec["phases"]["build"]["commands"],
        partial_build_spec=codebuild.BuildSpec.from_object(
            synth_partial_build_spec(buildspec, report_groups)
        ),
        primary_output_directory=SYNTH_OUTPUT,
        role_policy_statements=[
            report_statement(group, sid=f"Write{group.node.id}")  # WriteUnitTestReports, ...
            for group in report_groups.values()
        ],
        build_environment=codebuild.BuildEnvironment(compute_type=SYNTH_COMPUTE_TYPE),
        cache=BUILD_CACHE,
        timeout=cdk.Duration.minutes(60),
    )
    # A second output artifact: nothing consumes it, CodePipeline keeps it with the run.
    step.add_output_directory(REPORTS_OUTPUT)
    return step


def synth_partial_build_spec(
    buildspec: dict[str, Any], report_groups: dict[str, codebuild.ReportGroup]
) -> dict[str, Any]:
    """buildspec.yml minus the commands CodeBuildStep owns; each named report bound to its group."""
    owned_by_step = ("phases", "artifacts", "reports")
    spec = {key: value for key, value in buildspec.items() if key not in owned_by_step}
    spec["phases"] = {"install": {"runtime-versions": runtime_versions(buildspec)}}
    # CodeBuildStep takes commands, not `finally` (the review report, written after a failed step too).
    build_finally = buildspec["phases"]["build"].get("finally")
    if build_finally:
        spec["phases"]["build"] = {"finally": build_finally}
    # CodeBuild takes a report group's ARN as the key; buildspec.yml names the reports. A name
    # without a group would make CodeBuild create an unmanaged group the role may not write to.
    named = buildspec["reports"]
    if set(named) != set(report_groups):
        raise ValueError(
            f"buildspec.yml reports {sorted(named)} must be exactly {sorted(report_groups)}: "
            "bind a new one to a report group in stages/pipeline/stack.py"
        )
    spec["reports"] = {report_groups[name].report_group_arn: report for name, report in named.items()}
    return spec


def broadening_check(stage: UploadApiStage, approval_topic: sns.ITopic | None) -> pipelines.Step:
    """`cdk diff --security-only` of the stage before it deploys; a broadening waits for a person."""
    return pipelines.ConfirmPermissionsBroadening(
        f"{stage.stage_name}PermissionsCheck", stage=stage, notification_topic=approval_topic
    )


def prod_approval(stage: UploadApiStage, approval_topic: sns.ITopic | None) -> pipelines.Step:
    """The approval between creating prod's change set and executing it, naming that change set."""
    stack = stage.stack
    region = stack.region if not cdk.Token.is_unresolved(stack.region) else cdk.Aws.REGION
    console = f"https://console.aws.amazon.com/cloudformation/home?region={region}"
    return pipelines.ManualApprovalStep(
        "PromoteToProd",
        comment=(
            f"Dev is deployed and verified. Review change set {PROD_CHANGE_SET} of stack "
            f"{stack.stack_name} (the link: the stack's Change sets tab; or `aws cloudformation "
            f"describe-change-set --stack-name {stack.stack_name} --change-set-name {PROD_CHANGE_SET}`) "
            "and the synth step's reports, then approve with its ChangeSetId (the change set's ARN, "
            "arn:...:changeSet/PipelineChange/...) in the comment: the next step executes nothing unless "
            "that is the change set about to be executed."
        ),
        # The stack's page (its Change sets tab lists PipelineChange); the console needs the stack's
        # ARN for a direct change set link, which exists only once the change set does.
        review_url=f"{console}#/stacks?filteringText={stack.stack_name}",
        notification_topic=approval_topic,
    )


def verify_step(
    scope: Construct,
    mode: str,
    stage: UploadApiStage,
    source: pipelines.IFileSetProducer,
    buildspec: dict[str, Any],
) -> pipelines.Step:
    """The post-deploy verifier: it may only assume this stage's VerifierRole (upload stack), which
    may call exactly this stage's POST /upload and read exactly this API stage."""
    stack = stage.stack
    verifier_role = cdk.Arn.format(
        cdk.ArnComponents(
            service="iam",
            region="",
            account=stack.account,
            resource="role",
            resource_name=verifier_role_name(stack.stack_name),
        ),
        stack,
    )
    step_id = f"Verify{mode.capitalize()}"
    # A fixed name: the stage's VerifierRole trusts exactly this role's ARN (stages/upload/stack.py).
    role = iam.Role(
        scope,
        f"{step_id}Role",
        role_name=pipeline_verify_role_name(mode),
        assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
        description=f"CodeBuild role of {step_id}: assumes the {mode} stage's VerifierRole, nothing else",
    )
    reports = codebuild.ReportGroup(scope, f"{step_id}Reports", type=codebuild.ReportGroupType.TEST)
    return pipelines.CodeBuildStep(
        step_id,
        input=source,
        role=role,
        env_from_cfn_outputs={
            "API_URL": stack.api_url_output,
            "UPLOAD_ENDPOINT": stack.upload_endpoint_output,
            "VERIFIER_ROLE_ARN": stack.verifier_role_output,
        },
        env={"STACK_NAME": stack.stack_name},
        commands=[VERIFY_COMMAND.format(mode=mode)],
        partial_build_spec=codebuild.BuildSpec.from_object(
            {
                "phases": {"install": {"runtime-versions": runtime_versions(buildspec)}},
                # The verifier's JUnit report: each check a test case in this report group.
                "reports": {
                    reports.report_group_arn: {
                        "files": [f"reports/verify/{mode}-junit.xml"],
                        "file-format": "JUNITXML",
                    }
                },
            }
        ),
        role_policy_statements=[
            iam.PolicyStatement(
                sid="AssumeThisStagesVerifierRole", actions=["sts:AssumeRole"], resources=[verifier_role]
            ),
            report_statement(reports),
        ],
        timeout=cdk.Duration.minutes(20),
    )


def report_statement(
    report_group: codebuild.ReportGroup, sid: str = "WriteUnitTestReports"
) -> iam.PolicyStatement:
    """Writing test reports to exactly this report group."""
    return iam.PolicyStatement(
        sid=sid,
        actions=[
            "codebuild:CreateReport",
            "codebuild:UpdateReport",
            "codebuild:BatchPutTestCases",
            "codebuild:BatchPutCodeCoverages",
        ],
        resources=[report_group.report_group_arn],
    )
