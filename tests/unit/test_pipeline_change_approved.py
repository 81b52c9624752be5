"""PipelineChange.Approved's decision (approved_change_set_check.py `who-approved`): who approved
PipelineChange.Confirm. The gate's check (a session of its CodeBuild role) or, with approvers named,
a session of the approver role; with no approvers named, anyone. The same check against the emulator
through the real CLI: tests/rehearse/test_change_gate.py."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from stages.pipeline.approved_change_set_check import (
    WHO_APPROVED,
    Approval,
    check_who_approved,
    judge_approver,
    main,
)

GATE_ROLE_NAME = "UploadApiPipeline-PipelineChangeGateRoleA1B2-XYZ"
GATE_ROLE = f"arn:aws:iam::111111111111:role/{GATE_ROLE_NAME}"
APPROVER_ROLE = "arn:aws:iam::111111111111:role/UploadApiPipeline-Approver"
GATE_SESSION = (
    "arn:aws:sts::111111111111:assumed-role/UploadApiPipeline-PipelineChangeGateRoleA1B2-XYZ/AWSCodeBuild-1"
)
APPROVER_SESSION = "arn:aws:sts::111111111111:assumed-role/UploadApiPipeline-Approver/alice"
MALLORY = "arn:aws:sts::111111111111:assumed-role/Developer/mallory"
WHERE = "PipelineChangeGate/PipelineChange.Confirm"
ENV = {
    "CODEBUILD_INITIATOR": "codepipeline/UploadApiPipeline-Pipeline9850B417-ABC",
    "PIPELINE_EXECUTION_ID": "exec-1",
    "APPROVAL_STAGE": "PipelineChangeGate",
    "APPROVAL_ACTION": "PipelineChange.Confirm",
    "AUTO_APPROVER_ROLE_ARN": GATE_ROLE,
}


def _judge(by: str, approver_role: str = "") -> tuple[bool, str]:
    verdict = judge_approver(
        Approval("", by), where=WHERE, auto_approver=GATE_ROLE, approver_role=approver_role
    )
    return verdict.passed, verdict.line


@pytest.mark.parametrize("approver_role", ["", APPROVER_ROLE])
def test_the_gates_own_approval_passes(approver_role):
    passed, line = _judge(GATE_SESSION, approver_role)
    assert passed
    assert line == f"PASS: {WHERE} was approved by its auto-approver's role: {GATE_SESSION}"


def test_with_approvers_a_session_of_the_approver_role_passes():
    assert _judge(APPROVER_SESSION, APPROVER_ROLE) == (
        True,
        f"PASS: {WHERE} was approved through the approver role: {APPROVER_SESSION}",
    )


@pytest.mark.parametrize(
    "by",
    [
        MALLORY,
        "arn:aws:iam::111111111111:user/mallory",
        # another account's role of the same name, and a role whose name only starts like the gate's
        "arn:aws:sts::999999999999:assumed-role/UploadApiPipeline-Approver/alice",
        f"arn:aws:sts::111111111111:assumed-role/{GATE_ROLE_NAME}2/s",
        "",
    ],
)
def test_with_approvers_another_principal_fails_in_one_line_naming_it(by):
    passed, line = _judge(by, APPROVER_ROLE)
    assert not passed
    assert "\n" not in line
    assert line.startswith(f"FAIL: {WHERE} was approved by {by or 'a principal CodePipeline did not name'}, ")
    assert GATE_ROLE in line
    assert APPROVER_ROLE in line


@pytest.mark.parametrize("by", [MALLORY, APPROVER_SESSION, ""])
def test_with_no_approvers_named_any_approval_counts(by):
    passed, line = _judge(by)
    assert passed
    assert "no approvers named: any approval counts" in line


class _Cli:
    """The AWS CLI answering ListActionExecutions with `details`, keeping each call's arguments."""

    def __init__(self, details: list[dict]) -> None:
        self.details, self.calls = details, []

    def __call__(self, arguments: list[str], env: Mapping[str, str]) -> str:
        self.calls.append(arguments)
        return json.dumps({"actionExecutionDetails": self.details})


def _confirm(by: str, at: int, status: str = "Succeeded") -> dict:
    return {
        "pipelineExecutionId": "exec-1",
        "stageName": "PipelineChangeGate",
        "actionName": "PipelineChange.Confirm",
        "status": status,
        "lastUpdateTime": at,
        "updatedBy": by,
    }


def test_it_reads_this_executions_last_approval_of_confirm():
    # GIVEN the gate's approval, then (a retried stage) an approval by someone else
    cli = _Cli([_confirm(GATE_SESSION, 1), _confirm(MALLORY, 2), _confirm(APPROVER_SESSION, 3, "Failed")])
    # WHEN judged with approvers named THEN the last succeeded one counts, and it fails
    verdict = check_who_approved({**ENV, "APPROVER_ROLE_ARN": APPROVER_ROLE}, cli)
    assert not verdict.passed
    assert MALLORY in verdict.line
    assert cli.calls == [
        [
            "codepipeline", "list-action-executions",
            "--pipeline-name", "UploadApiPipeline-Pipeline9850B417-ABC",
            "--filter", "pipelineExecutionId=exec-1",
        ]
    ]  # fmt: skip


def test_main_exits_1_on_another_principal_and_0_on_the_gate(capsys):
    env = {**ENV, "APPROVER_ROLE_ARN": APPROVER_ROLE}
    assert main(env, _Cli([_confirm(MALLORY, 1)]), [WHO_APPROVED]) == 1
    assert capsys.readouterr().out.startswith("FAIL: ")
    assert main(env, _Cli([_confirm(GATE_SESSION, 1)]), [WHO_APPROVED]) == 0


def test_main_exits_2_without_the_gates_role_or_on_an_unknown_argument(capsys):
    env = {k: v for k, v in ENV.items() if k != "AUTO_APPROVER_ROLE_ARN"}
    assert main(env, _Cli([_confirm(GATE_SESSION, 1)]), [WHO_APPROVED]) == 2
    assert "set AUTO_APPROVER_ROLE_ARN" in capsys.readouterr().err
    assert main(ENV, _Cli([]), ["approve-anything"]) == 2
    assert "arguments: none, or who-approved" in capsys.readouterr().err


def test_no_approval_of_confirm_in_this_execution_cannot_ask(capsys):
    assert main(ENV, _Cli([]), [WHO_APPROVED]) == 2
    assert "no approved PipelineChangeGate/PipelineChange.Confirm" in capsys.readouterr().err
