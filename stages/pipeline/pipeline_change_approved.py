"""Who approved the pipeline change: `PipelineChange.Approved`, after PipelineChange.Confirm.

PipelineChange.Confirm is a manual approval anyone allowed to call codepipeline:PutApprovalResult on
it can approve. PipelineChange.Check approves it itself when the change needs no person; otherwise
an approver must. This build, in the gate's stage after the approval and before UpdatePipeline,
reads this execution's approval (ListActionExecutions; CodePipeline's `updatedBy`) and fails unless
it was given by a session of PipelineChange.Check's role or, when `uploadApi.pipeline.approvers`
names people, through the approver role (with no approvers named, any approval counts, as
ApprovedChangeSet's). So someone who can push and approve, but is not an approver, cannot approve
their own pipeline change: SelfMutate never runs.

The judging is approved_change_set_check.py's `who-approved` (one copy of `given_through` and of the
reading), inlined into this project's buildspec at synth (embedded.py) and run with `python3 -I`
from a directory of its own: the copy that runs is the deployed pipeline's, and nothing of the
commit's runs (the action's input artifact, which CodeBuild requires, is never read). Its role may
list this pipeline's action executions and nothing else.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stages import compliance
from stages.pipeline import approved_change_set_check as check
from stages.pipeline.approved_change_set import grant_listing_action_executions
from stages.pipeline.embedded import write_out
from stages.pipeline.patches.acknowledgements import acknowledge_grants, own_codebuild_resources
from stages.pipeline.patches.generated import expect, nag_resource, only
from stages.pipeline.self_mutation_gate import (
    APPROVAL_ACTION,
    ARTIFACT_READ_GRANTS,
    CHECK_ACTION,
    GATE_STAGE,
    gate_stage_project,
    read_only_artifact_key,
)

APPROVED_ACTION = "PipelineChange.Approved"
CHECK_SCRIPT = Path(check.__file__)


def approved_build_spec(script: Path = CHECK_SCRIPT) -> dict[str, object]:
    """The check written into a directory of its own and run there, isolated: nothing of the input."""
    return {
        "version": "0.2",
        "phases": {
            "build": {
                "commands": [
                    'CHECK_DIR="$(mktemp -d)"',
                    write_out(script, '"$CHECK_DIR/approved_change_set.py"'),
                    f'cd "$CHECK_DIR" && python3 -I approved_change_set.py {check.WHO_APPROVED}',
                ]
            }
        },
    }


class PipelineChangeApproved(Construct):
    """The project and its role; `add_to` puts the action into the gate's stage."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        gate_role: iam.IRole,
        approver_role_arn: str | None,
        build_logs: logs.ILogGroup,
        artifact_bucket: s3.IBucket,
        build_image: codebuild.IBuildImage,
    ) -> None:
        super().__init__(scope, construct_id)
        self.artifact_bucket = artifact_bucket
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description=(
                f"CodeBuild role of {GATE_STAGE}'s {APPROVED_ACTION}: lists this pipeline's action "
                "executions; assumes no role"
            ),
        )
        variables = {
            "APPROVAL_STAGE": GATE_STAGE,
            "APPROVAL_ACTION": APPROVAL_ACTION,
            # PipelineChange.Check approves the change itself as this role's session.
            check.AUTO_APPROVER_ENV: gate_role.role_arn,
            # Only approvals given through the approver role count (when approvers are named).
            **({check.APPROVER_ENV: approver_role_arn} if approver_role_arn else {}),
        }
        self.project = gate_stage_project(
            self,
            description=f"{GATE_STAGE}: was {APPROVAL_ACTION} approved by its check or an approver?",
            role=self.role,
            build_spec=approved_build_spec(),
            variables=variables,
            build_logs=build_logs,
            artifact_bucket=artifact_bucket,
            build_image=build_image,
            timeout=cdk.Duration.minutes(5),
        )

    def add_to(self, pipeline: codepipeline.Pipeline, stage: codepipeline.IStage) -> None:
        """After PipelineChange.Confirm (the next run order), before UpdatePipeline (the next stage)."""
        check_action = only(
            (a for a in stage.actions if a.action_properties.action_name == CHECK_ACTION),
            pipeline,
            f"{CHECK_ACTION} action in {GATE_STAGE}",
        )
        confirm = only(
            (a for a in stage.actions if a.action_properties.action_name == APPROVAL_ACTION),
            pipeline,
            f"{APPROVAL_ACTION} action in {GATE_STAGE}",
        )
        inputs = check_action.action_properties.inputs or []
        expect(len(inputs) == 1, pipeline, f"{CHECK_ACTION} with one input artifact")
        stage.add_action(
            actions.CodeBuildAction(
                action_name=APPROVED_ACTION,
                project=self.project,
                # CodeBuild requires an input; the build never reads it.
                input=inputs[0],
                run_order=int(confirm.action_properties.run_order or 1) + 1,
                environment_variables={
                    "PIPELINE_EXECUTION_ID": codebuild.BuildEnvironmentVariable(
                        value=codepipeline.GlobalVariables.EXECUTION_ID
                    )
                },
            )
        )
        self._grant(pipeline)
        read_only_artifact_key(self.role)
        self._acknowledge()

    def _grant(self, pipeline: codepipeline.Pipeline) -> None:
        grant_listing_action_executions(self, "ListPolicy", self.role, pipeline)

    def _acknowledge(self) -> None:
        """Its own logs and its input artifact's read, as every read-only step's."""
        stack = cdk.Stack.of(self)
        grants = {
            **own_codebuild_resources(self.project),
            nag_resource(stack, f"{self.artifact_bucket.bucket_arn}/*"): compliance.PIPELINE_ARTIFACTS,
            **{grant: compliance.PIPELINE_ARTIFACTS for grant in ARTIFACT_READ_GRANTS},
        }
        acknowledge_grants(self.role, grants)
