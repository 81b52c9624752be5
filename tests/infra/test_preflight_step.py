"""Each stage's Preflight action (stages/pipeline/preflight.py): first, read-only, told the stage's needs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stages.pipeline.preflight import MINIMUM_BOOTSTRAP_VERSION
from stages.settings import DEFAULT_BOOTSTRAP_QUALIFIERS
from tools.pipeline_checks.preflight.cli import lookup_role_arn

from .conftest import SynthesizedApp, as_text

pytestmark = pytest.mark.synth

STAGE_IDS = ["Dev", "Prod"]


def _preflight(app: SynthesizedApp, stage_id: str) -> dict[str, Any]:
    (action,) = [a for a in app.actions(stage_id) if "Preflight" in a["Name"]]
    return action


def _project_environment(app: SynthesizedApp, action: dict[str, Any]) -> dict[str, str]:
    project = app.resources[app.project_id(action)]["Properties"]
    return {v["Name"]: as_text(v["Value"]) for v in project["Environment"]["EnvironmentVariables"]}


def _reservations(template: dict[str, Any]) -> int:
    return sum(
        r["Properties"].get("ReservedConcurrentExecutions", 0)
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    )


@pytest.mark.parametrize("stage_id", STAGE_IDS)
def test_preflight_runs_before_anything_else_in_the_stage(pipeline_app, stage_id):
    # GIVEN the stage's actions
    actions = pipeline_app.actions(stage_id)
    preflight = _preflight(pipeline_app, stage_id)
    # THEN the preflight runs alone, first: before the permission check and every CloudFormation action
    others = [a for a in actions if a["Name"] != preflight["Name"]]
    assert all(preflight["RunOrder"] < a["RunOrder"] for a in others)
    assert preflight["ActionTypeId"]["Provider"] == "CodeBuild"
    assert pipeline_app.buildspec(pipeline_app.project_id(preflight))["phases"]["build"]["commands"] == [
        "make preflight"
    ]


@pytest.mark.parametrize("stage_id", STAGE_IDS)
def test_preflight_is_told_every_reservation_the_stage_template_makes(pipeline_app, stage_id):
    # GIVEN the stage's synthesized template (every function, the scan-result function included)
    reserved = _reservations(pipeline_app.stage_template(stage_id))
    # WHEN the preflight project's environment is read
    environment = _project_environment(pipeline_app, _preflight(pipeline_app, stage_id))
    # THEN it checks the account for exactly that much, for this stage's stack
    assert environment["RESERVED_CONCURRENCY"] == str(reserved)
    assert environment["STACK_NAME"] == f"{stage_id}-UploadApi"
    assert environment["STAGE"] == stage_id.lower()
    assert environment["MALWARE_SCANNING"] == ("true" if stage_id == "Prod" else "false")


@pytest.mark.parametrize("stage_id", STAGE_IDS)
def test_preflight_may_only_assume_the_stage_accounts_lookup_role(pipeline_app, stage_id):
    # GIVEN the preflight project's role
    project = pipeline_app.resources[pipeline_app.project_id(_preflight(pipeline_app, stage_id))]
    role_id = project["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
    assumes = [
        as_text(resource)
        for statement in pipeline_app.role_statements(role_id)
        if "sts:AssumeRole" in json.dumps(statement["Action"])
        for resource in (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
    ]
    # THEN the one role it may assume is the read-only CDK lookup role, which its variables name too
    assert len(assumes) == 1
    # (the stage's own bootstrap: cdk.json's bootstrapQualifier, docs/bootstrap.md)
    assert f"role/cdk-{DEFAULT_BOOTSTRAP_QUALIFIERS[stage_id.lower()]}-lookup-role-" in assumes[0]
    environment = _project_environment(pipeline_app, _preflight(pipeline_app, stage_id))
    assert lookup_role_arn(environment) == assumes[0]
    # AND no role ARN sits among the project's properties (it would read as a role the project passes)
    assert "PREFLIGHT_ROLE_ARN" not in environment


def test_the_minimum_bootstrap_version_covers_what_the_assembly_asks_for(pipeline_app):
    # GIVEN every stage stack's manifest entry in the synthesized assembly
    asked = []
    for manifest in pipeline_app.outdir.glob("assembly-*/manifest.json"):
        for artifact in json.loads(manifest.read_text())["artifacts"].values():
            properties = artifact.get("properties", {})
            asked.append(properties.get("requiresBootstrapStackVersion", 0))
            asked.append(properties.get("lookupRole", {}).get("requiresBootstrapStackVersion", 0))
    # THEN the preflight demands at least the highest version any of them needs
    assert asked
    assert max(asked) <= MINIMUM_BOOTSTRAP_VERSION
