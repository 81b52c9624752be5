"""With approvers named, each stage's PermissionsCheck.Approved accepts only CDK Pipelines' auto-approve
function's approval of the stage's PermissionsCheck.Confirm (a session of the function's role, named
after the function, as a Lambda function acts) or one given through the approver role: an insider
allowed to call PutApprovalResult who approves a permission broadening themselves fails the stage
before its change set is created. The deployed buildspec's check runs through the AWS CLI against
the emulator's ListActionExecutions, as PipelineChange.Approved's does (test_change_gate_approvers.py)."""

from __future__ import annotations

from typing import Any

import pytest

from stages.guardrails import APPROVER_ROLE_NAME
from stages.pipeline.approved_change_set_check import NOTHING_BROADENS
from tests.rehearse.conftest import ENV, INSIDER
from tests.rehearse.test_change_gate import STACK, commit_artifact, deployed_run, deployed_template
from tools.review_kit.rehearse import actions, approvals

pytestmark = pytest.mark.synth


def _run(app: Any, tmp_path: Any, server: tuple[Any, dict[str, str]]) -> actions.Run:
    artifact = commit_artifact(app, tmp_path)
    return deployed_run(deployed_template(artifact), artifact, tmp_path, server)


def _action(run: actions.Run, stage: str, name: str) -> Any:
    (found,) = [a for a in run.pipeline.actions if a.stage == stage and a.name == name]
    return found


def auto_approver_session(run: actions.Run) -> str:
    """CDK Pipelines' auto-approve function's approval: a session of its role, named after it."""
    resources = run.pipeline.template["Resources"]
    functions = [k for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"]
    (function_id,) = [k for k in functions if "CDKPipelinesAutoApprove" in k]
    role = str(run.pipeline.resolve(resources[function_id]["Properties"]["Role"]))
    return approvals.session_of(role, f"{STACK}-{function_id}")


def rehearse_approved(
    run: actions.Run, stage: str, by: str, check_found: str = NOTHING_BROADENS
) -> actions.Outcome:
    """The stage's PermissionsCheck.Check exported `check_found` as MESSAGE, `by` approves its
    PermissionsCheck.Confirm; then its PermissionsCheck.Approved runs."""
    run.variables[_action(run, stage, f"{stage}PermissionsCheck.Check").namespace] = {"MESSAGE": check_found}
    approvals.approve_as(run, _action(run, stage, f"{stage}PermissionsCheck.Confirm"), by)
    try:
        return actions.PROVIDERS["CodeBuild"](run, _action(run, stage, f"{stage}PermissionsCheck.Approved"))
    except actions.ActionFailed as failed:
        return actions.Outcome("fail", str(failed))


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_an_insiders_own_approval_of_a_permission_broadening_fails_the_stage(
    approver_app, tmp_path, loopback_account, stage
):
    # GIVEN an insider who approves the stage's permission check themselves
    run = _run(approver_app, tmp_path, loopback_account)
    # WHEN the stage's PermissionsCheck.Approved runs THEN it fails, naming who approved
    outcome = rehearse_approved(run, stage, INSIDER)
    assert outcome.result == "fail"
    assert f"FAIL: {stage}/{stage}PermissionsCheck.Confirm was approved by {INSIDER}, neither" in outcome.note


@pytest.mark.parametrize("who", ["the auto-approve function", "the approver role"])
def test_the_functions_approval_or_the_approver_roles_passes(approver_app, tmp_path, loopback_account, who):
    run = _run(approver_app, tmp_path, loopback_account)
    approver = approvals.session_of(f"arn:aws:iam::{ENV.account}:role/{APPROVER_ROLE_NAME}", "alice")
    by = auto_approver_session(run) if who == "the auto-approve function" else approver
    # GIVEN dev's permission check approved by `who` WHEN DevPermissionsCheck.Approved runs THEN it passes
    assert rehearse_approved(run, "Dev", by).result == "pass"


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_the_functions_approval_of_a_broadening_fails_the_stage(
    approver_app, tmp_path, loopback_account, stage
):
    # GIVEN this execution's check found a broadening (a person's approval is due) and the auto-approve
    # function approved the waiting Confirm anyway (an earlier execution's harmless check armed it)
    run = _run(approver_app, tmp_path, loopback_account)
    broadens = "Deployment would make security-impacting changes. Click the link below to inspect them."
    outcome = rehearse_approved(run, stage, auto_approver_session(run), check_found=broadens)
    # THEN the stage's PermissionsCheck.Approved fails: the broadening does not deploy
    assert outcome.result == "fail"
    assert "did not find the change harmless" in outcome.note
