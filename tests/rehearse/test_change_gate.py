"""The rehearsal runs PipelineChangeGate as the deployed pipeline would: a commit that deletes
PromoteToProd stops there for a person; an unchanged pipeline passes on its own. PipelineChange.Approved
then reads back who approved (ListActionExecutions on a moto server, through the AWS CLI): the
check's own role or, with approvers named, the approver role; anyone else fails it
(test_change_gate_approvers.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.rehearse.conftest import ENV
from tools.review_kit.rehearse import actions, approvals
from tools.review_kit.rehearse.pipeline import Pipeline

pytestmark = pytest.mark.synth

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK = "UploadApiPipeline"


def commit_artifact(pipeline_app: Any, tmp_path: Path) -> Path:
    """The synth artifact of a commit, as `make synth` writes it (assets staged, pipeline tools in)."""
    return Path(pipeline_app.artifact(tmp_path / "Synth_Output"))


def deployed_run(
    deployed: dict[str, Any], artifact: Path, tmp_path: Path, server: tuple[Any, dict[str, str]]
) -> actions.Run:
    """A rehearsal run of the deployed pipeline `deployed` on the synth artifact `artifact`."""
    run = actions.Run(
        pipeline=Pipeline.from_template(deployed, ENV, {}),
        work=tmp_path / "work",
        emulator_env=server[1],
        deployed_templates={STACK: deployed},
        session=server[0],
    )
    run.artifacts["Synth_Output"] = artifact
    return run


def rehearse_the_gate(
    deployed: dict[str, Any],
    artifact: Path,
    tmp_path: Path,
    server: tuple[Any, dict[str, str]],
    *,
    confirmed_by: str | None = None,
) -> dict[str, actions.Outcome]:
    """The deployed pipeline's gate actions, in order, on `artifact`, against the emulator `server`;
    with `confirmed_by`, that principal approves PipelineChange.Confirm (not the check, not a person)."""
    run = deployed_run(deployed, artifact, tmp_path, server)
    outcomes = {}
    for action in [a for a in run.pipeline.actions if a.stage == "PipelineChangeGate"]:
        try:
            if confirmed_by and action.provider == "Manual":
                approvals.approve_as(run, action, confirmed_by)
                outcome = actions.Outcome("person", f"approved by {confirmed_by}")
            else:
                outcome = actions.PROVIDERS[action.provider](run, action)
        except actions.ActionFailed as failed:
            outcome = actions.Outcome("fail", str(failed))
        run.history.append((action, outcome))
        outcomes[action.name] = outcome
    return outcomes


def deployed_template(artifact: Path) -> dict[str, Any]:
    return json.loads((artifact / f"{STACK}.template.json").read_text(encoding="utf-8"))


def synthesized_as(artifact: Path, template: dict[str, Any]) -> None:
    """The artifact as a commit's `cdk synth` of `template` writes it: the template file, and the
    object the CLI deploys it from named by its SHA-256 (manifest URL and asset destination)."""
    path = artifact / f"{STACK}.template.json"
    old_key = hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_text(json.dumps(template), encoding="utf-8")
    new_key = hashlib.sha256(path.read_bytes()).hexdigest()
    for name in ("manifest.json", f"{STACK}.assets.json"):
        text = (artifact / name).read_text(encoding="utf-8")
        (artifact / name).write_text(text.replace(old_key, new_key), encoding="utf-8")


def without_promote_to_prod(deployed: dict[str, Any]) -> dict[str, Any]:
    """A copy of the pipeline template whose Prod stage lacks the PromoteToProd approval."""
    commit = json.loads(json.dumps(deployed))
    (pipeline,) = [r for r in commit["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    (prod,) = [s for s in pipeline["Properties"]["Stages"] if s["Name"] == "Prod"]
    prod["Actions"] = [a for a in prod["Actions"] if a["Name"] != "UploadApi.PromoteToProd"]
    return dict(commit)


def test_an_unchanged_pipeline_passes_the_gate_on_its_own(pipeline_app, tmp_path, loopback_account):
    artifact = commit_artifact(pipeline_app, tmp_path)
    outcomes = rehearse_the_gate(deployed_template(artifact), artifact, tmp_path, loopback_account)
    assert {name: o.result for name, o in outcomes.items()} == {
        "PipelineChange.Check": "pass",
        "PipelineChange.Confirm": "pass",
        "PipelineChange.Approved": "pass",
    }


def test_a_commit_that_deletes_promote_to_prod_stops_at_the_gate(pipeline_app, tmp_path, loopback_account):
    # GIVEN the deployed pipeline, and a commit whose synth drops the PromoteToProd approval
    artifact = commit_artifact(pipeline_app, tmp_path)
    deployed = deployed_template(artifact)
    commit = without_promote_to_prod(deployed)
    synthesized_as(artifact, commit)
    # WHEN the deployed pipeline's gate is rehearsed on it
    outcomes = rehearse_the_gate(deployed, artifact, tmp_path, loopback_account)
    # THEN the check lists the deleted approval and the approval waits for a person
    assert outcomes["PipelineChange.Check"].result == "person"
    assert "approval UploadApi.PromoteToProd removed" in outcomes["PipelineChange.Check"].note
    assert outcomes["PipelineChange.Confirm"].result == "person"
    # AND the person's approval (no approvers named: anyone's) lets the gate's stage pass
    assert outcomes["PipelineChange.Approved"].result == "pass"


def test_an_artifact_with_cli_configuration_fails_the_gate(pipeline_app, tmp_path, loopback_account):
    artifact = commit_artifact(pipeline_app, tmp_path)
    (artifact / "cdk.json").write_text('{"plugin": ["./plugin.js"]}', encoding="utf-8")
    outcomes = rehearse_the_gate(deployed_template(artifact), artifact, tmp_path, loopback_account)
    assert outcomes["PipelineChange.Check"].result == "fail"
    assert "cdk.json" in outcomes["PipelineChange.Check"].note


def test_a_template_url_pointing_elsewhere_fails_the_gate(pipeline_app, tmp_path, loopback_account):
    # GIVEN a commit keeping the compared template but pointing the URL SelfMutate's CLI deploys
    # from at another bucket (which would hold a pipeline without approvals)
    artifact = commit_artifact(pipeline_app, tmp_path)
    manifest = json.loads((artifact / "manifest.json").read_text(encoding="utf-8"))
    properties = manifest["artifacts"][STACK]["properties"]
    key = properties["stackTemplateAssetObjectUrl"].rsplit("/", 1)[-1]
    properties["stackTemplateAssetObjectUrl"] = f"s3://attacker-bucket/{key}"
    (artifact / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    # THEN the deployed gate refuses the artifact: nothing approved, SelfMutate never runs
    outcomes = rehearse_the_gate(deployed_template(artifact), artifact, tmp_path, loopback_account)
    assert outcomes["PipelineChange.Check"].result == "fail"
    assert "the CLI would deploy another template" in outcomes["PipelineChange.Check"].note


def test_a_module_planted_in_the_artifact_waits_for_a_person(pipeline_app, tmp_path, loopback_account):
    # GIVEN an otherwise unchanged pipeline whose artifact holds a hashlib.py at its top level
    artifact = commit_artifact(pipeline_app, tmp_path)
    (artifact / "hashlib.py").write_text("import os; os.system('id')\n", encoding="utf-8")
    # THEN the gate's digest ran without it (the check judged) and a person is shown the file
    outcomes = rehearse_the_gate(deployed_template(artifact), artifact, tmp_path, loopback_account)
    assert outcomes["PipelineChange.Check"].result == "person"
    assert "hashlib.py: at the synth artifact's top level" in outcomes["PipelineChange.Check"].note


def test_code_staged_under_another_bundles_key_waits_for_a_person(pipeline_app, tmp_path, loopback_account):
    # GIVEN an unchanged pipeline whose artifact stages other code under the function's key (the key a
    # later, reviewed commit names: published now, that commit would deploy this code unpublished)
    artifact = commit_artifact(pipeline_app, tmp_path)
    (bundle,) = [p for p in artifact.glob("asset.*") if (p / "upload_api").is_dir()]
    (bundle / "upload_api" / "handler.py").write_text("import os; os.system('id')\n", encoding="utf-8")
    # THEN the deployed gate recomputes the key from the content and shows the asset to a person
    outcomes = rehearse_the_gate(deployed_template(artifact), artifact, tmp_path, loopback_account)
    assert outcomes["PipelineChange.Check"].result == "person"
    note, key = outcomes["PipelineChange.Check"].note, f"{bundle.name.removeprefix('asset.')}.zip"
    assert f"published as {key}): its key is not its content's fingerprint" in note


def test_a_commit_that_also_rewrites_the_gates_check_still_stops_at_the_deployed_gate(
    pipeline_app, tmp_path, loopback_account
):
    # GIVEN a commit that drops PromoteToProd and replaces the gate's embedded check with one that
    # approves everything (the commit's own copy of the gate)
    import base64
    import gzip

    artifact = commit_artifact(pipeline_app, tmp_path)
    deployed = deployed_template(artifact)
    commit = without_promote_to_prod(deployed)
    approves_all = base64.b64encode(gzip.compress(b"import sys\nsys.exit(0)\n", mtime=0)).decode("ascii")
    gates = [
        r
        for r in commit["Resources"].values()
        if r["Type"] == "AWS::CodeBuild::Project"
        and "$GATE_DIR/check.py" in json.dumps(r["Properties"]["Source"])  # not the change-set checks' files
    ]
    assert len(gates) == 1
    source = gates[0]["Properties"]["Source"]
    buildspec = json.loads(source["BuildSpec"]) if source["BuildSpec"].lstrip().startswith("{") else None
    assert buildspec is not None, "the gate's buildspec is JSON in the template"
    commands = buildspec["phases"]["build"]["commands"]
    commands[1] = f'echo "{approves_all}" | base64 -d | gunzip > "$GATE_DIR/check.py"'
    source["BuildSpec"] = json.dumps(buildspec, indent=2)
    synthesized_as(artifact, commit)
    # WHEN the DEPLOYED pipeline's gate is rehearsed on it
    outcomes = rehearse_the_gate(deployed, artifact, tmp_path, loopback_account)
    # THEN the deployed check runs, not the commit's: it lists the deleted approval and the gate's own
    # changed buildspec, and the approval waits for a person
    note = outcomes["PipelineChange.Check"].note
    assert outcomes["PipelineChange.Check"].result == "person"
    assert "approval UploadApi.PromoteToProd removed" in note
    assert "PipelineChangeGateProject" in note
    assert "Properties.Source changed" in note
    assert outcomes["PipelineChange.Confirm"].result == "person"
