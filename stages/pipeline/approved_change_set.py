"""Prod's approval bound to the change set it approved: `UploadApi.ApprovedChangeSet`.

The step runs after PromoteToProd and before the Deploy action that executes change set
PipelineChange (CDK Pipelines' change-set steps of the prod stack). The approver pasted the change
set's id into the approval's comment; the check (approved_change_set_check.py) reads that comment
(ListActionExecutions of this execution) and the change set (DescribeChangeSet through the stage
account's read-only CDK lookup role) and fails unless they name the same change set, and, when
approvers are named, unless the approval was given through the approver role. The check is
inlined into the step's buildspec at synth (embedded.py) and run with python3 and the AWS CLI: the
copy that runs is the deployed pipeline's, and nothing from the commit's source artifact (the step's
input, which it never reads) runs. Its role may list this pipeline's action executions and assume
that lookup role, nothing else.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_iam as iam
from aws_cdk import pipelines
from constructs import Construct

from stages.pipeline import approved_change_set_check
from stages.pipeline.bootstrap import lookup_role_step
from stages.pipeline.embedded import write_out
from stages.upload_stage import UploadApiStage

STEP_ID = "ApprovedChangeSet"
CHECK_SCRIPT = Path(approved_change_set_check.__file__)


def check_commands(script: Path = CHECK_SCRIPT) -> list[str]:
    """Write the deployed check out of the buildspec and run it: python3 and the AWS CLI, nothing else.
    It runs from its own directory, not the source artifact's (pyenv would read a `.python-version`
    the commit put there)."""
    return [
        'CHECK_DIR="$(mktemp -d)"',
        write_out(script, '"$CHECK_DIR/approved_change_set.py"'),
        # -I: nothing but the standard library on sys.path, no PYTHON* variables.
        'cd "$CHECK_DIR" && python3 -I approved_change_set.py',
    ]


class ApprovedChangeSetStep:
    """The step and its role; `grant` names the pipeline once it is built."""

    def __init__(
        self,
        scope: Construct,
        *,
        stage: UploadApiStage,
        approval: pipelines.Step,
        change_set_name: str,
        source: pipelines.IFileSetProducer,
        runtime_versions: dict[str, str],
        approver_role_arn: str | None = None,
    ) -> None:
        stack = stage.stack
        self.scope = scope
        self.role = iam.Role(
            scope,
            f"{stage.stage_name}{STEP_ID}Role",
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description=(
                f"CodeBuild role of {stage.stage_name}'s {STEP_ID}: lists this pipeline's action executions, "
                "assumes the stage account's read-only lookup role"
            ),
        )
        self.step = lookup_role_step(
            STEP_ID,
            stage=stage,
            source=source,
            role=self.role,
            env={
                # CodePipeline puts this execution's id in the action's environment.
                "PIPELINE_EXECUTION_ID": codepipeline.GlobalVariables.EXECUTION_ID,
                "APPROVAL_STAGE": stage.stage_name,
                "APPROVAL_ACTION": f"{stack.node.id}.{approval.id}",
                "STACK_NAME": stack.stack_name,
                "CHANGE_SET_NAME": change_set_name,
                # Only approvals given through the approver role count (when approvers are named).
                **({approved_change_set_check.APPROVER_ENV: approver_role_arn} if approver_role_arn else {}),
            },
            commands=check_commands(),
            runtime_versions=runtime_versions,
        )
        # After the approval, before the deploy (both are the stack's change-set steps).
        self.step.add_step_dependency(approval)

    def grant(self, pipeline: codepipeline.Pipeline) -> None:
        grant_listing_action_executions(self.scope, f"{self.role.node.id}ListPolicy", self.role, pipeline)


def grant_listing_action_executions(
    scope: Construct, construct_id: str, role: iam.IRole, pipeline: codepipeline.Pipeline
) -> None:
    """In a policy of its own: the pipeline names the project, so the role's default policy (which
    the project waits for) cannot name the pipeline. The execution id comes from CodePipeline."""
    iam.Policy(
        scope,
        construct_id,
        roles=[role],
        statements=[
            iam.PolicyStatement(
                sid="ListThisPipelinesActionExecutions",
                actions=["codepipeline:ListActionExecutions"],
                resources=[pipeline.pipeline_arn],
            )
        ],
    )
