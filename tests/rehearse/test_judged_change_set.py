"""The rehearsal runs each stage's JudgedChangeSet as the deployed pipeline's buildspec has it, on moto.

An artifact whose dev template is rewritten after DevPermissionsCheck.Check, in time for Prepare to create
change set PipelineChange from it, and restored before JudgedChangeSet extracts it, passes the digest
check (the first command: it is the artifact the gate judged again) and fails the comparison, naming
the resource the change set adds; the artifact nobody touched passes both. The change set is read
through the AWS CLI pointed at the emulator, through the stage's lookup role (moto's STS), and its
template with GetTemplate's ChangeSetName, which moto ignores unless patched (moto_patches.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stages.pipeline.judged_change_set import check_commands
from stages.pipeline.patches.artifact_digest import check_command
from tests.rehearse.test_artifact_digest import run_through_the_gate
from tests.rehearse.test_change_gate import commit_artifact, deployed_template
from tools.review_kit.rehearse import actions

STACK = "Dev-UploadApi"
ACTION = "UploadApi.JudgedChangeSet"
TOPIC = {"Type": "AWS::SNS::Topic", "Properties": {}}


def dev_template(run: actions.Run, action: Any) -> Path:
    """The file Dev's Prepare creates its change set from (its TemplatePath, in the synth artifact)."""
    (prepare,) = [a for a in run.pipeline.actions if a.stage == "Dev" and a.name == "UploadApi.Prepare"]
    name, path = prepare.configuration["TemplatePath"].split("::", 1)
    assert name == action.inputs[0]
    return run.artifacts[name] / path


def prepare(session: Any, template: Path) -> str:
    """Dev's Prepare: change set PipelineChange of Dev-UploadApi from the template as it is now."""
    cloudformation = session.client("cloudformation")
    return str(
        cloudformation.create_change_set(
            StackName=STACK,
            ChangeSetName="PipelineChange",
            ChangeSetType="CREATE",
            TemplateBody=template.read_text(encoding="utf-8"),
            Capabilities=["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )["Id"]
    )


def judged_run(
    pipeline_app: Any, tmp_path: Path, account: tuple[Any, dict[str, str]]
) -> tuple[actions.Run, Any, Path]:
    """An execution past its gate (the digest exported), its JudgedChangeSet action and dev's template."""
    artifact = commit_artifact(pipeline_app, tmp_path)
    run = run_through_the_gate(deployed_template(artifact), artifact, tmp_path, account)
    (action,) = [a for a in run.pipeline.actions if a.stage == "Dev" and a.name == ACTION]
    return run, action, dev_template(run, action)


def commands_run(outcome: actions.Outcome) -> list[str]:
    return [c.command for c in outcome.commands]


@pytest.mark.synth
def test_a_template_rewritten_for_prepare_and_restored_fails_judged_change_set(
    pipeline_app, loopback_account, tmp_path
):
    # GIVEN an execution past its gate, and dev's template rewritten after DevPermissionsCheck.Check:
    # a topic more, in time for Prepare, which creates the change set from it; then restored
    session = loopback_account[0]
    run, action, template = judged_run(pipeline_app, tmp_path, loopback_account)
    judged = template.read_bytes()
    rewritten = json.loads(judged)
    rewritten["Resources"]["Planted"] = TOPIC
    template.write_text(json.dumps(rewritten), encoding="utf-8")
    change_set = prepare(session, template)
    template.write_bytes(judged)
    # WHEN Dev's JudgedChangeSet runs its deployed buildspec
    with pytest.raises(actions.FailedBuild) as failed:
        actions.codebuild_action(run, action)
    # THEN the digest check passes (the artifact is the one judged again) and the comparison fails, in one
    # line naming the change set and the resource only it has
    assert commands_run(failed.value.outcome) == check_commands()
    log = next((run.work / "builds").glob("Dev*JudgedChangeSet*/build.log")).read_text(encoding="utf-8")
    assert "the synth artifact is the one PipelineChange.Check judged" in log
    (line,) = [entry for entry in log.splitlines() if entry.startswith("FAIL: ")]
    assert line.startswith(
        f"FAIL: change set {change_set} of {STACK} is not the template DevPermissionsCheck.Check judged "
        f"({template.relative_to(run.artifacts['Synth_Output'])}): Resources.Planted only in the change set;"
    )


@pytest.mark.synth
def test_the_change_set_of_the_untouched_artifact_passes(pipeline_app, loopback_account, tmp_path):
    # GIVEN an execution past its gate whose Prepare created the change set from the judged template
    session = loopback_account[0]
    run, action, template = judged_run(pipeline_app, tmp_path, loopback_account)
    change_set = prepare(session, template)
    # WHEN Dev's JudgedChangeSet runs its deployed buildspec
    outcome = actions.codebuild_action(run, action)
    # THEN both checks pass, and it says what matched
    assert outcome.result == "pass", outcome.note
    assert commands_run(outcome)[0] == check_command()
    log = next((run.work / "builds").glob("Dev*JudgedChangeSet*/build.log")).read_text(encoding="utf-8")
    (line,) = [entry for entry in log.splitlines() if entry.startswith("PASS: ")]
    assert line.startswith(
        f"PASS: change set {change_set} of {STACK} is the template DevPermissionsCheck.Check"
    )
    assert line.endswith("AVAILABLE: Deploy executes it")


# -- moto's GetTemplate of a change set (moto_patches.py) ------------------------------------------------


def test_get_template_answers_the_named_change_sets_template(moto_account):
    # GIVEN two stacks, each with a change set PipelineChange of its own template, created not executed
    cloudformation = moto_account.client("cloudformation")
    ids = {}
    for stack, resource in (("Dev-UploadApi", "DevTopic"), ("Prod-UploadApi", "ProdTopic")):
        ids[stack] = cloudformation.create_change_set(
            StackName=stack,
            ChangeSetName="PipelineChange",
            ChangeSetType="CREATE",
            TemplateBody=json.dumps({"Resources": {resource: TOPIC}}),
        )["Id"]
    # WHEN GetTemplate is asked for dev's change set, by name and by id
    by_name = cloudformation.get_template(
        StackName="Dev-UploadApi", ChangeSetName="PipelineChange", TemplateStage="Original"
    )
    by_id = cloudformation.get_template(StackName="Dev-UploadApi", ChangeSetName=ids["Dev-UploadApi"])
    # THEN it answers that change set's template, not the (empty) stack's, nor prod's
    assert by_name["TemplateBody"] == by_id["TemplateBody"] == {"Resources": {"DevTopic": TOPIC}}
    # AND without a change set it answers the stack's template, as before
    assert cloudformation.get_template(StackName="Dev-UploadApi")["TemplateBody"] == {}
    # AND a change set the stack does not have is not found
    with pytest.raises(ClientError) as missing:
        cloudformation.get_template(StackName="Dev-UploadApi", ChangeSetName=ids["Prod-UploadApi"])
    assert missing.value.response["Error"]["Code"] == "ChangeSetNotFound"
