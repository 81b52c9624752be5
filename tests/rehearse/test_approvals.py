"""The rehearsal's approvals (rehearse/approvals.py) and the step that reads them, ApprovedChangeSet.

moto on loopback, with the rehearsal's ListActionExecutions: the approver writes the id of the change
set this stage created, and the check (stages/pipeline/approved_change_set_check.py) reads it back as
the deployed step runs it (the commands its buildspec carries: the check written out, then python3
on it, calling the AWS CLI), here pointed at the emulator (and through the stage's lookup role,
which moto's STS issues); an approval naming another change set, or
none, fails the check.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.pipeline.approved_change_set import check_commands
from tools.review_kit.rehearse import actions, approvals, emulator
from tools.review_kit.rehearse.pipeline import Action

TEMPLATE = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}}


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


def _env(run: _Run, cli_env: dict[str, str]) -> dict[str, str]:
    """What the step's project and action set, and CodeBuild's own (lookup_role_env: the stage account)."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/"),
        **cli_env,
        "CODEBUILD_INITIATOR": f"codepipeline/{approvals.PIPELINE_NAME}",
        "PIPELINE_EXECUTION_ID": run.variables["codepipeline"]["PipelineExecutionId"],
        "APPROVAL_STAGE": "Prod",
        "APPROVAL_ACTION": "UploadApi.PromoteToProd",
        "STACK_NAME": "Prod-UploadApi",
        "CHANGE_SET_NAME": "PipelineChange",
        "BOOTSTRAP_QUALIFIER": "uploadprod",
        "STAGE_ACCOUNT": emulator.ACCOUNT,
        "STAGE_REGION": emulator.REGION,
        "STAGE_PARTITION": "aws",
    }


def _check(
    account: tuple[Any, dict[str, str]], run: _Run, checkout: Path, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The step's own commands (the ones its buildspec carries), in one shell as CodeBuild runs a phase,
    from a checkout whose `.python-version` names an interpreter nobody has: a pyenv `python3` would
    fail on it if the check ran from the checkout rather than its own directory."""
    (checkout / ".python-version").write_text("2.1.0\n", encoding="utf-8")
    return subprocess.run(
        ["/bin/sh", "-ec", "\n".join(check_commands())],
        cwd=checkout,
        env={**_env(run, account[1]), **(extra or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_rehearsals_approver_names_the_change_set_and_the_check_passes(loopback_account, tmp_path):
    # GIVEN a prepared change set WHEN the rehearsal's approver approves PromoteToProd
    run, change_set = _prepared(loopback_account[0])
    written = approvals.approve(run, _action("UploadApi.PromoteToProd", "Manual"))
    # THEN the comment names that change set, and ApprovedChangeSet, reading it back through the CLI, passes
    assert change_set in written
    done = _check(loopback_account, run, tmp_path)
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    assert done.stdout.strip() == (
        f"PASS: change set {change_set} is the one approved by "
        f"arn:aws:sts::{emulator.ACCOUNT}:assumed-role/UploadApiPipeline-Approver/rehearsal"
    )


def test_with_approvers_only_an_approval_through_the_approver_role_passes(loopback_account, tmp_path):
    # GIVEN the step told to accept only the approver role's sessions (approvers named), the rehearsal's
    # approval (through that role), then a later one by someone who called PutApprovalResult directly
    run, change_set = _prepared(loopback_account[0])
    approvals.approve(run, _action("UploadApi.PromoteToProd", "Manual"))
    role = f"arn:aws:iam::{emulator.ACCOUNT}:role/UploadApiPipeline-Approver"
    env = {"APPROVER_ROLE_ARN": role}
    assert _check(loopback_account, run, tmp_path, env).returncode == 0
    time.sleep(0.01)
    approvals.record(
        execution_id=run.variables["codepipeline"]["PipelineExecutionId"],
        stage="Prod",
        action="UploadApi.PromoteToProd",
        summary=f"approving {change_set}",
        by=f"arn:aws:sts::{emulator.ACCOUNT}:assumed-role/Admin/mallory",
    )
    # WHEN checked THEN it fails (exit 1) naming who approved and the role it must be
    done = _check(loopback_account, run, tmp_path, env)
    assert done.returncode == 1, done.stderr
    assert f"given by arn:aws:sts::{emulator.ACCOUNT}:assumed-role/Admin/mallory, not through" in done.stdout


def test_an_approval_naming_another_change_set_fails_the_check(loopback_account, tmp_path):
    # GIVEN the approval, then a later one of the same action naming another change set (a retried stage)
    run, change_set = _prepared(loopback_account[0])
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
    # WHEN checked THEN the last approval counts, and it fails (exit 1) naming both ids
    done = _check(loopback_account, run, tmp_path)
    assert done.returncode == 1, done.stderr
    assert f"names change set {other}, but" in done.stdout
    assert change_set in done.stdout


def test_an_approval_in_another_execution_does_not_count(loopback_account, tmp_path):
    # GIVEN an approval recorded for another run of the pipeline
    run, change_set = _prepared(loopback_account[0])
    approvals.record(
        execution_id="another-execution",
        stage="Prod",
        action="UploadApi.PromoteToProd",
        summary=change_set,
        by="someone",
    )
    # WHEN this execution is checked THEN there is no approval to judge: it cannot ask (exit 2)
    done = _check(loopback_account, run, tmp_path)
    assert done.returncode == 2
    assert "no approved Prod/UploadApi.PromoteToProd in this pipeline execution" in done.stderr
