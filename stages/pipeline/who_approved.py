"""Who gave an approval: `<X>.Approved`, the build right after each auto-approved `<X>.Confirm`.

Three approvals in this pipeline approve themselves when nothing needs a person, and wait for one
otherwise: PipelineChange.Confirm (PipelineChangeGate's check approves it itself) and each stage's
`<Stage>PermissionsCheck.Confirm` (CDK Pipelines' ConfirmPermissionsBroadening: its `cdk diff
--security-only` build invokes the CDKPipelinesAutoApprove function, which approves it as its own
role). Anyone allowed to call codepipeline:PutApprovalResult on such an approval can approve it too.
So right after each, before anything the approval guards runs (UpdatePipeline's SelfMutate; the
stage's first deploy action), a build reads this execution's approval (ListActionExecutions;
CodePipeline's `updatedBy`) and fails unless it was given by a session of that approval's
auto-approver role or, when `uploadApi.pipeline.approvers` names people, through the approver role
(with no approvers named, any approval counts, as ApprovedChangeSet's). Someone who can push and
approve, but is not an approver, cannot approve their own pipeline change or permission broadening.

The judging is approved_change_set_check.py's `who-approved` (one copy of `given_through` and of the
reading), inlined into the project's buildspec at synth (embedded.py) and run with `python3 -I`
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
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from stages import compliance
from stages.pipeline import approved_change_set_check as check
from stages.pipeline.approved_change_set import grant_listing_action_executions
from stages.pipeline.embedded import write_out
from stages.pipeline.patches.acknowledgements import acknowledge_grants, own_codebuild_resources
from stages.pipeline.patches.generated import (
    default_child,
    expect,
    nag_resource,
    only,
    patch_of,
    role_of,
)
from stages.pipeline.self_mutation_gate import (
    APPROVAL_ACTION,
    ARTIFACT_READ_GRANTS,
    gate_stage_project,
    read_only_artifact_key,
)

CONFIRM, APPROVED = "Confirm", "Approved"
# CDK Pipelines' auto-approve function (one for every ConfirmPermissionsBroadening of the pipeline).
AUTO_APPROVE_FUNCTION = "CDKPipelinesAutoApprove"
CHECK_SCRIPT = Path(check.__file__)


def approved_action(approval_action: str) -> str:
    """`<X>.Approved` for the approval `<X>.Confirm`."""
    prefix, dot, last = approval_action.rpartition(".")
    if not dot or last != CONFIRM:
        raise ValueError(f"{approval_action!r}: an approval this checks is named <X>.{CONFIRM}")
    return f"{prefix}.{APPROVED}"


APPROVED_ACTION = approved_action(APPROVAL_ACTION)  # PipelineChange.Approved


def permissions_check_actions(stage_name: str) -> tuple[str, str]:
    """A stage's ConfirmPermissionsBroadening actions, as CDK Pipelines names them: (check, approval)."""
    return f"{stage_name}PermissionsCheck.Check", f"{stage_name}PermissionsCheck.{CONFIRM}"


@patch_of("auto-approve function (ConfirmPermissionsBroadening's CDKPipelinesAutoApprove)")
def auto_approver_role(pipeline: IConstruct) -> iam.IRole:
    """The role of the pipeline stack's one CDKPipelinesAutoApprove function (its approvals are its
    sessions); synth fails unless there is exactly one."""
    stack = cdk.Stack.of(pipeline)
    functions = [
        c
        for c in stack.node.find_all()
        if isinstance(c, lambda_.Function) and c.node.id == AUTO_APPROVE_FUNCTION and cdk.Stack.of(c) is stack
    ]
    function = only(
        functions,
        pipeline,
        f"{AUTO_APPROVE_FUNCTION} function in {stack.stack_name} (ConfirmPermissionsBroadening's "
        "auto-approver: each <Stage>PermissionsCheck.Approved accepts its role's sessions)",
    )
    return role_of(function, function.role)


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


class WhoApproved(Construct):
    """The project and role judging who gave `stage_name`/`approval_action`; `add_to` puts the action
    into that stage right after the approval."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage_name: str,
        approval_action: str,
        input_from: str,
        auto_approver: iam.IRole,
        auto_approver_is: str,
        message_of_input: bool = False,
        approver_role_arn: str | None,
        build_logs: logs.ILogGroup,
        artifact_bucket: s3.IBucket,
        build_image: codebuild.IBuildImage,
    ) -> None:
        """`input_from`: the action whose input artifact this one takes (CodeBuild needs one; it is
        never read); `auto_approver_is`: what `auto_approver` is, for descriptions;
        `message_of_input`: the auto-approver's approval counts only when `input_from` (a permission
        check) exported the message that nothing broadens."""
        super().__init__(scope, construct_id)
        self.message_of_input = message_of_input
        self.stage_name, self.approval_action, self.input_from = stage_name, approval_action, input_from
        self.action_name = approved_action(approval_action)
        self.artifact_bucket = artifact_bucket
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description=(
                f"CodeBuild role of {stage_name}'s {self.action_name}: lists this pipeline's action "
                "executions; assumes no role"
            ),
        )
        variables = {
            "APPROVAL_STAGE": stage_name,
            "APPROVAL_ACTION": approval_action,
            # The approval's auto-approver approves it as a session of this role.
            check.AUTO_APPROVER_ENV: auto_approver.role_arn,
            # Only approvals given through the approver role count (when approvers are named).
            **({check.APPROVER_ENV: approver_role_arn} if approver_role_arn else {}),
        }
        self.project = gate_stage_project(
            self,
            description=f"{stage_name}: was {approval_action} approved by {auto_approver_is} or an approver?",
            role=self.role,
            build_spec=approved_build_spec(),
            variables=variables,
            build_logs=build_logs,
            artifact_bucket=artifact_bucket,
            build_image=build_image,
            timeout=cdk.Duration.minutes(5),
        )

    def add_to(self, pipeline: codepipeline.Pipeline) -> None:
        """Right after the approval (the next run order); every later action of the stage one later."""
        stage = only(
            (s for s in pipeline.stages if s.stage_name == self.stage_name),
            pipeline,
            f"stage {self.stage_name}",
        )
        source = self._action(pipeline, stage, self.input_from)
        confirm = self._action(pipeline, stage, self.approval_action)
        inputs = source.action_properties.inputs or []
        expect(len(inputs) == 1, pipeline, f"{self.input_from} with one input artifact")
        run_order = int(confirm.action_properties.run_order or 1) + 1
        later = [
            a.action_properties.action_name
            for a in stage.actions
            if int(a.action_properties.run_order or 1) >= run_order
        ]
        stage.add_action(
            actions.CodeBuildAction(
                action_name=self.action_name,
                project=self.project,
                # CodeBuild requires an input; the build never reads it.
                input=inputs[0],
                run_order=run_order,
                environment_variables={
                    "PIPELINE_EXECUTION_ID": codebuild.BuildEnvironmentVariable(
                        value=codepipeline.GlobalVariables.EXECUTION_ID
                    ),
                    **self._check_message(pipeline, source),
                },
            )
        )
        run_later(pipeline, stage_name=self.stage_name, action_names=later)
        grant_listing_action_executions(self, "ListPolicy", self.role, pipeline)
        read_only_artifact_key(self.role)
        self._acknowledge()

    def _check_message(
        self, pipeline: codepipeline.Pipeline, check_action: codepipeline.IAction
    ) -> dict[str, codebuild.BuildEnvironmentVariable]:
        """This execution's MESSAGE of the permission check (its variables namespace), when asked."""
        if not self.message_of_input:
            return {}
        namespace = check_action.action_properties.variables_namespace
        expect(bool(namespace), pipeline, f"{self.input_from} with a variables namespace (its MESSAGE)")
        return {
            check.CHECK_MESSAGE_ENV: codebuild.BuildEnvironmentVariable(value=f"#{{{namespace}.MESSAGE}}")
        }

    def _action(
        self, pipeline: codepipeline.Pipeline, stage: codepipeline.IStage, name: str
    ) -> codepipeline.IAction:
        return only(
            (a for a in stage.actions if a.action_properties.action_name == name),
            pipeline,
            f"{name} action in {self.stage_name}",
        )

    def _acknowledge(self) -> None:
        """Its own logs and its input artifact's read, as every read-only step's."""
        stack = cdk.Stack.of(self)
        grants = {
            **own_codebuild_resources(self.project),
            nag_resource(stack, f"{self.artifact_bucket.bucket_arn}/*"): compliance.PIPELINE_ARTIFACTS,
            **{grant: compliance.PIPELINE_ARTIFACTS for grant in ARTIFACT_READ_GRANTS},
        }
        acknowledge_grants(self.role, grants)


@patch_of("the pipeline's stage actions' run orders (an action put in after the approval)")
def run_later(pipeline: codepipeline.Pipeline, *, stage_name: str, action_names: list[str]) -> None:
    """Each of `action_names` in `stage_name` one run order later (the L2 stage fixes an action's
    run order when it is added: the template's RunOrder is overridden)."""
    cfn = default_child(pipeline, codepipeline.CfnPipeline)
    stages = cdk.Stack.of(pipeline).resolve(cfn.stages)
    i, stage = only(
        ((i, s) for i, s in enumerate(stages) if s["name"] == stage_name), pipeline, f"stage {stage_name}"
    )
    for name in action_names:
        j, action = only(
            ((j, a) for j, a in enumerate(stage["actions"]) if a["name"] == name),
            pipeline,
            f"action {name} in stage {stage_name}",
        )
        cfn.add_property_override(f"Stages.{i}.Actions.{j}.RunOrder", int(action.get("runOrder") or 1) + 1)
