"""<Stage>PermissionsCheck.Approved in the synthesized pipeline: in Dev and Prod, right after the stage's
PermissionsCheck.Confirm and before its first deploy action; told whose approvals count (the role of CDK
Pipelines' CDKPipelinesAutoApprove function, and the approver role when approvers are named). Its
buildspec and role are PipelineChange.Approved's (test_pipeline_change_approved.py runs those tests
for all three); stages/pipeline/who_approved.py; the decision: tests/unit/test_permissions_check_approved.py.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stages.guardrails import APPROVER_ROLE_NAME
from stages.pipeline import approved_change_set_check as check
from stages.pipeline.patches.generated import GeneratedConstructChanged
from stages.pipeline.who_approved import auto_approver_role

from .conftest import SynthesizedApp, as_text
from .test_approvals import approver_app  # noqa: F401 - the fixture: the app with approvers named

pytestmark = pytest.mark.synth

STAGES = ("Dev", "Prod")
# Each stage's actions in run order, as the pipeline runs them: Approved between Confirm and Prepare.
RUN_ORDERS = {
    "Dev": [
        ("DevPreflight", 1),
        ("DevPermissionsCheck.Check", 2),
        ("DevPermissionsCheck.Confirm", 3),
        ("DevPermissionsCheck.Approved", 4),
        ("UploadApi.Prepare", 5),
        ("UploadApi.JudgedChangeSet", 6),
        ("UploadApi.Deploy", 7),
        ("VerifyDev", 8),
    ],
    "Prod": [
        ("ProdPreflight", 1),
        ("ProdPermissionsCheck.Check", 2),
        ("ProdPermissionsCheck.Confirm", 3),
        ("ProdPermissionsCheck.Approved", 4),
        ("UploadApi.Prepare", 5),
        ("UploadApi.JudgedChangeSet", 6),
        ("UploadApi.PromoteToProd", 7),
        ("UploadApi.ApprovedChangeSet", 8),
        ("UploadApi.Deploy", 9),
        ("VerifyProd", 10),
    ],
}


def approved(app: SynthesizedApp, stage: str) -> dict[str, Any]:
    (action,) = [a for a in app.actions(stage) if a["Name"] == f"{stage}PermissionsCheck.Approved"]
    return action


def environment(app: SynthesizedApp, stage: str) -> dict[str, str]:
    project = app.resources[app.project_id(approved(app, stage))]["Properties"]
    return {v["Name"]: as_text(v["Value"]) for v in project["Environment"]["EnvironmentVariables"]}


def _auto_approver_role_id(app: SynthesizedApp) -> str:
    (function,) = [
        f for lid, f in app.of_type("AWS::Lambda::Function").items() if "CDKPipelinesAutoApprove" in lid
    ]
    return str(function["Properties"]["Role"]["Fn::GetAtt"][0])


@pytest.mark.parametrize("stage", STAGES)
def test_it_runs_after_the_permission_check_and_before_the_stage_deploys(pipeline_app, stage):
    actions = pipeline_app.actions(stage)
    # THEN every action of the stage in run order: Approved right after Confirm, the rest one later
    assert sorted((a["Name"], a["RunOrder"]) for a in actions) == sorted(RUN_ORDERS[stage])
    action = approved(pipeline_app, stage)
    assert action["ActionTypeId"]["Provider"] == "CodeBuild"
    # AND no CloudFormation action (creating or executing the change set) starts before it ends
    deploys = [a for a in actions if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    assert deploys
    assert min(a["RunOrder"] for a in deploys) > action["RunOrder"]


@pytest.mark.parametrize("stage", STAGES)
def test_it_reads_this_executions_permission_check_approval(pipeline_app, stage):
    (check_action,) = [
        a for a in pipeline_app.actions(stage) if a["Name"] == f"{stage}PermissionsCheck.Check"
    ]
    variables = json.loads(approved(pipeline_app, stage)["Configuration"]["EnvironmentVariables"])
    # THEN this execution's id, and the MESSAGE this execution's check exported (CodePipeline resolves it)
    assert variables == [
        {
            "name": "PIPELINE_EXECUTION_ID",
            "type": "PLAINTEXT",
            "value": "#{codepipeline.PipelineExecutionId}",
        },
        {
            "name": check.CHECK_MESSAGE_ENV,
            "type": "PLAINTEXT",
            "value": f"#{{{check_action['Namespace']}.MESSAGE}}",
        },
    ]
    found = environment(pipeline_app, stage)
    assert (found["APPROVAL_STAGE"], found["APPROVAL_ACTION"]) == (stage, f"{stage}PermissionsCheck.Confirm")


@pytest.mark.parametrize("stage", STAGES)
def test_the_auto_approve_functions_role_is_the_one_whose_approval_counts(pipeline_app, stage):
    # GIVEN CDK Pipelines' auto-approve function's role (it approves a check that found no broadening)
    role_id = _auto_approver_role_id(pipeline_app)
    # THEN that role's ARN is the auto-approver (a session of it is the function's approval), and (no
    # approvers named) no approver role is required
    found = environment(pipeline_app, stage)
    assert found[check.AUTO_APPROVER_ENV] == f"<{role_id}.Arn>"
    assert check.APPROVER_ENV not in found
    # AND not the role of the permission check's build (it only invokes the function)
    check_build = [a for a in pipeline_app.actions(stage) if a["Name"] == f"{stage}PermissionsCheck.Check"]
    check_role = pipeline_app.resources[pipeline_app.project_id(check_build[0])]["Properties"]["ServiceRole"]
    assert check_role["Fn::GetAtt"][0] != role_id


@pytest.mark.parametrize("stage", STAGES)
def test_with_approvers_it_requires_the_approver_role(approver_app, stage):  # noqa: F811
    found = environment(approver_app, stage)
    assert (
        found[check.APPROVER_ENV] == f"arn:<AWS::Partition>:iam::<AWS::AccountId>:role/{APPROVER_ROLE_NAME}"
    )
    assert found[check.AUTO_APPROVER_ENV] == f"<{_auto_approver_role_id(approver_app)}.Arn>"


def _stack_with_auto_approvers(count: int) -> cdk.Stack:
    stack = cdk.Stack(cdk.App(), "Pipeline")
    for i in range(count):
        lambda_.Function(
            Construct(stack, f"Check{i}"),
            "CDKPipelinesAutoApprove",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context): pass"),
        )
    return stack


def test_it_finds_the_one_auto_approve_functions_role():
    stack = _stack_with_auto_approvers(1)
    (function,) = [c for c in stack.node.find_all() if isinstance(c, lambda_.Function)]
    assert function.role is not None
    assert auto_approver_role(stack).node.path == function.role.node.path


@pytest.mark.parametrize("count", [0, 2])
def test_synth_fails_naming_the_auto_approver_unless_there_is_exactly_one(count):
    # GIVEN a pipeline stack without CDK Pipelines' auto-approve function, or with two
    stack = _stack_with_auto_approvers(count)
    # WHEN the Approved steps look for its role THEN synth fails, naming what it looked for and the patch
    with pytest.raises(GeneratedConstructChanged) as raised:
        auto_approver_role(stack)
    message = str(raised.value)
    assert "exactly one CDKPipelinesAutoApprove function in Pipeline" in message
    assert f"(found {count})" in message
    assert "auto_approver_role" in message


def test_the_check_exports_the_message_the_step_takes_for_nothing_broadens(pipeline_app):
    # GIVEN CDK Pipelines' permission-check project: it exports MESSAGE, and invokes the auto-approve
    # function only when `cdk diff --security-only` passes
    (project,) = [
        p for lid, p in pipeline_app.of_type("AWS::CodeBuild::Project").items() if "CDKSecurityCheck" in lid
    ]
    buildspec = json.dumps(project["Properties"]["Source"]["BuildSpec"])
    # THEN that branch exports exactly the message the step accepts (a CDK upgrade changing it fails here,
    # not every auto-approved check in the pipeline)
    assert f'export MESSAGE=\\\\\\"{check.NOTHING_BROADENS}\\\\\\"' in buildspec


def test_the_gates_step_takes_no_check_message(pipeline_app):
    # PipelineChange.Check approves its own approval only after judging this execution's artifact
    (action,) = [
        a for a in pipeline_app.actions("PipelineChangeGate") if a["Name"] == "PipelineChange.Approved"
    ]
    assert check.CHECK_MESSAGE_ENV not in action["Configuration"]["EnvironmentVariables"]
