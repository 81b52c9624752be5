"""CDK Pipelines' generated grants, cut to what each step does.

The L1 policy is rewritten, so the template, cdk-nag and the scanners all see the narrowed
statements. Each rewrite expects the statement CDK generates to be there, shaped as it was when
the rewrite was written: a grant CDK stops generating, or reshapes, fails synth here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from constructs import Construct

from stages.pipeline.patches.generated import (
    arn_prefix,
    as_list,
    auto_approve_function,
    codebuild_projects,
    expect,
    file_role,
    is_asset_project,
    is_synth_project,
    patch_of,
    rewrite_statements,
    role_of,
)
from stages.template_text import as_nag_text

# Read-only CodeBuild steps only decrypt their input artifacts: of the artifact key grant CDK gives
# every project (kms:Decrypt, DescribeKey, Encrypt, GenerateDataKey*, ReEncrypt*) they keep these.
ARTIFACT_KEY_READ = ["kms:Decrypt", "kms:DescribeKey"]
AUTO_APPROVER_ACTIONS = {"codepipeline:GetPipelineState", "codepipeline:PutApprovalResult"}


def confirm_action_arns(stack: cdk.Stack, stage_names: Sequence[str]) -> list[str]:
    """The permission checks' Confirm approvals, by name pattern: `*/<Stage>/<Stage>PermissionsCheck.Confirm`.

    Not the pipeline's ARN: the pipeline already depends on the auto-approver (its check project
    names it), so a reference back would be a circular dependency. CDK's condition
    (aws:ResourceTag/SECURITY_CHECK on the pipeline) still limits it to pipelines tagged for it.
    """
    return [
        f"{arn_prefix(stack, 'codepipeline')}:*/{name}/{name}PermissionsCheck.Confirm" for name in stage_names
    ]


def tagged_pipelines_arn(stack: cdk.Stack) -> str:
    """GetPipelineState (the auto-approver reads the approval's token) acts on a pipeline, not an action."""
    return f"{arn_prefix(stack, 'codepipeline')}:*"


@patch_of("auto-approve function's role policy (ConfirmPermissionsBroadening)")
def approve_only_permission_checks(pipeline: Construct, *, stage_names: Sequence[str]) -> None:
    """The auto-approver may approve only the permission checks (`*.Confirm`), never PromoteToProd.

    CDK grants codepipeline:PutApprovalResult and GetPipelineState, in one statement, on every
    tagged pipeline's actions; the statement is split so each action gets only its own resource.
    """
    function = auto_approve_function(pipeline)
    stack = cdk.Stack.of(pipeline)
    confirm_actions = [stack.resolve(arn) for arn in confirm_action_arns(stack, stage_names)]
    tagged_pipelines = stack.resolve(tagged_pipelines_arn(stack))
    split: list[dict[str, Any]] = []

    def only_confirm_actions(statement: dict[str, Any]) -> list[dict[str, Any]]:
        actions = as_list(statement["Action"])
        if "codepipeline:PutApprovalResult" not in actions:
            return [statement]
        expect(
            set(actions) == AUTO_APPROVER_ACTIONS,
            f"{function.node.path}/ServiceRole/DefaultPolicy",
            f"one statement granting exactly {sorted(AUTO_APPROVER_ACTIONS)} (found {sorted(actions)})",
        )
        split.append(statement)
        return [
            {**statement, "Action": "codepipeline:PutApprovalResult", "Resource": confirm_actions},
            {**statement, "Action": "codepipeline:GetPipelineState", "Resource": tagged_pipelines},
        ]

    rewrite_statements(role_of(function, function.role), only_confirm_actions)
    expect(
        len(split) == 1,
        f"{function.node.path}/ServiceRole/DefaultPolicy",
        f"one codepipeline:PutApprovalResult statement (found {len(split)})",
    )


@patch_of("CodeBuild projects' artifact key grants")
def decrypt_only_for_read_only_steps(pipeline: Construct, *, artifact_key_arn: str) -> None:
    """Read-only steps (self-mutation, verifiers, permission checks) only decrypt their input artifacts.

    kms:Decrypt and DescribeKey on the artifact key, no Encrypt/ReEncrypt/GenerateDataKey. The
    synth step writes its output artifacts: it keeps the whole key grant. The asset projects'
    role already has only the read grant.
    """
    artifact_key = cdk.Stack.of(pipeline).resolve(artifact_key_arn)
    for project in codebuild_projects(pipeline):
        if is_asset_project(project) or is_synth_project(project):
            continue
        narrowed: list[dict[str, Any]] = []
        role = role_of(project, project.role)
        rewrite_statements(role, functools.partial(_decrypt_only, key=artifact_key, narrowed=narrowed))
        expect(
            len(narrowed) == 1,
            f"{role.node.path}/DefaultPolicy",
            f"one statement granting kms:Encrypt and more on the artifact key (found {len(narrowed)})",
        )


def _decrypt_only(statement: dict[str, Any], *, key: Any, narrowed: list[dict[str, Any]]) -> dict[str, Any]:
    """The artifact key statement (appended to `narrowed`) with only the actions reading an artifact needs."""
    if statement.get("Resource") == key and "kms:Encrypt" in as_list(statement["Action"]):
        narrowed.append(statement)
        statement["Action"] = ARTIFACT_KEY_READ
    return statement


@patch_of("asset-publishing role's grants (Assets/FileRole)")
def scope_asset_role_to_asset_projects(pipeline: Construct) -> None:
    """The asset-publishing role may start only the asset projects and write only their own logs.

    CDK grants codebuild:StartBuild on `*`, and log and report writes on every /aws/codebuild/*
    log group and every report group; each becomes the asset projects' own.
    """
    stack = cdk.Stack.of(pipeline)
    asset_projects = [p for p in codebuild_projects(pipeline) if is_asset_project(p)]
    logs, codebuild = arn_prefix(stack, "logs"), arn_prefix(stack, "codebuild")
    own = {
        "/aws/codebuild/*": [
            arn
            for p in asset_projects
            for arn in (
                f"{logs}:log-group:/aws/codebuild/{p.project_name}",
                f"{logs}:log-group:/aws/codebuild/{p.project_name}:*",
            )
        ],
        "report-group/*": [f"{codebuild}:report-group/{p.project_name}-*" for p in asset_projects],
        "*": [p.project_arn for p in asset_projects],
    }
    resolved = {suffix: [stack.resolve(arn) for arn in arns] for suffix, arns in own.items()}
    scoped: list[str] = []

    def scoped_to_own(statement: dict[str, Any]) -> dict[str, Any]:
        resources = as_list(statement["Resource"])
        if len(resources) != 1 or (isinstance(resources[0], dict) and "Fn::Sub" in resources[0]):
            return statement
        text = as_nag_text(resources[0])
        for suffix, arns in resolved.items():
            if text == "*" if suffix == "*" else text.endswith(f":{suffix}"):
                statement["Resource"] = arns if len(arns) > 1 else arns[0]
                scoped.append(suffix)
                break
        return statement

    role = file_role(pipeline)
    rewrite_statements(role, scoped_to_own)
    expect(
        sorted(scoped) == sorted(own),
        f"{role.node.path}/DefaultPolicy",
        f"one statement on each of {sorted(own)} (found {sorted(scoped)})",
    )
