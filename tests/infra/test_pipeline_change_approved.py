"""PipelineChange.Approved in the synthesized pipeline: after PipelineChange.Confirm, before
UpdatePipeline; told whose approvals count. It and each stage's PermissionsCheck.Approved
(test_permissions_check_approved.py): the deployed copy of the check, nothing of the commit's; a role
that may only list this pipeline's action executions.

stages/pipeline/who_approved.py; the decision itself: tests/unit/test_pipeline_change_approved.py.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from typing import Any

import pytest

from stages.guardrails import APPROVER_ROLE_NAME
from stages.pipeline import approved_change_set_check as check
from stages.pipeline.patches.generated import as_list
from stages.pipeline.self_mutation_gate import APPROVAL_ACTION, CHECK_ACTION, GATE_STAGE
from stages.pipeline.who_approved import APPROVED_ACTION, CHECK_SCRIPT
from tools.review_kit.rehearse.codebuild import phase_commands

from .conftest import SynthesizedApp, as_text
from .test_approvals import approver_app  # noqa: F401 - the fixture: the app with approvers named

pytestmark = pytest.mark.synth


# Every `<X>.Approved` build: (its stage, its action).
APPROVED_STEPS = [
    (GATE_STAGE, APPROVED_ACTION),
    ("Dev", "DevPermissionsCheck.Approved"),
    ("Prod", "ProdPermissionsCheck.Approved"),
]


def _actions(app: SynthesizedApp, stage: str = GATE_STAGE) -> dict[str, dict[str, Any]]:
    return {action["Name"]: action for action in app.actions(stage)}


def _project(app: SynthesizedApp, stage: str = GATE_STAGE, name: str = APPROVED_ACTION) -> dict[str, Any]:
    return app.resources[app.project_id(_actions(app, stage)[name])]["Properties"]


def _environment(app: SynthesizedApp) -> dict[str, str]:
    return {v["Name"]: as_text(v["Value"]) for v in _project(app)["Environment"]["EnvironmentVariables"]}


def _commands(app: SynthesizedApp, stage: str, name: str) -> tuple[dict[str, Any], list[str]]:
    spec = app.buildspec(app.project_id(_actions(app, stage)[name]))
    # every command of every phase, as CodeBuild runs them (the rehearsal's reading)
    commands = [command for _, command in phase_commands(spec)]
    return spec, commands


def test_it_runs_after_the_approval_and_before_update_pipeline(pipeline_app):
    actions = _actions(pipeline_app)
    assert actions[APPROVED_ACTION]["ActionTypeId"]["Provider"] == "CodeBuild"
    # After Confirm (a later run order of the same stage; Check and Confirm start together)...
    assert actions[APPROVED_ACTION]["RunOrder"] == actions[APPROVAL_ACTION]["RunOrder"] + 1
    assert actions[CHECK_ACTION]["RunOrder"] == actions[APPROVAL_ACTION]["RunOrder"]
    # ... and before self-mutation: the gate's stage is the one just before UpdatePipeline
    names = [stage["Name"] for stage in pipeline_app.pipeline["Stages"]]
    assert names[names.index(GATE_STAGE) + 1] == "UpdatePipeline"


def test_it_knows_this_execution_and_which_approval_to_read(pipeline_app):
    variables = json.loads(_actions(pipeline_app)[APPROVED_ACTION]["Configuration"]["EnvironmentVariables"])
    assert variables == [
        {"name": "PIPELINE_EXECUTION_ID", "type": "PLAINTEXT", "value": "#{codepipeline.PipelineExecutionId}"}
    ]
    environment = _environment(pipeline_app)
    assert (environment["APPROVAL_STAGE"], environment["APPROVAL_ACTION"]) == (GATE_STAGE, APPROVAL_ACTION)


def test_the_gates_own_role_is_the_one_whose_approval_counts(pipeline_app):
    # GIVEN the check's project's role WHEN the action's environment names the auto-approver
    gate = pipeline_app.resources[pipeline_app.project_id(_actions(pipeline_app)[CHECK_ACTION])]
    gate_role = gate["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
    # THEN it is that role's ARN, and (no approvers named) no approver role is required
    assert _environment(pipeline_app)[check.AUTO_APPROVER_ENV] == f"<{gate_role}.Arn>"
    assert check.APPROVER_ENV not in _environment(pipeline_app)


def test_with_approvers_it_requires_the_approver_role(approver_app):  # noqa: F811
    environment = _environment(approver_app)
    assert environment[check.APPROVER_ENV] == (
        f"arn:<AWS::Partition>:iam::<AWS::AccountId>:role/{APPROVER_ROLE_NAME}"
    )
    assert check.AUTO_APPROVER_ENV in environment


@pytest.mark.parametrize(("stage", "name"), APPROVED_STEPS)
def test_it_runs_the_deployed_check_and_nothing_from_the_commits_source(pipeline_app, stage, name):
    spec, commands = _commands(pipeline_app, stage, name)
    # GIVEN every command of the build (its directory is the synth artifact, which it never reads)
    from_source = [c for c in commands if re.search(r"\bmake\b|-m tools|\$CODEBUILD_SRC_DIR|\./", c)]
    assert from_source == []
    # THEN it is exactly: a directory of its own, the check written there from the buildspec, and
    # python3 -I on it from there in `who-approved` mode
    written = re.fullmatch(
        r'echo "([A-Za-z0-9+/=]+)" \| base64 -d \| gunzip > "\$CHECK_DIR/approved_change_set\.py"',
        commands[1],
    )
    assert written is not None
    assert commands == [
        'CHECK_DIR="$(mktemp -d)"',
        commands[1],
        'cd "$CHECK_DIR" && python3 -I approved_change_set.py who-approved',
    ]
    # AND the embedded script is the file, bytewise; no other phase (no install, no runtime selection)
    assert gzip.decompress(base64.b64decode(written.group(1))) == CHECK_SCRIPT.read_bytes()
    assert set(spec["phases"]) == {"build"}
    assert "env" not in spec


@pytest.mark.parametrize(("stage", "name"), APPROVED_STEPS)
def test_its_role_lists_this_pipelines_action_executions_and_changes_nothing(pipeline_app, stage, name):
    role_id = _project(pipeline_app, stage, name)["ServiceRole"]["Fn::GetAtt"][0]
    statements = pipeline_app.role_statements(role_id)
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert not any(a.startswith(("sts:", "iam:", "lambda:")) or a == "*" or a.endswith(":*") for a in actions)
    services = {a for a in actions if a.startswith(("cloudformation:", "codepipeline:", "kms:", "s3:"))}
    assert services == {
        "codepipeline:ListActionExecutions",
        "kms:Decrypt",
        "kms:DescribeKey",
        "s3:GetBucket*",
        "s3:GetObject*",
        "s3:List*",
    }
    (listing,) = [s for s in statements if s["Action"] == "codepipeline:ListActionExecutions"]
    pipeline_id = pipeline_app.logical_id(pipeline_app.stack.pipeline.pipeline)
    assert as_text(listing["Resource"]) == (
        f"arn:<AWS::Partition>:codepipeline:<AWS::Region>:<AWS::AccountId>:<{pipeline_id}>"
    )
    (trust,) = pipeline_app.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"}
