"""Each stage's first action: `<Stage>Preflight` checks what the stage's account must offer.

It runs before the stage's first CloudFormation action (CDK Pipelines' `pre` steps come before
the stage's change sets), so a missing quota or prerequisite stops the stage before anything
changes, in one line that names the quota, the setting and the fix
(tools/pipeline_checks/preflight). It reads through the stage account's CDK lookup role, which
the bootstrap gives ReadOnlyAccess; its own role may assume that role and nothing else.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import pipelines
from constructs import Construct

from stages.pipeline.bootstrap import assume_lookup_role, bootstrap_qualifier, lookup_role_env
from stages.upload_stage import UploadApiStage

PREFLIGHT_COMMAND = "make preflight"
# The lookup role's own bootstrap requirement (its manifest entry says 8), above the stage
# stack's CheckBootstrapVersion rule (6); tests/infra/test_preflight_step.py keeps it in step with
# what the synthesized assembly asks for.
MINIMUM_BOOTSTRAP_VERSION = 8


def reserved_concurrency(stage: UploadApiStage) -> int:
    """Every function the stage's stack reserves concurrency for, the scan-result function included."""
    total = 0
    for node in stage.stack.node.find_all():
        if isinstance(node, lambda_.CfnFunction) and node.reserved_concurrent_executions is not None:
            reserved = node.reserved_concurrent_executions
            if not isinstance(reserved, int):
                raise TypeError(
                    f"{node.node.path}: reserved concurrency is not a number at synth: {reserved!r}"
                )
            total += reserved
    return total


def preflight_step(
    scope: Construct,
    stage: UploadApiStage,
    source: pipelines.IFileSetProducer,
    runtime_versions: dict[str, str],
    stacks_sharing_the_account: tuple[str, ...] = (),
) -> pipelines.CodeBuildStep:
    """The stage's Preflight; `stacks_sharing_the_account`: the app's stage stacks where dev and
    prod share one account (none of their roles may be its API Gateway logging role)."""
    stack = stage.stack
    settings = stack.settings
    step_id = f"{stage.stage_name}Preflight"
    qualifier = bootstrap_qualifier(stage)
    role = iam.Role(
        scope,
        f"{step_id}Role",
        assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
        description=f"CodeBuild role of {step_id}: assumes the stage account's read-only lookup role",
    )
    return pipelines.CodeBuildStep(
        step_id,
        input=source,
        role=role,
        env={
            "STAGE": settings.stage,
            "STACK_NAME": stack.stack_name,
            "RESERVED_CONCURRENCY": str(reserved_concurrency(stage)),
            "BOOTSTRAP_QUALIFIER": qualifier,
            "MINIMUM_BOOTSTRAP_VERSION": str(MINIMUM_BOOTSTRAP_VERSION),
            "MALWARE_SCANNING": "true" if settings.scans_uploads else "false",
            "CREATES_API_GATEWAY_ACCOUNT_ROLE": "true"
            if settings.create_api_gateway_account_role
            else "false",
            **lookup_role_env(stage),
            **(
                {"SHARED_ACCOUNT_STACKS": ",".join(stacks_sharing_the_account)}
                if stacks_sharing_the_account
                else {}
            ),
        },
        commands=[PREFLIGHT_COMMAND],
        partial_build_spec=cdk.aws_codebuild.BuildSpec.from_object(
            {"phases": {"install": {"runtime-versions": runtime_versions}}}
        ),
        role_policy_statements=[assume_lookup_role(stage)],
        timeout=cdk.Duration.minutes(10),
    )
