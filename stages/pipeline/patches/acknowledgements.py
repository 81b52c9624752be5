"""cdk-nag, checkov and cfn-lint acknowledgements of what CDK Pipelines generates, with the exact finding ids.

Every grant acknowledged here is scoped to this pipeline's artifact bucket and key, a CodeBuild
project's own log group and report groups, the CDK bootstrap roles, or (after grants.py) the
permission checks' own approvals. Each function expects the generated construct it acknowledges
to be there: an acknowledgement that matched nothing would leave cdk-nag failing on a finding
nobody reviewed, or worse, acknowledge a renamed resource's finding by accident.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from stages.compliance import acknowledge_nag as acknowledge
from stages.compliance import ignore_cfn_lint, skip_checkov
from stages.pipeline.patches.generated import (
    arn_prefix,
    auto_approve_function,
    child,
    codebuild_projects,
    default_child,
    default_policy,
    expect,
    file_role,
    is_asset_project,
    is_synth_project,
    nag_finding,
    patch_of,
    permissions_check_project,
    role_of,
    source_action_roles,
)
from stages.pipeline.patches.grants import confirm_action_arns, tagged_pipelines_arn
from stages.pipeline.patches.reasons import (
    APPROVAL_KEY,
    ARTIFACT_KEY,
    ARTIFACTS,
    AUTO_APPROVE_ACTIONS,
    AUTO_APPROVE_CONCURRENCY,
    AUTO_APPROVE_DLQ,
    AUTO_APPROVE_LOGS,
    AUTO_APPROVE_ROLE_DEPENDS_ON,
    AUTO_APPROVE_STATE,
    AUTO_APPROVE_TRACING,
    AUTO_APPROVE_VPC,
    OWN_LOGS,
    PERMISSIONS_CHECK_DIFF,
    PERMISSIONS_CHECK_INVOKE,
    PIPELINE_ROLE_DEPENDS_ON,
    SELF_MUTATION_LOOKUPS,
    SELF_MUTATION_ROLES,
    SOURCE_RULE_DLQ,
)

APPROVAL_KEY_FINDING = "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]"


def acknowledge_all(role: iam.IRole, findings: dict[str, str]) -> None:
    """Acknowledge each finding id on `role`'s DefaultPolicy (where cdk-nag reports a grant)."""
    policy = default_policy(role)
    for finding_id, reason in findings.items():
        acknowledge(policy, finding_id, reason)


@patch_of("CodeCommit source's EventBridge rule")
def acknowledge_codecommit_source_rule(stack: cdk.Stack) -> None:
    """The rule CDK Pipelines adds to the imported repository to start the pipeline on a push."""
    rules = [r for r in stack.node.find_all() if isinstance(r, events.Rule) and "/Repository/" in r.node.path]
    expect(bool(rules), f"{stack.node.path}/Repository", "an EventBridge rule starting the pipeline")
    for rule in rules:
        acknowledge(rule, "Serverless-EventBusDLQ", SOURCE_RULE_DLQ)


@patch_of("pipeline (CodePipeline's Pipeline resource)")
def acknowledge_pipeline_depends_on_its_role(pipeline: Construct) -> None:
    ignore_cfn_lint(child(pipeline, "Pipeline", codepipeline.Pipeline), "W3005", PIPELINE_ROLE_DEPENDS_ON)


@patch_of("permission check (ConfirmPermissionsBroadening's auto-approver and CDKSecurityCheck project)")
def acknowledge_permissions_check(
    pipeline: Construct, *, stage_names: list[str], approval_topic: bool
) -> None:
    """The auto-approver as grants.py leaves it, and what the check project may do."""
    stack = cdk.Stack.of(pipeline)
    function = auto_approve_function(pipeline)
    role = role_of(function, function.role)
    acknowledge_all(
        role,
        {
            **{
                nag_finding(stack, arn): AUTO_APPROVE_ACTIONS
                for arn in confirm_action_arns(stack, stage_names)
            },
            nag_finding(stack, tagged_pipelines_arn(stack)): AUTO_APPROVE_STATE,
        },
    )
    acknowledge(
        role,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        AUTO_APPROVE_LOGS,
    )
    acknowledge(function, "Serverless-LambdaDLQ", AUTO_APPROVE_DLQ)
    skip_checkov(function, "CKV_AWS_116", AUTO_APPROVE_DLQ)
    skip_checkov(function, "CKV_AWS_117", AUTO_APPROVE_VPC)
    skip_checkov(function, "CKV_AWS_115", AUTO_APPROVE_CONCURRENCY)
    ignore_cfn_lint(function, "W3005", AUTO_APPROVE_ROLE_DEPENDS_ON)
    acknowledge(function, "Serverless-LambdaTracing", AUTO_APPROVE_TRACING)
    project = permissions_check_project(pipeline)
    acknowledge_all(
        role_of(project, project.role),
        {
            # (its own logs and report groups are acknowledged with every project's)
            "AwsSolutions-IAM5[Resource::*]": PERMISSIONS_CHECK_DIFF,
            nag_finding(stack, f"{function.function_arn}:*"): PERMISSIONS_CHECK_INVOKE,
            # With approverEmails, a broadening is published to the KMS-encrypted approval topic.
            **({APPROVAL_KEY_FINDING: APPROVAL_KEY} if approval_topic else {}),
        },
    )


@patch_of("roles (pipeline, actions, CodeBuild projects, asset publishing)")
def acknowledge_generated_grants(
    pipeline: Construct, artifact_bucket: s3.Bucket, *, approval_topic: bool
) -> None:
    """CDK Pipelines' own grants, acknowledged role by role with the exact finding ids."""
    stack = cdk.Stack.of(pipeline)
    bucket = f"<{stack.get_logical_id(default_child(artifact_bucket, s3.CfnBucket))}.Arn>"
    artifact_read = {
        "AwsSolutions-IAM5[Action::s3:GetBucket*]": ARTIFACTS,
        "AwsSolutions-IAM5[Action::s3:GetObject*]": ARTIFACTS,
        "AwsSolutions-IAM5[Action::s3:List*]": ARTIFACTS,
        f"AwsSolutions-IAM5[Resource::{bucket}/*]": ARTIFACTS,
    }
    artifact_write = {
        **artifact_read,
        "AwsSolutions-IAM5[Action::s3:Abort*]": ARTIFACTS,
        "AwsSolutions-IAM5[Action::s3:DeleteObject*]": ARTIFACTS,
    }
    artifact_key = {
        "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": ARTIFACT_KEY,
        "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": ARTIFACT_KEY,
    }
    code_pipeline = child(pipeline, "Pipeline", codepipeline.Pipeline)
    acknowledge_all(code_pipeline.role, {**artifact_write, **artifact_key})
    _acknowledge_action_roles(pipeline, {**artifact_write, **artifact_key}, approval_topic=approval_topic)
    for project in codebuild_projects(pipeline):
        if is_asset_project(project):
            continue  # the asset projects share one role, acknowledged below
        role = role_of(project, project.role)
        own = _own_codebuild_resources(project)
        if is_synth_project(project):
            acknowledge_all(role, {**artifact_write, **artifact_key, **own})
            continue
        extra: dict[str, str] = {}
        if project.node.path.endswith("/SelfMutation"):
            extra = {
                nag_finding(stack, f"arn:*:iam::{stack.account}:role/*"): SELF_MUTATION_ROLES,
                "AwsSolutions-IAM5[Resource::*]": SELF_MUTATION_LOOKUPS,
            }
        acknowledge_all(role, {**artifact_read, **own, **extra})
    asset_projects = [p for p in codebuild_projects(pipeline) if is_asset_project(p)]
    acknowledge_all(
        file_role(pipeline),
        {**artifact_read, **{k: v for p in asset_projects for k, v in _own_codebuild_resources(p).items()}},
    )


def _acknowledge_action_roles(
    pipeline: IConstruct, artifacts: dict[str, str], *, approval_topic: bool
) -> None:
    """The source action's role (artifacts), and with approverEmails the approval actions' roles."""
    expect(bool(source_action_roles(pipeline)), pipeline, "a source action role")
    for role in pipeline.node.find_all():
        if not isinstance(role, iam.Role) or role.node.id != "CodePipelineActionRole":
            continue
        if "/Source/" in role.node.path:
            acknowledge_all(role, artifacts)
        # With approverEmails, the approval actions' roles publish to the KMS-encrypted topic.
        if (
            approval_topic
            and ("PromoteToProd/" in role.node.path or "PermissionsCheck" in role.node.path)
            and role.node.try_find_child("DefaultPolicy") is not None
        ):
            acknowledge_all(role, {APPROVAL_KEY_FINDING: APPROVAL_KEY})


def _own_codebuild_resources(project: codebuild.Project) -> dict[str, str]:
    """The findings of CodeBuild's default grant to a project: its own log group and report groups."""
    stack, name = cdk.Stack.of(project), project.project_name
    return {
        nag_finding(stack, f"{arn_prefix(stack, 'logs')}:log-group:/aws/codebuild/{name}:*"): OWN_LOGS,
        nag_finding(stack, f"{arn_prefix(stack, 'codebuild')}:report-group/{name}-*"): OWN_LOGS,
    }
