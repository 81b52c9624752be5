"""The rehearsal's approvals (rehearse/approvals.py) and the step that reads them, ApprovedChangeSet.

moto in-process, with the rehearsal's ListActionExecutions: the approver writes the id of the change
set this stage created, and the check (tools/pipeline_checks/approved_change_set.py) reads it back
through the API; an approval naming another change set, or none, fails the check.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tools.pipeline_checks.approved_change_set import check
from tools.review_kit.rehearse import actions, approvals
from tools.review_kit.rehearse.pipeline import Action

TEMPLATE = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}}


@pytest.fixture
def moto_account(moto_account):
    """The rehearsal's emulated account (conftest.py), with its CodePipeline approvals emulated."""
    approvals.install()
    approvals.clear()
    yield moto_account
    approvals.clear()


def _action(name: str, provider: str, **configuration: str) -> Action:
    return Action("Prod", name, provider, 1, configuration, (), (), None, None)


@dataclass
class _Run:
    session: Any
    history: list[tuple[Action, Any]] = field(default_factory=list)
    variables: dict[str, dict[str, str]] = field(default_factory=approvals.pipeline_variables)


def _prepared(session: Any) -> tuple[_Run, str]:
    """A stage whose Prepare created change set PipelineChange of Prod-UploadApi (not executed)."""
    cloudformation = session.client("cloudformation")
    change_set = cloudformation.create_change_set(
        StackName="Prod-UploadApi",
        ChangeSetName="PipelineChange",
        ChangeSetType="CREATE",
        TemplateBody=json.dumps(TEMPLATE),
    )["Id"]
    prepare = _action(
        "UploadApi.Prepare",
        "CloudFormation",
        ActionMode="CHANGE_SET_REPLACE",
        StackName="Prod-UploadApi",
        ChangeSetName="PipelineChange",
    )
    return _Run(session, history=[(prepare, actions.Outcome("pass"))]), change_set


def _env(run: _Run) -> dict[str, str]:
    return {
        "PIPELINE_NAME": approvals.PIPELINE_NAME,
        "PIPELINE_EXECUTION_ID": run.variables["codepipeline"]["PipelineExecutionId"],
        "APPROVAL_STAGE": "Prod",
        "APPROVAL_ACTION": "UploadApi.PromoteToProd",
        "STACK_NAME": "Prod-UploadApi",
        "CHANGE_SET_NAME": "PipelineChange",
    }


def _check(session: Any, run: _Run) -> Any:
    return check(
        _env(run),
        codepipeline=session.client("codepipeline"),
        cloudformation=session.client("cloudformation"),
    )


def test_the_rehearsals_approver_names_the_change_set_and_the_check_passes(moto_account):
    # GIVEN a prepared change set WHEN the rehearsal's approver approves PromoteToProd
    run, change_set = _prepared(moto_account)
    written = approvals.approve(run, _action("UploadApi.PromoteToProd", "Manual"))
    # THEN the comment names that change set, and ApprovedChangeSet, reading it back through the API, passes
    assert change_set in written
    verdict = _check(moto_account, run)
    assert verdict.passed, verdict.line


def test_an_approval_naming_another_change_set_fails_the_check(moto_account):
    # GIVEN the approval, then a later one of the same action naming another change set (a retried stage)
    run, change_set = _prepared(moto_account)
    approvals.approve(run, _action("UploadApi.PromoteToProd", "Manual"))
    time.sleep(0.01)
    other = change_set.rsplit("/", 1)[0] + "/11111111-2222-3333-4444-555555555555"
    approvals.record(
        execution_id=run.variables["codepipeline"]["PipelineExecutionId"],
        stage="Prod",
        action="UploadApi.PromoteToProd",
        summary=f"approving {other}",
        by="someone",
    )
    # WHEN checked THEN the last approval counts, and it fails naming both ids
    verdict = _check(moto_account, run)
    assert not verdict.passed
    assert f"names change set {other}, but" in verdict.line
    assert change_set in verdict.line


def test_an_approval_in_another_execution_does_not_count(moto_account):
    # GIVEN an approval recorded for another run of the pipeline
    run, change_set = _prepared(moto_account)
    approvals.record(
        execution_id="another-execution",
        stage="Prod",
        action="UploadApi.PromoteToProd",
        summary=change_set,
        by="someone",
    )
    # WHEN this execution is checked THEN there is no approval to judge
    with pytest.raises(Exception, match="no approved Prod/UploadApi"):
        _check(moto_account, run)
