"""The CDK bootstrap roles of a stage's environment, named as `cdk bootstrap` names them.

    cdk-<qualifier>-<kind>-role-<account>-<region>

The qualifier is the stage's own (cdk.json `uploadApi.stages.<stage>.bootstrapQualifier`), the
one its stack synthesizer is built with (stages/upload_stage.py). The one place the pipeline stack
builds these names: the asset publisher's deploy-role grant reads it, and the steps that read their
stage through its lookup role (Preflight, the judged- and approved-change-set checks) take their grant
and its variables from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import pipelines

from stages.upload_stage import UploadApiStage

BootstrapRole = Literal["deploy", "lookup", "file-publishing", "image-publishing", "cfn-exec"]


def bootstrap_qualifier(stage: UploadApiStage) -> str:
    return stage.stack.settings.qualifier


def bootstrap_role_arn(stage: UploadApiStage, kind: BootstrapRole) -> str:
    stack = stage.stack
    role_name = f"cdk-{bootstrap_qualifier(stage)}-{kind}-role-{stack.account}-{stack.region}"
    return f"arn:{cdk.Aws.PARTITION}:iam::{stack.account}:role/{role_name}"


def lookup_role_env(stage: UploadApiStage) -> dict[str, str]:
    """What a step needs to find the stage account's lookup role (`lookup_role_arn` of
    approved_change_set_check.py, which Preflight uses too, builds the ARN from these): a role ARN
    among a project's properties would read as a role the project passes."""
    stack = stage.stack
    return {
        "STAGE_ACCOUNT": stack.account,
        "STAGE_REGION": stack.region,
        "STAGE_PARTITION": cdk.Aws.PARTITION,
    }


def assume_lookup_role(stage: UploadApiStage) -> iam.PolicyStatement:
    """The one grant of a step that reads its stage through the stage account's read-only lookup role."""
    return iam.PolicyStatement(
        sid="AssumeTheStageAccountsLookupRole",
        actions=["sts:AssumeRole"],
        resources=[bootstrap_role_arn(stage, "lookup")],
    )


def lookup_role_step(
    step_id: str,
    *,
    stage: UploadApiStage,
    source: pipelines.IFileSetProducer,
    role: iam.IRole,
    env: Mapping[str, str],
    commands: Sequence[str],
    runtime_versions: dict[str, str],
) -> pipelines.CodeBuildStep:
    """A step that reads its stage through the stage account's lookup role: `env` plus what finds
    that role, its one grant (assume it), the build image's runtimes, ten minutes."""
    return pipelines.CodeBuildStep(
        step_id,
        input=source,
        role=role,
        env={**env, "BOOTSTRAP_QUALIFIER": bootstrap_qualifier(stage), **lookup_role_env(stage)},
        commands=list(commands),
        partial_build_spec=codebuild.BuildSpec.from_object(
            {"phases": {"install": {"runtime-versions": runtime_versions}}}
        ),
        role_policy_statements=[assume_lookup_role(stage)],
        timeout=cdk.Duration.minutes(10),
    )
