"""ApprovedChangeSet (stages/pipeline/approved_change_set_check.py): prod's change set is the one approved.

The check asks through the AWS CLI; here a fake CLI answers, keeping each call's arguments and the
environment it ran in, so the calls the deployed step makes are the ones asserted. The same check
against the emulator through the real CLI: tests/rehearse/test_approvals.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from stages.pipeline.approved_change_set_check import (
    Approval,
    AwsError,
    CannotAsk,
    check,
    given_through,
    judge,
    latest_approval,
    lookup_role_arn,
    main,
    pipeline_name,
)

CHANGE_SETS = "arn:aws:cloudformation:eu-west-1:222222222222:changeSet/PipelineChange"
CHANGE_SET = f"{CHANGE_SETS}/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
OTHER = f"{CHANGE_SETS}/11111111-2222-3333-4444-555555555555"
STACK = (
    "arn:aws:cloudformation:eu-west-1:222222222222:stack/Prod-UploadApi/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
)
ENV = {
    "CODEBUILD_INITIATOR": "codepipeline/UploadApiPipeline-Pipeline9850B417-ABC",
    "PIPELINE_EXECUTION_ID": "exec-1",
    "APPROVAL_STAGE": "Prod",
    "APPROVAL_ACTION": "UploadApi.PromoteToProd",
    "STACK_NAME": "Prod-UploadApi",
    "CHANGE_SET_NAME": "PipelineChange",
}
WHERE = "PipelineChange of Prod-UploadApi"


def _change_set(change_set_id: str = CHANGE_SET, status: str = "AVAILABLE") -> dict[str, Any]:
    return {"ChangeSetId": change_set_id, "ExecutionStatus": status, "StackId": STACK}


def _run(
    summary: str, *, action: str = "UploadApi.PromoteToProd", status: str = "Succeeded", at: int = 1
) -> dict:
    return {
        "pipelineExecutionId": "exec-1",
        "actionExecutionId": f"a-{at}",
        "stageName": "Prod",
        "actionName": action,
        "status": status,
        "lastUpdateTime": at,
        "updatedBy": "arn:aws:sts::111111111111:assumed-role/UploadApiPipeline-Approver/alice",
        "output": {"executionResult": {"externalExecutionSummary": summary}},
    }


# -- the verdict ----------------------------------------------------------------------------------


def test_the_approved_change_set_passes_naming_who_approved():
    verdict = judge(Approval(f"Looked at it: {CHANGE_SET}", "alice"), _change_set(), where=WHERE)
    assert verdict.passed
    assert verdict.line == f"PASS: change set {CHANGE_SET} is the one approved by alice"


@pytest.mark.parametrize(
    ("summary", "change_set", "says"),
    [
        pytest.param("LGTM", _change_set(), "names no change set id", id="no id"),
        pytest.param("", _change_set(), "names no change set id", id="no comment"),
        pytest.param(f"ok {OTHER}", _change_set(), f"names change set {OTHER}, but", id="another change set"),
        pytest.param(f"{CHANGE_SET} {OTHER}", _change_set(), "names 2 change set ids", id="two ids"),
        pytest.param(
            CHANGE_SET, _change_set(status="EXECUTE_COMPLETE"), "is EXECUTE_COMPLETE", id="executed"
        ),
        pytest.param(CHANGE_SET[:-1], _change_set(), "names change set", id="truncated id"),
    ],
)
def test_anything_but_the_approved_change_set_fails(summary, change_set, says):
    verdict = judge(Approval(summary, ""), change_set, where=WHERE)
    assert not verdict.passed
    assert verdict.line.startswith("FAIL: ")
    assert says in verdict.line


APPROVER_ROLE = "arn:aws:iam::111111111111:role/UploadApiPipeline-Approver"
SESSIONS = "arn:aws:sts::111111111111:assumed-role"
ALICE = f"{SESSIONS}/UploadApiPipeline-Approver/alice"


@pytest.mark.parametrize(
    ("by", "through"),
    [
        pytest.param(ALICE, True, id="a session of the role"),
        pytest.param(APPROVER_ROLE, True, id="the role itself"),
        pytest.param(f"{SESSIONS}/Admin/alice", False, id="another role"),
        pytest.param(ALICE.replace("111111111111", "999999999999"), False, id="account"),
        pytest.param(f"{SESSIONS}/UploadApiPipeline-Approver2/x", False, id="prefix"),
        pytest.param(f"{SESSIONS}/UploadApiPipeline-Approver/", False, id="no session"),
        pytest.param("arn:aws:iam::111111111111:user/alice", False, id="a user"),
        pytest.param(ALICE.replace("arn:aws:", "arn:aws-cn:"), False, id="partition"),
        pytest.param("", False, id="nobody named"),
    ],
)
def test_an_approval_counts_only_through_the_approver_role(by, through):
    assert given_through(by, APPROVER_ROLE) is through


def test_a_role_with_a_path_acts_as_sessions_without_it():
    assert given_through(ALICE, "arn:aws:iam::111111111111:role/team/UploadApiPipeline-Approver")


@pytest.mark.parametrize("by", ["arn:aws:sts::111111111111:assumed-role/Admin/mallory", ""])
def test_with_approvers_named_an_approval_given_another_way_fails(by):
    # GIVEN the approved change set, approved by someone who called PutApprovalResult directly
    verdict = judge(Approval(CHANGE_SET, by), _change_set(), where=WHERE, approver_role=APPROVER_ROLE)
    # THEN it fails, saying who approved and through which role it must be
    assert not verdict.passed
    assert f"not through the approver role {APPROVER_ROLE}" in verdict.line
    assert (by or "a principal CodePipeline did not name") in verdict.line


def test_with_approvers_named_an_approval_through_the_role_passes():
    verdict = judge(Approval(CHANGE_SET, ALICE), _change_set(), where=WHERE, approver_role=APPROVER_ROLE)
    assert verdict.passed
    assert verdict.line.endswith(f"approved by {ALICE}")


def test_the_check_reads_the_approver_role_from_its_environment():
    # GIVEN the step's environment naming the approver role, and an approval by another role
    def run(arguments: list[str], env: Mapping[str, str]) -> str:
        if arguments[:2] == ["codepipeline", "list-action-executions"]:
            approval = _run(CHANGE_SET) | {"updatedBy": "arn:aws:sts::111111111111:assumed-role/Admin/m"}
            return json.dumps({"actionExecutionDetails": [approval]})
        return json.dumps(_change_set())

    # THEN it fails; without the variable, the same approval passes
    assert not check({**ENV, "APPROVER_ROLE_ARN": APPROVER_ROLE}, run).passed
    assert check(ENV, run).passed


def test_the_last_succeeded_approval_of_the_named_action_counts():
    details = [
        _run(f"old {OTHER}", at=1),
        _run(f"new {CHANGE_SET}", at=3),
        _run("rejected", status="Failed", at=4),
        _run("other action", action="ProdPermissionsCheck.Confirm", at=5),
    ]
    approval = latest_approval(details, stage="Prod", action="UploadApi.PromoteToProd")
    assert approval.summary == f"new {CHANGE_SET}"


def test_the_last_approval_is_found_in_the_cli_v2s_iso_times_too():
    # GIVEN times as CLI v2 prints them, the later one written in another offset (string order misleads)
    details = [
        {**_run(f"later {CHANGE_SET}"), "lastUpdateTime": "2026-12-07T09:30:00+00:00"},
        {**_run(f"earlier {OTHER}"), "lastUpdateTime": "2026-12-07T10:00:00+01:00"},
    ]
    # WHEN the approval is picked THEN it is the later one in time
    approval = latest_approval(details, stage="Prod", action="UploadApi.PromoteToProd")
    assert approval.summary == f"later {CHANGE_SET}"


def test_no_approval_in_this_execution_cannot_be_judged():
    with pytest.raises(CannotAsk, match=r"no approved Prod/UploadApi\.PromoteToProd"):
        latest_approval([_run("x", status="InProgress")], stage="Prod", action="UploadApi.PromoteToProd")


def test_the_pipeline_is_the_one_that_started_the_build():
    assert pipeline_name(ENV) == "UploadApiPipeline-Pipeline9850B417-ABC"
    with pytest.raises(CannotAsk, match="set PIPELINE_NAME"):
        pipeline_name({})


# -- the calls ------------------------------------------------------------------------------------


class FakeCli:
    """The AWS CLI: answers by subcommand (`codepipeline list-action-executions`...), every call kept."""

    def __init__(self, answers: Mapping[str, Any]) -> None:
        self.answers = dict(answers)
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, arguments: list[str], env: Mapping[str, str]) -> str:
        self.calls.append((arguments, dict(env)))
        answer = self.answers[" ".join(arguments[:2])]
        if isinstance(answer, Exception):
            raise answer
        return json.dumps(answer)


def _cli(summary: str, change_set: dict[str, Any], **more: Any) -> FakeCli:
    return FakeCli(
        {
            "codepipeline list-action-executions": {"actionExecutionDetails": [_run(summary)]},
            "cloudformation describe-change-set": change_set,
            **more,
        }
    )


def test_the_check_asks_this_executions_approval_and_the_named_change_set():
    # GIVEN the approval's comment with the change set's id, and the change set
    cli = _cli(f"Reviewed {CHANGE_SET}", _change_set())
    # WHEN checked THEN it passes, having made exactly the two calls with this execution's filter
    assert check(ENV, cli).passed
    assert [arguments for arguments, _ in cli.calls] == [
        [
            "codepipeline", "list-action-executions",
            "--pipeline-name", "UploadApiPipeline-Pipeline9850B417-ABC",
            "--filter", "pipelineExecutionId=exec-1",
        ],
        [
            "cloudformation", "describe-change-set",
            "--stack-name", "Prod-UploadApi", "--change-set-name", "PipelineChange",
        ],
    ]  # fmt: skip


def test_the_change_set_is_read_through_the_stage_accounts_lookup_role():
    # GIVEN the stage's account as the step sets it (stages/pipeline/bootstrap.py lookup_role_env)
    env = {
        **ENV,
        "STAGE_ACCOUNT": "222222222222",
        "STAGE_REGION": "eu-west-1",
        "STAGE_PARTITION": "aws",
        "BOOTSTRAP_QUALIFIER": "uploadprod",
        "AWS_PROFILE": "operator",
    }
    role = "arn:aws:iam::222222222222:role/cdk-uploadprod-lookup-role-222222222222-eu-west-1"
    credentials = {
        "AccessKeyId": "ASIAX",
        "SecretAccessKey": "secret",  # pragma: allowlist secret
        "SessionToken": "token",
    }
    cli = _cli(CHANGE_SET, _change_set(), **{"sts assume-role": {"Credentials": credentials}})
    # WHEN checked
    assert check(env, cli).passed
    # THEN the approval is read as the build, the change set as the assumed lookup role, and only so
    (_, own), (assume, _), (describe, assumed) = cli.calls
    assert assume == ["sts", "assume-role", "--role-arn", role, "--role-session-name", "approved-change-set"]
    assert lookup_role_arn(env) == role
    assert "AWS_SESSION_TOKEN" not in own
    assert describe[1] == "describe-change-set"
    assert (assumed["AWS_ACCESS_KEY_ID"], assumed["AWS_SESSION_TOKEN"]) == ("ASIAX", "token")
    assert "AWS_PROFILE" not in assumed


def test_a_role_it_cannot_assume_is_named(capsys):
    cli = _cli(CHANGE_SET, _change_set(), **{"sts assume-role": AwsError("AccessDenied")})
    env = {**ENV, "CHANGE_SET_ROLE_ARN": "arn:aws:iam::222222222222:role/r"}
    assert main(env, cli) == 2
    assert capsys.readouterr().err.strip() == (
        "approved-change-set: cannot assume arn:aws:iam::222222222222:role/r: AccessDenied"
    )


def test_a_failing_cli_call_cannot_ask():
    cli = _cli(CHANGE_SET, _change_set(), **{"codepipeline list-action-executions": AwsError("throttled")})
    with pytest.raises(CannotAsk, match="ListActionExecutions: throttled"):
        check(ENV, cli)


def test_a_change_set_created_again_after_the_review_fails(capsys):
    cli = _cli(f"Reviewed {CHANGE_SET}", _change_set(OTHER))
    verdict = check(ENV, cli)
    assert not verdict.passed
    assert f"about to be executed is {OTHER}" in verdict.line
    # AND the step's exit code says so (1: not the approved one)
    assert main(ENV, cli) == 1
    assert capsys.readouterr().out.startswith("FAIL: ")


def test_main_exits_2_naming_what_is_missing(capsys):
    assert main({"CODEBUILD_INITIATOR": "codepipeline/P"}) == 2
    assert "set PIPELINE_EXECUTION_ID, APPROVAL_STAGE" in capsys.readouterr().err
