"""The rehearsal runs the deployed buildspecs after PipelineChangeGate against an artifact rewritten after
the gate: SelfMutate fails on its first command, naming both digests, before npm runs; the artifact the
gate judged passes each consumer's check (SelfMutate, FileAssets, both permission checks)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from stages.pipeline.patches.artifact_digest import NAMESPACE, VARIABLE, check_command
from tests.rehearse.conftest import ENV
from tests.rehearse.test_change_gate import STACK, commit_artifact, deployed_template
from tools.review_kit.rehearse import actions
from tools.review_kit.rehearse.pipeline import Action, Pipeline

pytestmark = pytest.mark.synth

CONSUMERS = ("SelfMutate", "FileAssets", "DevPermissionsCheck.Check", "ProdPermissionsCheck.Check")


def only_the_check(template: dict[str, Any]) -> dict[str, Any]:
    """The deployed pipeline with each consumer's buildspec cut to its first command (the digest check):
    npm and the deploys are the full rehearsal's (`make rehearse`)."""
    cut = copy.deepcopy(template)
    (pipeline,) = [r for r in cut["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    projects = {
        action["Configuration"]["ProjectName"]["Ref"]
        for stage in pipeline["Properties"]["Stages"]
        for action in stage["Actions"]
        if action["Name"] in CONSUMERS
    }
    assert len(projects) == 3  # self-mutation, file assets, and the permission check both stages share
    for project in projects:
        spec = {"version": "0.2", "phases": {"install": {"commands": [check_command()]}}}
        cut["Resources"][project]["Properties"]["Source"]["BuildSpec"] = json.dumps(spec)
    return cut


def run_through_the_gate(
    deployed: dict[str, Any], artifact: Path, tmp_path: Path, server: tuple[Any, dict[str, str]]
) -> actions.Run:
    """The deployed pipeline's gate on `artifact`, as tests/rehearse/test_change_gate.py runs it (its
    PipelineChange.Approved reads the approval back from the emulator `server`)."""
    run = actions.Run(
        pipeline=Pipeline.from_template(deployed, ENV, {}),
        work=tmp_path / "work",
        emulator_env=server[1],
        deployed_templates={STACK: deployed_template(artifact)},
        session=server[0],
    )
    run.artifacts["Synth_Output"] = artifact
    for action in [a for a in run.pipeline.actions if a.stage == "PipelineChangeGate"]:
        outcome = actions.PROVIDERS[action.provider](run, action)
        assert outcome.result == "pass", outcome.note
        run.history.append((action, outcome))
    return run


def consumer(run: actions.Run, name: str) -> Action:
    (action,) = [a for a in run.pipeline.actions if a.name == name]
    return action


def rewrite_after_the_gate(artifact: Path) -> None:
    """A later push's Synth overwriting this execution's artifact: a pipeline without PromoteToProd."""
    template = deployed_template(artifact)
    (pipeline,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    (prod,) = [s for s in pipeline["Properties"]["Stages"] if s["Name"] == "Prod"]
    prod["Actions"] = [a for a in prod["Actions"] if a["Name"] != "UploadApi.PromoteToProd"]
    (artifact / f"{STACK}.template.json").write_text(json.dumps(template), encoding="utf-8")


def test_self_mutate_refuses_an_artifact_rewritten_after_the_gate(pipeline_app, tmp_path, loopback_account):
    # GIVEN an execution whose gate passed its artifact and exported the artifact's digest
    artifact = commit_artifact(pipeline_app, tmp_path)
    run = run_through_the_gate(deployed_template(artifact), artifact, tmp_path, loopback_account)
    judged = run.variables[NAMESPACE][VARIABLE]
    assert len(judged) == 64
    # WHEN the artifact is overwritten before SelfMutate, which runs its whole deployed buildspec
    rewrite_after_the_gate(artifact)
    with pytest.raises(actions.FailedBuild) as failed:
        actions.codebuild_action(run, consumer(run, "SelfMutate"))
    # THEN its first command fails, in one line naming both digests, and nothing after it runs (npm ci)
    commands = failed.value.outcome.commands
    assert [c.command for c in commands] == [check_command()]
    log = next((run.work / "builds").glob("UpdatePipeline*SelfMutate*/build.log")).read_text(encoding="utf-8")
    (line,) = [entry for entry in log.splitlines() if "PipelineChange.Check judged" in entry]
    assert judged in line
    assert "rewritten after the gate" in line


def test_the_artifact_the_gate_judged_passes_each_consumers_check(
    pipeline_app, tmp_path, monkeypatch, loopback_account
):
    # GIVEN an execution whose gate passed its artifact, and nothing rewrites it
    artifact = commit_artifact(pipeline_app, tmp_path)
    deployed = only_the_check(deployed_template(artifact))
    run = run_through_the_gate(deployed, artifact, tmp_path, loopback_account)
    # (the pipeline stack's read-back after SelfMutate needs its deploy: the full rehearsal's)
    monkeypatch.setattr(actions.readback, "is_self_mutation", lambda action: False)
    # WHEN each consumer runs its first command, with the action's variables resolved by the model
    for name in CONSUMERS:
        action = consumer(run, name)
        assert f"#{{{NAMESPACE}.{VARIABLE}}}" in action.configuration["EnvironmentVariables"], name
        outcome = actions.codebuild_action(run, action)
        # THEN the digest check passes
        assert outcome.result == "pass", (name, outcome.note)
        assert [c.command for c in outcome.commands] == [check_command()], name
