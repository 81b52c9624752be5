"""Each stage's JudgedChangeSet (stages/pipeline/judged_change_set.py): after Prepare, before anything
executes the change set, the change set's template is the one the stage's permission check judged.

The check's logic: tests/unit/test_judged_change_set.py; run on the emulator as the deployed buildspec
has it: tests/rehearse/test_judged_change_set.py.
"""

from __future__ import annotations

import base64
import gzip
import re
from pathlib import Path
from typing import Any

import pytest

from stages.pipeline import approved_change_set_check, judged_change_set, judged_change_set_check
from stages.pipeline.patches.artifact_digest import REFERENCE, VARIABLE, check_command
from stages.pipeline.patches.generated import GeneratedConstructChanged
from stages.template_text import as_nag_text as as_text
from tests.infra.conftest import SynthesizedApp
from tools.review_kit.rehearse.codebuild import phase_commands

ACTION = "UploadApi.JudgedChangeSet"
STAGES = ("Dev", "Prod")


def _action(app: SynthesizedApp, stage: str, name: str) -> dict[str, Any]:
    (action,) = [a for a in app.actions(stage) if a["Name"] == name]
    return action


def _environment(app: SynthesizedApp, action: dict[str, Any]) -> dict[str, str]:
    project = app.resources[app.project_id(action)]["Properties"]
    return {v["Name"]: as_text(v["Value"]) for v in project["Environment"]["EnvironmentVariables"]}


def _commands(app: SynthesizedApp, action: dict[str, Any]) -> list[str]:
    spec = app.buildspec(app.project_id(action))
    # every command of every phase, as CodeBuild runs them (the rehearsal's reading)
    return [command for _, command in phase_commands(spec)]


def test_dev_checks_its_change_set_after_prepare_and_before_deploy(pipeline_app):
    order = {a["Name"]: a["RunOrder"] for a in pipeline_app.actions("Dev")}
    assert order["DevPermissionsCheck.Confirm"] < order["UploadApi.Prepare"] < order[ACTION]
    assert order[ACTION] < order["UploadApi.Deploy"] < order["VerifyDev"]


def test_prod_checks_its_change_set_before_the_approver_sees_it(pipeline_app):
    order = {a["Name"]: a["RunOrder"] for a in pipeline_app.actions("Prod")}
    assert (
        order["UploadApi.Prepare"]
        < order[ACTION]
        < order["UploadApi.PromoteToProd"]
        < order["UploadApi.ApprovedChangeSet"]
        < order["UploadApi.Deploy"]
    )


@pytest.mark.parametrize("stage", STAGES)
def test_it_reads_the_template_prepare_used_in_the_artifact_the_gate_judged(pipeline_app, stage):
    # GIVEN the stage's Prepare, JudgedChangeSet and Deploy actions
    prepare = _action(pipeline_app, stage, "UploadApi.Prepare")["Configuration"]
    judged = _action(pipeline_app, stage, ACTION)
    deploy = _action(pipeline_app, stage, "UploadApi.Deploy")["Configuration"]
    environment = _environment(pipeline_app, judged)
    # THEN its input is the synth artifact Prepare reads, and its TEMPLATE_PATH the file Prepare names
    (artifact,) = [a["Name"] for a in judged["InputArtifacts"]]
    assert prepare["TemplatePath"] == f"{artifact}::{environment['TEMPLATE_PATH']}"
    # AND the change set is the one Prepare creates and Deploy executes, of that stack
    assert environment["STACK_NAME"] == prepare["StackName"] == deploy["StackName"] == f"{stage}-UploadApi"
    assert environment["CHANGE_SET_NAME"] == prepare["ChangeSetName"] == deploy["ChangeSetName"]
    assert environment["JUDGED_BY"] == f"{stage}PermissionsCheck.Check"
    # AND it gets the gate's digest, which its first command checks before anything else
    variables = re.findall(
        r'"name":"(\w+)","type":"PLAINTEXT","value":"([^"]+)"',
        judged["Configuration"]["EnvironmentVariables"],
    )
    assert variables == [(VARIABLE, REFERENCE)]
    assert _commands(pipeline_app, judged)[0] == check_command()
    # AND it finds the stage account's lookup role from the stage's account, region and qualifier
    qualifier = f"upload{stage.lower()}"
    assert environment["BOOTSTRAP_QUALIFIER"] == qualifier
    assert {"STAGE_ACCOUNT", "STAGE_REGION", "STAGE_PARTITION"} <= set(environment)


@pytest.mark.parametrize("stage", STAGES)
def test_it_runs_nothing_from_the_commit(pipeline_app, stage):
    # GIVEN every command of the build (its directory is the synth artifact, which the commit's code wrote)
    commands = _commands(pipeline_app, _action(pipeline_app, stage, ACTION))
    # THEN none runs code the commit provides: no make target, no module or script of the artifact
    from_artifact = [
        c for c in commands[1:] if re.search(r"\bmake\b|-m |\$CODEBUILD_SRC_DIR|\./|\bnpm\b|\bcdk\b", c)
    ]
    assert from_artifact == []
    # AND it is exactly: the digest check, then both scripts written out of the buildspec into a directory
    # of their own and the check run from there
    written = [
        re.fullmatch(r'echo "([A-Za-z0-9+/=]+)" \| base64 -d \| gunzip > "\$CHECK_DIR/([\w.]+\.py)"', c)
        for c in commands
    ]
    scripts = {m.group(2): gzip.decompress(base64.b64decode(m.group(1))) for m in written if m}
    assert scripts == {
        "approved_change_set_check.py": Path(approved_change_set_check.__file__).read_bytes(),
        "judged_change_set.py": Path(judged_change_set_check.__file__).read_bytes(),
    }
    assert commands == [
        check_command(),
        'CHECK_DIR="$(mktemp -d)"',
        commands[2],
        commands[3],
        'cd "$CHECK_DIR" && python3 -E -s judged_change_set.py',
    ]
    # AND the install phase only selects runtimes
    spec = pipeline_app.buildspec(pipeline_app.project_id(_action(pipeline_app, stage, ACTION)))
    assert set(spec["phases"]["install"]) == {"runtime-versions"}


@pytest.mark.parametrize("stage", STAGES)
def test_its_role_assumes_only_the_stages_lookup_role(pipeline_app, stage):
    action = _action(pipeline_app, stage, ACTION)
    role_id = pipeline_app.resources[pipeline_app.project_id(action)]["Properties"]["ServiceRole"][
        "Fn::GetAtt"
    ][0]
    assert role_id.startswith(f"{stage}JudgedChangeSetRole")
    granted = {
        (name, as_text(resource))
        for statement in pipeline_app.role_statements(role_id)
        for name in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        for resource in (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if name.split(":")[0] not in ("s3", "kms", "logs", "codebuild")  # CDK's artifact, log, report grants
    }
    qualifier = f"upload{stage.lower()}"
    assert granted == {
        (
            "sts:AssumeRole",
            f"arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-{qualifier}-lookup-role-<AWS::AccountId>-<AWS::Region>",
        )
    }


def test_synth_fails_when_prepare_reads_another_template(pipeline_app, monkeypatch):
    # GIVEN a JudgedChangeSet told another template than the one Prepare creates the change set from
    stage = pipeline_app.stack.dev_stage
    monkeypatch.setattr(judged_change_set, "template_path", lambda _: "assembly-elsewhere/x.template.json")
    # WHEN the synth-time check runs THEN it fails, naming Prepare and both paths
    with pytest.raises(
        GeneratedConstructChanged, match="Dev's Prepare: TemplatePath Synth_Output::assembly-elsewhere"
    ):
        judged_change_set.check_the_prepared_template_path(
            pipeline_app.stack.pipeline.pipeline, stages=[stage]
        )
