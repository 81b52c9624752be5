"""<Stage>PermissionsCheck.Approved's decision (approved_change_set_check.py `who-approved`): who approved
the stage's PermissionsCheck.Confirm. CDK Pipelines' CDKPipelinesAutoApprove function approves a check
that found no broadening as a session of its role, named after the function; with approvers named,
a session of the approver role; anyone else (the permission check's own build, an insider allowed to
call PutApprovalResult) fails it. Infra: tests/infra/test_permissions_check_approved.py."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from stages.pipeline.approved_change_set_check import (
    NOTHING_BROADENS,
    WHO_APPROVED,
    Approval,
    given_through,
    judge_approver,
    main,
)

ACCOUNT = "111111111111"
# Names as CloudFormation generates them for the pipeline stack's auto-approve function and its role
# (the project's AUTO_APPROVER_ROLE_ARN is that role's Fn::GetAtt Arn, resolved when deployed).
GENERATED_PREFIX = "UploadApiPipeline-PipelinePipelinesSecurityCheckCD"
FUNCTION_ROLE_NAME = f"{GENERATED_PREFIX}-1Q2W3E4R5T6Y"
FUNCTION_NAME = f"{GENERATED_PREFIX}-AbC123dEf456"
AUTO_APPROVER = f"arn:aws:iam::{ACCOUNT}:role/{FUNCTION_ROLE_NAME}"
# A Lambda function acts as a session of its role named after the function: CodePipeline's updatedBy.
FUNCTION_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/{FUNCTION_ROLE_NAME}/{FUNCTION_NAME}"
APPROVER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/UploadApiPipeline-Approver"
APPROVER_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/UploadApiPipeline-Approver/alice"
INSIDER = f"arn:aws:sts::{ACCOUNT}:assumed-role/Developer/mallory"
# The permission check's CodeBuild role: it invokes the function, it does not approve.
CHECK_BUILD_SESSION = (
    f"arn:aws:sts::{ACCOUNT}:assumed-role/UploadApiPipeline-PipelinePipelinesSecurityCheckCD-9Z8X7C6V5B4N/"
    "AWSCodeBuild-0a1b2c3d"
)
WHERE = "Dev/DevPermissionsCheck.Confirm"
ENV = {
    "CODEBUILD_INITIATOR": "codepipeline/UploadApiPipeline-Pipeline9850B417-ABC",
    "PIPELINE_EXECUTION_ID": "exec-1",
    "APPROVAL_STAGE": "Dev",
    "APPROVAL_ACTION": "DevPermissionsCheck.Confirm",
    "AUTO_APPROVER_ROLE_ARN": AUTO_APPROVER,
    # what this execution's Dev check exported (`#{<its namespace>.MESSAGE}`): nothing broadens
    "CHECK_MESSAGE": NOTHING_BROADENS,
}
# What CDK Pipelines' check exports when `cdk diff --security-only` finds a broadening.
BROADENS = (
    "Deployment would make security-impacting changes. Click the link below to inspect them, then "
    "click Approve if all changes are expected."
)


def _judge(by: str, approver_role: str = "") -> tuple[bool, str]:
    verdict = judge_approver(
        Approval("", by), where=WHERE, auto_approver=AUTO_APPROVER, approver_role=approver_role
    )
    return verdict.passed, verdict.line


@pytest.mark.parametrize("approver_role", ["", APPROVER_ROLE])
def test_the_auto_approve_functions_approval_passes(approver_role):
    assert _judge(FUNCTION_SESSION, approver_role) == (
        True,
        f"PASS: {WHERE} was approved by its auto-approver's role: {FUNCTION_SESSION}",
    )


def test_with_approvers_an_approval_through_the_approver_role_passes():
    assert _judge(APPROVER_SESSION, APPROVER_ROLE) == (
        True,
        f"PASS: {WHERE} was approved through the approver role: {APPROVER_SESSION}",
    )


@pytest.mark.parametrize(
    "by",
    [
        INSIDER,
        f"arn:aws:iam::{ACCOUNT}:user/mallory",
        CHECK_BUILD_SESSION,
        # the function's role name in another account; a role whose name only starts like it
        f"arn:aws:sts::999999999999:assumed-role/{FUNCTION_ROLE_NAME}/{FUNCTION_NAME}",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/{FUNCTION_ROLE_NAME}X/{FUNCTION_NAME}",
        "",
    ],
)
def test_with_approvers_a_stranger_fails_in_one_line_naming_them(by):
    passed, line = _judge(by, APPROVER_ROLE)
    assert not passed
    assert "\n" not in line
    assert line.startswith(f"FAIL: {WHERE} was approved by {by or 'a principal CodePipeline did not name'}, ")
    assert AUTO_APPROVER in line
    assert APPROVER_ROLE in line


@pytest.mark.parametrize(
    "role_arn",
    [
        AUTO_APPROVER,
        # a role with a path: STS drops it from the session's ARN
        f"arn:aws:iam::{ACCOUNT}:role/service-role/{FUNCTION_ROLE_NAME}",
    ],
)
def test_the_functions_session_is_given_through_its_roles_arn(role_arn):
    assert given_through(FUNCTION_SESSION, role_arn)


@pytest.mark.parametrize(
    "role_arn", ["${Token[TOKEN.123]}", "", FUNCTION_ROLE_NAME, f"<{FUNCTION_ROLE_NAME}.Arn>"]
)
def test_a_role_arn_that_is_not_one_matches_nobody(role_arn):
    # GIVEN a value that is no role ARN (an unresolved token, a bare name) THEN no session matches it,
    # the function's included: the check fails closed
    assert not given_through(FUNCTION_SESSION, role_arn)
    verdict = judge_approver(
        Approval("", FUNCTION_SESSION), where=WHERE, auto_approver=role_arn, approver_role=APPROVER_ROLE
    )
    assert not verdict.passed


class _Cli:
    """The AWS CLI answering ListActionExecutions with `details`."""

    def __init__(self, details: list[dict]) -> None:
        self.details = details

    def __call__(self, arguments: list[str], env: Mapping[str, str]) -> str:
        return json.dumps({"actionExecutionDetails": self.details})


def _confirm(by: str, stage: str = "Dev") -> dict:
    return {
        "pipelineExecutionId": "exec-1",
        "stageName": stage,
        "actionName": f"{stage}PermissionsCheck.Confirm",
        "status": "Succeeded",
        "lastUpdateTime": 1,
        "updatedBy": by,
    }


@pytest.mark.parametrize(
    ("by", "code"), [(FUNCTION_SESSION, 0), (APPROVER_SESSION, 0), (INSIDER, 1), (CHECK_BUILD_SESSION, 1)]
)
def test_main_judges_this_executions_approval_of_the_stages_permission_check(by, code, capsys):
    env = {**ENV, "APPROVER_ROLE_ARN": APPROVER_ROLE}
    # GIVEN this execution's approval of Dev's check, and Prod's approved by the function
    details = [_confirm(by), _confirm(FUNCTION_SESSION, "Prod")]
    # THEN Dev's approval is the one judged
    assert main(env, _Cli(details), [WHO_APPROVED]) == code
    assert capsys.readouterr().out.startswith(("PASS: " if code == 0 else "FAIL: ") + WHERE)


@pytest.mark.parametrize("message", [BROADENS, ""])
@pytest.mark.parametrize("approver_role", ["", APPROVER_ROLE])
def test_the_functions_approval_after_a_check_that_found_a_broadening_fails(message, approver_role):
    # GIVEN this execution's check did not find the change harmless (a person's approval was due), and
    # the function approved anyway: it approves whatever approval waits when it acts, such as this
    # one, armed by an earlier execution's harmless check
    verdict = judge_approver(
        Approval("", FUNCTION_SESSION),
        where=WHERE,
        auto_approver=AUTO_APPROVER,
        approver_role=approver_role,
        check_message=message,
    )
    # THEN the approval does not count, with or without approvers named
    assert not verdict.passed
    assert verdict.line.startswith(f"FAIL: {WHERE}: this execution's check did not find the change harmless")
    assert f"auto-approver's role approved it ({FUNCTION_SESSION};" in verdict.line
    assert "\n" not in verdict.line


def test_an_approver_may_approve_a_broadening(capsys):
    env = {**ENV, "APPROVER_ROLE_ARN": APPROVER_ROLE, "CHECK_MESSAGE": BROADENS}
    assert main(env, _Cli([_confirm(APPROVER_SESSION)]), [WHO_APPROVED]) == 0


def test_main_fails_the_functions_approval_of_a_broadening(capsys):
    # GIVEN Dev's check reported a broadening and the function's session approved Dev's Confirm
    env = {**ENV, "APPROVER_ROLE_ARN": APPROVER_ROLE, "CHECK_MESSAGE": BROADENS}
    # THEN the step fails: the broadening does not deploy
    assert main(env, _Cli([_confirm(FUNCTION_SESSION)]), [WHO_APPROVED]) == 1
    assert "did not find the change harmless" in capsys.readouterr().out
