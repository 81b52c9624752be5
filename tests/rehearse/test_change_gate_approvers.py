"""With approvers named, PipelineChange.Approved accepts only the gate check's own approval or one given
through the approver role: an insider who can push and call PutApprovalResult, but is not an
approver, approves their own pipeline change (a commit deleting PromoteToProd) and the gate's stage
fails before UpdatePipeline. Rehearsed as the deployed pipeline runs it (test_change_gate.py)."""

from __future__ import annotations

from typing import Any

import pytest

from stages.guardrails import APPROVER_ROLE_NAME
from tests.rehearse.conftest import ENV, INSIDER
from tests.rehearse.test_change_gate import (
    commit_artifact,
    deployed_template,
    rehearse_the_gate,
    synthesized_as,
    without_promote_to_prod,
)
from tools.review_kit.rehearse import approvals

pytestmark = pytest.mark.synth


def _without_promote_to_prod(approver_app: Any, tmp_path: Any) -> tuple[dict[str, Any], Any]:
    """The deployed pipeline, and a commit's artifact whose pipeline lacks PromoteToProd."""
    artifact = commit_artifact(approver_app, tmp_path)
    deployed = deployed_template(artifact)
    commit = without_promote_to_prod(deployed)
    synthesized_as(artifact, commit)
    return deployed, artifact


def test_an_insiders_own_approval_of_the_pipeline_change_fails_the_gate(
    approver_app, tmp_path, loopback_account
):
    # GIVEN a commit deleting PromoteToProd (the check lists it: a person must approve)
    deployed, artifact = _without_promote_to_prod(approver_app, tmp_path)
    # WHEN the insider approves PipelineChange.Confirm themselves
    outcomes = rehearse_the_gate(deployed, artifact, tmp_path, loopback_account, confirmed_by=INSIDER)
    # THEN PipelineChange.Approved fails, naming who approved: UpdatePipeline never runs
    assert outcomes["PipelineChange.Check"].result == "person"
    approved = outcomes["PipelineChange.Approved"]
    assert approved.result == "fail"
    assert (
        f"FAIL: PipelineChangeGate/PipelineChange.Confirm was approved by {INSIDER}, neither" in approved.note
    )


def test_an_approval_through_the_approver_role_passes_the_gate(approver_app, tmp_path, loopback_account):
    # GIVEN the same commit WHEN the rehearsal's approver (a session of the approver role) approves it
    deployed, artifact = _without_promote_to_prod(approver_app, tmp_path)
    outcomes = rehearse_the_gate(deployed, artifact, tmp_path, loopback_account)
    # THEN PipelineChange.Approved passes
    assert outcomes["PipelineChange.Confirm"].result == "person"
    assert outcomes["PipelineChange.Approved"].result == "pass"


def test_the_checks_own_approval_passes_the_gate(approver_app, tmp_path, loopback_account):
    # GIVEN an unchanged pipeline: the check approves Confirm itself (recorded as its role's session)
    artifact = commit_artifact(approver_app, tmp_path)
    outcomes = rehearse_the_gate(deployed_template(artifact), artifact, tmp_path, loopback_account)
    # THEN every gate action passes, with no person
    assert {name: o.result for name, o in outcomes.items()} == {
        "PipelineChange.Check": "pass",
        "PipelineChange.Confirm": "pass",
        "PipelineChange.Approved": "pass",
    }
    # AND the approval PipelineChange.Approved read was recorded as the check's build role's session
    codepipeline = loopback_account[0].client("codepipeline")
    listed = codepipeline.list_action_executions(pipelineName=approvals.PIPELINE_NAME)[
        "actionExecutionDetails"
    ]
    (confirm,) = [d for d in listed if d["actionName"] == "PipelineChange.Confirm"]
    assert confirm["updatedBy"].startswith(f"arn:aws:sts::{ENV.account}:assumed-role/PipelineChangeGateRole")
    assert APPROVER_ROLE_NAME not in confirm["updatedBy"]
