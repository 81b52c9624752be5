"""The builds after PipelineChangeGate refuse a synth artifact other than the one the gate judged.

The gate's Check exports the artifact's digest (its namespace's ARTIFACT_DIGEST), and every CodeBuild
action after it that reads the synth artifact gets it and checks it first (patches/artifact_digest.py;
the digest itself: tests/unit/test_artifact_digest.py; in a rehearsal:
tests/rehearse/test_artifact_digest.py).
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path
from typing import Any

from stages.pipeline import artifact_digest
from stages.pipeline.patches.artifact_digest import (
    NAMESPACE,
    REFERENCE,
    VARIABLE,
    check_command,
    compute_command,
)
from stages.pipeline.self_mutation_gate import CHECK_ACTION, GATE_STAGE
from stages.pipeline.who_approved import approved_build_spec

PHASES = ("install", "pre_build", "build", "post_build")
CONSUMERS = {
    ("UpdatePipeline", "SelfMutate"),
    ("Assets", "FileAssets"),
    ("Dev", "DevPermissionsCheck.Check"),
    ("Prod", "ProdPermissionsCheck.Check"),
    ("Dev", "UploadApi.JudgedChangeSet"),
    ("Prod", "UploadApi.JudgedChangeSet"),
}


def first_command(spec: dict[str, Any]) -> str:
    for phase in PHASES:
        commands = (spec["phases"].get(phase) or {}).get("commands") or []
        if commands:
            return str(commands[0])
    raise AssertionError("a buildspec without commands")


def variables(action: dict[str, Any]) -> dict[str, str]:
    text = action["Configuration"].get("EnvironmentVariables")
    return {v["name"]: v["value"] for v in json.loads(text)} if text else {}


def synth_output(app: Any) -> str:
    (check,) = [a for a in app.actions(GATE_STAGE) if a["Name"] == CHECK_ACTION]
    (artifact,) = check["InputArtifacts"]
    return str(artifact["Name"])


def takers_after_the_gate(app: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Every CodeBuild action after the gate's stage whose input is the artifact the gate judged."""
    names = [stage["Name"] for stage in app.pipeline["Stages"]]
    artifact = synth_output(app)
    return {
        (stage_name, action["Name"]): action
        for stage_name in names[names.index(GATE_STAGE) + 1 :]
        for action in app.actions(stage_name)
        if action["ActionTypeId"]["Provider"] == "CodeBuild"
        and artifact in [a["Name"] for a in action.get("InputArtifacts", [])]
    }


def never_reads_its_input(app: Any, action: dict[str, Any]) -> bool:
    """A `<X>.Approved` build: its buildspec is exactly the who-approved check's, which reads nothing of
    its input (tests/infra/test_pipeline_change_approved.py)."""
    return bool(app.buildspec(app.project_id(action)) == approved_build_spec())


def readers_after_the_gate(app: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Of those, every one that reads it."""
    return {k: a for k, a in takers_after_the_gate(app).items() if not never_reads_its_input(app, a)}


def test_the_builds_taking_the_artifact_without_reading_it_are_the_permission_checks_approved(pipeline_app):
    # GIVEN the builds after the gate that take the judged artifact as their input (CodeBuild needs one)
    skipped = set(takers_after_the_gate(pipeline_app)) - set(readers_after_the_gate(pipeline_app))
    # THEN the only ones not held to the digest are each stage's PermissionsCheck.Approved
    assert skipped == {("Dev", "DevPermissionsCheck.Approved"), ("Prod", "ProdPermissionsCheck.Approved")}


def test_the_gates_check_exports_the_digest_it_computes_first(pipeline_app):
    (check,) = [a for a in pipeline_app.actions(GATE_STAGE) if a["Name"] == CHECK_ACTION]
    assert check["Namespace"] == NAMESPACE
    spec = pipeline_app.buildspec(pipeline_app.project_id(check))
    assert spec["env"]["exported-variables"] == [VARIABLE]
    assert first_command(spec) == compute_command()


def test_every_build_after_the_gate_that_reads_its_artifact_gets_the_gates_digest(pipeline_app):
    readers = readers_after_the_gate(pipeline_app)
    assert set(readers) == CONSUMERS
    for (_, name), action in readers.items():
        assert variables(action).get(VARIABLE) == REFERENCE == f"#{{{NAMESPACE}.{VARIABLE}}}", name


def test_the_digest_is_merged_with_the_variables_cdk_pipelines_sets(pipeline_app):
    readers = readers_after_the_gate(pipeline_app)
    assert "_PROJECT_CONFIG_HASH" in variables(readers[("UpdatePipeline", "SelfMutate")])
    for stage in ("Dev", "Prod"):
        check = variables(readers[(stage, f"{stage}PermissionsCheck.Check")])
        assert {"STAGE_PATH", "STAGE_NAME", "ACTION_NAME", VARIABLE} <= set(check), stage
        assert check["STAGE_NAME"] == stage


def test_each_consumers_buildspec_checks_the_digest_before_anything_else(pipeline_app):
    for (_, name), action in readers_after_the_gate(pipeline_app).items():
        spec = pipeline_app.buildspec(pipeline_app.project_id(action))
        assert first_command(spec) == check_command(), name
        # isolated (-I), from a directory of its own, on the artifact by its absolute path
        assert first_command(spec).startswith('(cd "$(mktemp -d)" && echo "'), name
        assert first_command(spec).endswith(f'| python3 -I - "$CODEBUILD_SRC_DIR" "${VARIABLE}")'), name


def test_the_check_that_runs_is_the_deployed_copy_of_the_digest_script(pipeline_app):
    (action, *_) = readers_after_the_gate(pipeline_app).values()
    command = first_command(pipeline_app.buildspec(pipeline_app.project_id(action)))
    (encoded,) = re.findall(r'echo "([A-Za-z0-9+/=]+)" \| base64 -d \| gunzip', command)
    assert gzip.decompress(base64.b64decode(encoded)) == Path(artifact_digest.__file__).read_bytes()
