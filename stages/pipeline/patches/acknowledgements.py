"""Scanner acknowledgements of what CDK Pipelines generates, with the exact finding ids cdk-nag prints.

Every grant acknowledged here is scoped to this pipeline's artifact bucket and key, a CodeBuild
project's own log group and report groups, the CDK bootstrap roles, or (after grants.py) the
permission checks' own approvals. The reasons are the pipeline section of stages/compliance.py's
table. Each function expects the generated construct it acknowledges to be there, so a CDK
upgrade that moves one fails synth here, naming it, rather than as a cdk-nag finding on a
construct nobody acknowledged.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from stages import compliance
from stages.compliance import Reason, acknowledge
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
    nag_resource,
    patch_of,
    permissions_check_project,
    role_of,
    source_action_roles,
)
from stages.pipeline.patches.grants import confirm_action_arns, tagged_pipelines_arn

APPROVAL_KEY_GRANT = "Action::kms:GenerateDataKey*"


def acknowledge_grants(role: iam.IRole, grants: dict[str, Reason]) -> None:
    """Acknowledge AwsSolutions-IAM5 findings on `role`'s DefaultPolicy (where cdk-nag reports a grant).

    `grants`: the bracketed part of each finding id (`Action::s3:List*`, `Resource::...`) -> the
    table's reason. A reason with a `{grant}` field is filled with it; one with a fixed finding id
    must name exactly that grant.
    """
    policy = default_policy(role)
    for grant, reason in grants.items():
        if reason.fields:
            acknowledge(policy, reason, grant=grant)
            continue
        if reason.nag != (f"AwsSolutions-IAM5[{grant}]",):
            raise ValueError(f"{reason.nag} is not the finding of grant {grant!r}")
        acknowledge(policy, reason)


@patch_of("CodeCommit source's EventBridge rule")
def acknowledge_codecommit_source_rule(stack: cdk.Stack) -> None:
    """The rule CDK Pipelines adds to the imported repository to start the pipeline on a push."""
    rules = [r for r in stack.node.find_all() if isinstance(r, events.Rule) and "/Repository/" in r.node.path]
    expect(bool(rules), f"{stack.node.path}/Repository", "an EventBridge rule starting the pipeline")
    for rule in rules:
        acknowledge(rule, compliance.CODECOMMIT_SOURCE_RULE_NO_DLQ)


@patch_of("pipeline (CodePipeline's Pipeline resource)")
def acknowledge_pipeline_depends_on_its_role(pipeline: Construct) -> None:
    acknowledge(child(pipeline, "Pipeline", codepipeline.Pipeline), compliance.PIPELINE_DEPENDS_ON_ITS_ROLE)


@patch_of("permission check (ConfirmPermissionsBroadening's auto-approver and CDKSecurityCheck project)")
def acknowledge_permissions_check(
    pipeline: Construct, *, stage_names: list[str], approval_topic: bool
) -> None:
    """The auto-approver as grants.py leaves it, and what the check project may do."""
    stack = cdk.Stack.of(pipeline)
    function = auto_approve_function(pipeline)
    role = role_of(function, function.role)
    acknowledge_grants(
        role,
        {
            **{
                nag_resource(stack, arn): compliance.AUTO_APPROVE_ACTIONS
                for arn in confirm_action_arns(stack, stage_names)
            },
            nag_resource(stack, tagged_pipelines_arn(stack)): compliance.AUTO_APPROVE_STATE,
        },
    )
    acknowledge(role, compliance.AUTO_APPROVE_BASIC_EXECUTION)
    acknowledge(function, compliance.AUTO_APPROVE_NO_DLQ)
    acknowledge(function, compliance.AUTO_APPROVE_OUTSIDE_VPC)
    acknowledge(function, compliance.AUTO_APPROVE_UNRESERVED_CONCURRENCY)
    acknowledge(function, compliance.FUNCTION_DEPENDS_ON_ITS_ROLE)
    acknowledge(function, compliance.AUTO_APPROVE_NOT_TRACED)
    project = permissions_check_project(pipeline)
    acknowledge_grants(
        role_of(project, project.role),
        {
            # (its own logs and report groups are acknowledged with every project's)
            "Resource::*": compliance.PERMISSIONS_CHECK_DIFF,
            nag_resource(stack, f"{function.function_arn}:*"): compliance.PERMISSIONS_CHECK_INVOKE,
            # With approverEmails, a broadening is published to the KMS-encrypted approval topic.
            **({APPROVAL_KEY_GRANT: compliance.APPROVAL_TOPIC_KEY} if approval_topic else {}),
        },
    )


@patch_of("roles (pipeline, actions, CodeBuild projects, asset publishing)")
def acknowledge_generated_grants(
    pipeline: Construct, artifact_bucket: s3.Bucket, *, approval_topic: bool
) -> None:
    """CDK Pipelines' own grants, acknowledged role by role with the exact finding ids."""
    stack = cdk.Stack.of(pipeline)
    bucket = f"<{stack.get_logical_id(default_child(artifact_bucket, s3.CfnBucket))}.Arn>"
    artifacts = compliance.PIPELINE_ARTIFACTS
    artifact_read = {
        "Action::s3:GetBucket*": artifacts,
        "Action::s3:GetObject*": artifacts,
        "Action::s3:List*": artifacts,
        f"Resource::{bucket}/*": artifacts,
    }
    artifact_write = {**artifact_read, "Action::s3:Abort*": artifacts, "Action::s3:DeleteObject*": artifacts}
    artifact_key = {
        "Action::kms:GenerateDataKey*": compliance.PIPELINE_ARTIFACT_KEY,
        "Action::kms:ReEncrypt*": compliance.PIPELINE_ARTIFACT_KEY,
    }
    code_pipeline = child(pipeline, "Pipeline", codepipeline.Pipeline)
    acknowledge_grants(code_pipeline.role, {**artifact_write, **artifact_key})
    _acknowledge_action_roles(pipeline, {**artifact_write, **artifact_key}, approval_topic=approval_topic)
    for project in codebuild_projects(pipeline):
        if is_asset_project(project):
            continue  # the asset projects share one role, acknowledged below
        role = role_of(project, project.role)
        own = own_codebuild_resources(project)
        if is_synth_project(project):
            acknowledge_grants(role, {**artifact_write, **artifact_key, **own})
            continue
        extra: dict[str, Reason] = {}
        if project.node.path.endswith("/SelfMutation"):
            extra = {
                nag_resource(
                    stack, f"arn:*:iam::{stack.account}:role/*"
                ): compliance.SELF_MUTATION_BOOTSTRAP_ROLES,
                "Resource::*": compliance.SELF_MUTATION_LOOKUPS,
            }
        acknowledge_grants(role, {**artifact_read, **own, **extra})
    asset_projects = [p for p in codebuild_projects(pipeline) if is_asset_project(p)]
    acknowledge_grants(
        file_role(pipeline),
        {**artifact_read, **{k: v for p in asset_projects for k, v in own_codebuild_resources(p).items()}},
    )


def _acknowledge_action_roles(
    pipeline: IConstruct, artifacts: dict[str, Reason], *, approval_topic: bool
) -> None:
    """The source action's role (artifacts), and with approverEmails the approval actions' roles."""
    expect(bool(source_action_roles(pipeline)), pipeline, "a source action role")
    for role in pipeline.node.find_all():
        if not isinstance(role, iam.Role) or role.node.id != "CodePipelineActionRole":
            continue
        if "/Source/" in role.node.path:
            acknowledge_grants(role, artifacts)
        # With approverEmails, the approval actions' roles publish to the KMS-encrypted topic.
        if (
            approval_topic
            and ("PromoteToProd/" in role.node.path or "PermissionsCheck" in role.node.path)
            and role.node.try_find_child("DefaultPolicy") is not None
        ):
            acknowledge_grants(role, {APPROVAL_KEY_GRANT: compliance.APPROVAL_TOPIC_KEY})


def own_codebuild_resources(project: codebuild.Project) -> dict[str, Reason]:
    """The findings of CodeBuild's default grant to a project: its own log group and report groups."""
    stack, name, own_logs = cdk.Stack.of(project), project.project_name, compliance.CODEBUILD_OWN_LOGS
    return {
        nag_resource(stack, f"{arn_prefix(stack, 'logs')}:log-group:/aws/codebuild/{name}:*"): own_logs,
        nag_resource(stack, f"{arn_prefix(stack, 'codebuild')}:report-group/{name}-*"): own_logs,
    }
