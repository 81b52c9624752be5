"""Each stage's change set bound to the template its checks judged: `UploadApi.JudgedChangeSet`.

A change-set step of the stage's stack: after `UploadApi.Prepare` (the CloudFormation action that
creates change set PipelineChange from the synth artifact, running no command of its own) and before
anything executes it (Dev: Deploy; Prod: PromoteToProd, then ApprovedChangeSet and Deploy). Its input
is the synth artifact; its first command checks that artifact's digest against the one
PipelineChange.Check exported (patches/artifact_digest.py), so it is the artifact the gate and the
stage's permission check judged; then the check (judged_change_set_check.py) compares the change set's
template, read through the stage account's read-only CDK lookup role, with the stack's template file in
that artifact (the path Prepare's TemplatePath names: `check_the_prepared_template_path` fails synth
otherwise). Both scripts are inlined into the buildspec at synth (embedded.py) and run with python3 and
the AWS CLI from a directory of their own: nothing from the commit runs. Its role may assume that lookup
role, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_iam as iam
from aws_cdk import pipelines
from constructs import Construct

from stages.pipeline import approved_change_set_check, judged_change_set_check
from stages.pipeline.bootstrap import lookup_role_step
from stages.pipeline.embedded import write_out
from stages.pipeline.patches.artifact_digest import check_command
from stages.pipeline.patches.generated import default_child, expect, only, patch_of
from stages.upload_stage import UploadApiStage

STEP_ID = "JudgedChangeSet"
PREPARE = "Prepare"  # CDK Pipelines' CHANGE_SET_REPLACE action of a stack: `<stack id>.Prepare`
CHECK_SCRIPT = Path(judged_change_set_check.__file__)
SHARED_SCRIPT = Path(approved_change_set_check.__file__)  # its AWS CLI and lookup-role plumbing


def check_commands() -> list[str]:
    """The artifact's digest first (in the artifact, as every build after the gate), then the check,
    written out of the buildspec beside the module it imports and run from that directory."""
    return [
        check_command(),
        'CHECK_DIR="$(mktemp -d)"',
        write_out(SHARED_SCRIPT, '"$CHECK_DIR/approved_change_set_check.py"'),
        write_out(CHECK_SCRIPT, '"$CHECK_DIR/judged_change_set.py"'),
        # -E -s: its own directory (the shared module beside it) and the standard library on sys.path.
        'cd "$CHECK_DIR" && python3 -E -s judged_change_set.py',
    ]


def template_path(stage: UploadApiStage) -> str:
    """The stack's template inside the synth artifact, as CDK Pipelines' Prepare names it
    (`assembly-<stage path>/<stack artifact id>.template.json`)."""
    return f"{stage.artifact_id}/{stage.stack.template_file}"


def action_name(stage: UploadApiStage) -> str:
    return f"{stage.stack.node.id}.{STEP_ID}"


def judged_change_set_step(
    scope: Construct,
    *,
    stage: UploadApiStage,
    synth: pipelines.IFileSetProducer,
    change_set_name: str,
    judged_by: str,
    runtime_versions: dict[str, str],
) -> pipelines.CodeBuildStep:
    """The stage's step; `judged_by`: the check whose verdict the change set carries (named in its line)."""
    stack = stage.stack
    role = iam.Role(
        scope,
        f"{stage.stage_name}{STEP_ID}Role",
        assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
        description=(
            f"CodeBuild role of {stage.stage_name}'s {STEP_ID}: "
            "assumes the stage account's read-only lookup role"
        ),
    )
    return lookup_role_step(
        STEP_ID,
        stage=stage,
        source=synth,
        role=role,
        env={
            "STACK_NAME": stack.stack_name,
            "CHANGE_SET_NAME": change_set_name,
            "TEMPLATE_PATH": template_path(stage),
            "JUDGED_BY": judged_by,
        },
        commands=check_commands(),
        runtime_versions=runtime_versions,
    )


@patch_of("each stage's Prepare action (the template JudgedChangeSet compares)")
def check_the_prepared_template_path(
    pipeline: codepipeline.Pipeline, *, stages: Sequence[UploadApiStage]
) -> None:
    """Fails synth unless each stage's Prepare creates its change set from the file JudgedChangeSet reads,
    in the artifact JudgedChangeSet extracts (its first input)."""
    cfn = default_child(pipeline, codepipeline.CfnPipeline)
    resolved: Any = cdk.Stack.of(pipeline).resolve(cfn.stages)
    for stage in stages:
        actions = only(
            (s["actions"] for s in resolved if s["name"] == stage.stage_name),
            pipeline,
            f"stage {stage.stage_name}",
        )
        prepare = only(
            (a for a in actions if a["name"] == f"{stage.stack.node.id}.{PREPARE}"),
            pipeline,
            f"{stage.stage_name}'s {PREPARE}",
        )
        judged = only(
            (a for a in actions if a["name"] == action_name(stage)),
            pipeline,
            f"{stage.stage_name}'s {action_name(stage)}",
        )
        artifact = judged["inputArtifacts"][0]["name"]
        expect(
            (prepare.get("configuration") or {}).get("TemplatePath") == f"{artifact}::{template_path(stage)}",
            pipeline,
            f"{stage.stage_name}'s {PREPARE}: TemplatePath {artifact}::{template_path(stage)} (found "
            f"{(prepare.get('configuration') or {}).get('TemplatePath')})",
        )
