"""ApprovedChangeSet (tools/pipeline_checks/approved_change_set.py): prod's change set is the one approved.

CodePipeline's and CloudFormation's answers are stubbed with botocore's Stubber, which holds every
request and response to the services' own models: the calls are the real API's, only the answers
are chosen.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tools.pipeline_checks.approved_change_set import (
    Approval,
    CannotAsk,
    check,
    judge,
    latest_approval,
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


def test_the_last_succeeded_approval_of_the_named_action_counts():
    details = [
        _run(f"old {OTHER}", at=1),
        _run(f"new {CHANGE_SET}", at=3),
        _run("rejected", status="Failed", at=4),
        _run("other action", action="ProdPermissionsCheck.Confirm", at=5),
    ]
    approval = latest_approval(details, stage="Prod", action="UploadApi.PromoteToProd")
    assert approval.summary == f"new {CHANGE_SET}"


def test_no_approval_in_this_execution_cannot_be_judged():
    with pytest.raises(CannotAsk, match=r"no approved Prod/UploadApi\.PromoteToProd"):
        latest_approval([_run("x", status="InProgress")], stage="Prod", action="UploadApi.PromoteToProd")


def test_the_pipeline_is_the_one_that_started_the_build():
    assert pipeline_name(ENV) == "UploadApiPipeline-Pipeline9850B417-ABC"
    with pytest.raises(CannotAsk, match="set PIPELINE_NAME"):
        pipeline_name({})


# -- the calls ------------------------------------------------------------------------------------


def _stubbed(summary: str, change_set: dict[str, Any]) -> tuple[Any, Any, list[Stubber]]:
    codepipeline = boto3.client("codepipeline", region_name="eu-west-1")
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
    pipeline_stub, cfn_stub = Stubber(codepipeline), Stubber(cloudformation)
    pipeline_stub.add_response(
        "list_action_executions",
        {"actionExecutionDetails": [_run(summary)]},
        {
            "pipelineName": "UploadApiPipeline-Pipeline9850B417-ABC",
            "filter": {"pipelineExecutionId": "exec-1"},
        },
    )
    cfn_stub.add_response(
        "describe_change_set", change_set, {"StackName": "Prod-UploadApi", "ChangeSetName": "PipelineChange"}
    )
    for stub in (pipeline_stub, cfn_stub):
        stub.activate()
    return codepipeline, cloudformation, [pipeline_stub, cfn_stub]


def test_the_check_asks_this_executions_approval_and_the_named_change_set():
    # GIVEN the approval's comment with the change set's id, and the change set
    codepipeline, cloudformation, stubs = _stubbed(f"Reviewed {CHANGE_SET}", _change_set())
    # WHEN checked THEN it passes, having made exactly the two calls with this execution's filter
    assert check(ENV, codepipeline=codepipeline, cloudformation=cloudformation).passed
    for stub in stubs:
        stub.assert_no_pending_responses()


def test_a_change_set_created_again_after_the_review_fails(capsys, monkeypatch):
    codepipeline, cloudformation, _ = _stubbed(f"Reviewed {CHANGE_SET}", _change_set(OTHER))
    verdict = check(ENV, codepipeline=codepipeline, cloudformation=cloudformation)
    assert not verdict.passed
    assert f"about to be executed is {OTHER}" in verdict.line


def test_main_exits_2_naming_what_is_missing(capsys):
    assert main({"CODEBUILD_INITIATOR": "codepipeline/P"}) == 2
    assert "set PIPELINE_EXECUTION_ID, APPROVAL_STAGE" in capsys.readouterr().err
