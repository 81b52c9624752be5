"""ConfirmPermissionsBroadening's shared pieces: the check project's logs, the auto-approver's size and logs.

CDK Pipelines generates one `cdk diff --security-only` project and one auto-approve function for
every permission check in the pipeline. Its tools are pinned in node_tools.py (which also makes its
diff a template diff), its approver's grant cut in grants.py; here its own role reads through the
stages' lookup roles only, and its logs join every other step's.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stages.pipeline.patches.generated import (
    as_list,
    auto_approve_function,
    default_child,
    expect,
    only,
    patch_of,
    permissions_check,
    permissions_check_project,
    rewrite_statements,
    role_of,
)

BOOTSTRAP_ROLE_TAG = "iam:ResourceTag/aws-cdk:bootstrap-role"


@patch_of("permission check's role policy (ConfirmPermissionsBroadening's CDKSecurityCheck project)")
def read_through_lookup_roles_only(pipeline: Construct) -> None:
    """The check may assume the stages' read-only lookup roles, never their deploy roles.

    CDK grants sts:AssumeRole on every role tagged `aws-cdk:bootstrap-role=deploy`: with it, code
    in the check's build could create and execute change sets in every account that trusts the
    pipeline. `cdk diff --method=template` (node_tools.py) reads the deployed template through the
    lookup role (the CLI's accessStackForLookupBestEffort) and creates no change set.
    """
    project = permissions_check_project(pipeline)
    narrowed: list[dict[str, Any]] = []

    def lookup_not_deploy(statement: dict[str, Any]) -> dict[str, Any]:
        if "sts:AssumeRole" not in as_list(statement["Action"]):
            return statement
        expect(
            statement.get("Condition") == {"ForAnyValue:StringEquals": {BOOTSTRAP_ROLE_TAG: ["deploy"]}},
            f"{project.node.path}/Role/DefaultPolicy",
            "sts:AssumeRole on roles tagged aws-cdk:bootstrap-role=deploy",
        )
        narrowed.append(statement)
        return {**statement, "Condition": {"ForAnyValue:StringEquals": {BOOTSTRAP_ROLE_TAG: ["lookup"]}}}

    rewrite_statements(role_of(project, project.role), lookup_not_deploy)
    expect(len(narrowed) == 1, f"{project.node.path}/Role/DefaultPolicy", "one sts:AssumeRole statement")


@patch_of("permission check (ConfirmPermissionsBroadening's CDKSecurityCheck project)")
def log_permissions_check_to_build_logs(pipeline: Construct, build_logs: logs.LogGroup) -> None:
    """Its logs go where every other step's go (CDK leaves it on CodeBuild's default log group)."""
    project = permissions_check_project(pipeline)
    cfn_project = default_child(project, codebuild.CfnProject)
    expect(cfn_project.logs_config is None, project, "no logs configuration (CodeBuild's default log group)")
    cfn_project.logs_config = codebuild.CfnProject.LogsConfigProperty(
        cloud_watch_logs=codebuild.CfnProject.CloudWatchLogsConfigProperty(
            status="ENABLED", group_name=build_logs.log_group_name
        )
    )
    build_logs.grant_write(project)


@patch_of("auto-approve function (ConfirmPermissionsBroadening's CDKPipelinesAutoApprove)")
def size_auto_approver(pipeline: Construct) -> None:
    """128 MB, explicit (the default): one PutApprovalResult call per run needs no more."""
    default_child(auto_approve_function(pipeline), lambda_.CfnFunction).memory_size = 128


@patch_of("auto-approve function's log group (ConfirmPermissionsBroadening's CDKPipelinesAutoApprove)")
def encrypt_auto_approver_logs(pipeline: Construct, key: kms.IKey) -> None:
    """Its log group, encrypted with the pipeline's build-log key like every other log group here."""
    check = permissions_check(pipeline)
    log_group = only(
        (c for c in check.node.find_all() if isinstance(c, logs.CfnLogGroup)), check, "log group"
    )
    log_group.kms_key_id = key.key_arn
