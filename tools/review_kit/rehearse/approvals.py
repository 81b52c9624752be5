"""The rehearsal's approvals as CodePipeline records them: ListActionExecutions, served by moto.

moto 5.2.5's CodePipeline has no ListActionExecutions. A person's approval is not run in the
rehearsal (actions.manual_action), but what they would write is: the prod approval's comment asks
for the id of the change set under review, so the rehearsal's approver gives the id of the change
set this stage's Prepare action created (what the person would copy from DescribeChangeSet), and
the approval is recorded as CodePipeline would list it, given through the approver role. The gate's
own approval of PipelineChange.Confirm (its check approving a change no person must see) is recorded
as a session of the check's CodeBuild role, as PutApprovalResult from that build would be.
ApprovedChangeSet and PipelineChange.Approved, the steps after them, then read them back through the
API like any pipeline build (stages/pipeline/approved_change_set_check.py).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from stages.guardrails import APPROVER_ROLE_NAME
from tools.review_kit.rehearse import emulator

# The pipeline name the rehearsal's builds see (codebuild.py: CODEBUILD_INITIATOR codepipeline/<name>).
PIPELINE_NAME = "UploadApiPipeline"
_LOCK = threading.Lock()
_EXECUTIONS: dict[str, list[dict[str, Any]]] = {}  # pipeline name -> action execution details


def install() -> None:
    """ListActionExecutions on moto's CodePipeline, answering from what record() kept."""
    from moto.codepipeline.responses import CodePipelineResponse

    if getattr(CodePipelineResponse, "_rehearsal_lists_actions", False):
        return

    def list_action_executions(self: Any) -> str:
        name = self._get_param("pipelineName")
        execution = (self._get_param("filter") or {}).get("pipelineExecutionId")
        with _LOCK:
            details = [
                d
                for d in _EXECUTIONS.get(name, [])
                if execution is None or d["pipelineExecutionId"] == execution
            ]
        return json.dumps({"actionExecutionDetails": details})

    CodePipelineResponse.list_action_executions = list_action_executions  # type: ignore[attr-defined]
    CodePipelineResponse._rehearsal_lists_actions = True  # type: ignore[attr-defined]


def record(
    *, execution_id: str, stage: str, action: str, summary: str, by: str, pipeline: str = PIPELINE_NAME
) -> None:
    """A succeeded approval with the approver's comment, as ListActionExecutions returns it."""
    now = datetime.now(UTC).timestamp()
    with _LOCK:
        _EXECUTIONS.setdefault(pipeline, []).append(
            {
                "pipelineExecutionId": execution_id,
                "actionExecutionId": f"{stage}-{action}-{len(_EXECUTIONS.get(pipeline, []))}",
                "stageName": stage,
                "actionName": action,
                "startTime": now,
                "lastUpdateTime": now,
                "updatedBy": by,
                "status": "Succeeded",
                "input": {
                    "actionTypeId": {
                        "category": "Approval",
                        "owner": "AWS",
                        "provider": "Manual",
                        "version": "1",
                    }
                },
                "output": {"executionResult": {"externalExecutionSummary": summary}},
            }
        )


def clear() -> None:
    with _LOCK:
        _EXECUTIONS.clear()


def pending_change_set_ids(session: Any, change_sets: Iterable[tuple[str, str]]) -> list[str]:
    """The ids of the change sets created (and not yet executed) before the approval, as a person reads
    them: DescribeChangeSet of each (stack, change set name)."""
    cloudformation = session.client("cloudformation")
    return [
        cloudformation.describe_change_set(StackName=stack, ChangeSetName=name)["ChangeSetId"]
        for stack, name in change_sets
    ]


def pipeline_variables() -> dict[str, dict[str, str]]:
    """CodePipeline's own namespace for a run: `#{codepipeline.PipelineExecutionId}`."""
    return {"codepipeline": {"PipelineExecutionId": str(uuid.uuid4())}}


def approve(run: Any, action: Any) -> str:
    """What the rehearsal's approver writes: the ids of the change sets this stage created and has not
    executed yet (what the prod approval's comment asks for), recorded as CodePipeline lists it."""
    pending: dict[str, str] = {}
    for earlier, _ in run.history:
        if earlier.stage != action.stage or earlier.provider != "CloudFormation":
            continue
        stack = earlier.configuration["StackName"]
        if earlier.configuration["ActionMode"] == "CHANGE_SET_REPLACE":
            pending[stack] = earlier.configuration["ChangeSetName"]
        else:
            pending.pop(stack, None)
    ids = pending_change_set_ids(run.session, pending.items()) if pending else []
    summary = "reviewed in the rehearsal" + (f"; approving {', '.join(ids)}" if ids else "")
    # A session of the approver role, as CodePipeline's updatedBy names an approver who assumed it.
    approver = f"arn:aws:iam::{emulator.ACCOUNT}:role/{APPROVER_ROLE_NAME}"
    approve_as(run, action, session_of(approver, "rehearsal"), summary)
    return summary


def approve_as(run: Any, action: Any, by: str, summary: str = "") -> None:
    """This run's approval of `action` by principal `by` (CodePipeline's updatedBy)."""
    record(
        execution_id=run.variables["codepipeline"]["PipelineExecutionId"],
        stage=action.stage,
        action=action.name,
        summary=summary,
        by=by,
    )


def session_of(role_arn: str, session: str) -> str:
    """The principal a session of `role_arn` acts as: arn:<p>:sts::<account>:assumed-role/<name>/<session>."""
    _, partition, _, _, account, resource = role_arn.split(":", 5)
    return f"arn:{partition}:sts::{account}:assumed-role/{resource.rsplit('/', 1)[-1]}/{session}"
