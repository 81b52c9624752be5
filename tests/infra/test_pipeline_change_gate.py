"""The self-mutation gate in the synthesized pipeline: where it runs, what it runs, what its role may do.

stages/pipeline/self_mutation_gate.py; the comparison script itself: tests/unit/test_pipeline_change_check.py.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import re
from typing import Any

import pytest

from stages.guardrails import PIPELINE_QUALIFIER
from stages.pipeline import assembly_check as rules
from stages.pipeline import pipeline_change_check as check
from stages.pipeline.patches.artifact_digest import compute_command
from stages.pipeline.self_mutation_gate import (
    APPROVAL_ACTION,
    CHECK_ACTION,
    CHECK_SCRIPT,
    GATE_STAGE,
    RULE_SCRIPTS,
    pipeline_tools_digest,
)
from stages.pipeline.who_approved import APPROVED_ACTION
from stages.template_text import as_nag_text as as_text

PIPELINE_STACK = "UploadApiPipeline"


def gate_actions(app: Any) -> dict[str, dict[str, Any]]:
    return {action["Name"]: action for action in app.actions(GATE_STAGE)}


def gate_role_id(app: Any) -> str:
    project = app.resources[app.project_id(gate_actions(app)[CHECK_ACTION])]
    return project["Properties"]["ServiceRole"]["Fn::GetAtt"][0]


def test_the_gate_runs_after_synth_and_just_before_self_mutation(pipeline_app):
    names = [stage["Name"] for stage in pipeline_app.pipeline["Stages"]]
    assert names[names.index("Build") + 1 : names.index("UpdatePipeline") + 1] == [
        GATE_STAGE,
        "UpdatePipeline",
    ]


def test_the_gate_is_a_check_and_an_approval_that_start_together_then_who_approved(pipeline_app):
    # The check approves the approval while its build still runs (the approval must already wait).
    actions = gate_actions(pipeline_app)
    assert set(actions) == {CHECK_ACTION, APPROVAL_ACTION, APPROVED_ACTION}
    assert actions[CHECK_ACTION]["ActionTypeId"]["Provider"] == "CodeBuild"
    assert actions[APPROVAL_ACTION]["ActionTypeId"]["Provider"] == "Manual"
    assert actions[CHECK_ACTION]["RunOrder"] == actions[APPROVAL_ACTION]["RunOrder"]


def test_the_check_reads_the_artifact_self_mutation_deploys(pipeline_app):
    (self_mutate,) = pipeline_app.actions("UpdatePipeline")
    assert gate_actions(pipeline_app)[CHECK_ACTION]["InputArtifacts"] == self_mutate["InputArtifacts"]


def test_the_check_knows_its_pipeline_execution(pipeline_app):
    variables = json.loads(gate_actions(pipeline_app)[CHECK_ACTION]["Configuration"]["EnvironmentVariables"])
    assert {
        "name": "PIPELINE_EXECUTION_ID",
        "type": "PLAINTEXT",
        "value": "#{codepipeline.PipelineExecutionId}",
    } in (variables)


def test_the_buildspec_carries_the_comparison_script_itself(pipeline_app):
    # GIVEN the gate project's buildspec WHEN its embedded script is decoded THEN it is the file, bytewise
    spec = pipeline_app.buildspec(pipeline_app.project_id(gate_actions(pipeline_app)[CHECK_ACTION]))
    commands = spec["phases"]["build"]["commands"]
    embedded = {
        m.group(2): gzip.decompress(base64.b64decode(m.group(1)))
        for m in (
            re.match(r'echo "([A-Za-z0-9+/=]+)" \| base64 -d \| gunzip > "\$GATE_DIR/(\S+)"', c)
            for c in commands
        )
        if m
    }
    # the check and the assembly rules it imports, side by side in its own directory
    assert embedded == {
        "check.py": CHECK_SCRIPT.read_bytes(),
        **{module.name: module.read_bytes() for module in RULE_SCRIPTS},
    }
    # AND it runs from that directory, on the artifact by its absolute path, with -E -s (its own
    # directory the only one on sys.path besides the standard library's; pyenv reads no version there)
    (run,) = [c for c in commands if "check.py --assembly" in c]
    assert run.startswith('(cd "$GATE_DIR" && python3 -E -s check.py --assembly "$CODEBUILD_SRC_DIR" ')
    assert '--qualifier "$PIPELINE_QUALIFIER"' in run
    # AND it runs with python3 and the AWS CLI only: an install phase that only digests the artifact
    # (patches/artifact_digest.py), no project virtualenv, no make
    assert set(spec["phases"]) == {"install", "build"}
    assert spec["phases"]["install"] == {"commands": [compute_command()]}
    assert not any("make " in c or ".venv" in c or "pip " in c for c in commands)


def test_the_check_compares_with_the_deployed_pipeline_stack(pipeline_app):
    project = pipeline_app.resources[pipeline_app.project_id(gate_actions(pipeline_app)[CHECK_ACTION])]
    environment = {
        v["Name"]: v["Value"] for v in project["Properties"]["Environment"]["EnvironmentVariables"]
    }
    assert environment["PIPELINE_STACK"] == PIPELINE_STACK == pipeline_app.stack.stack_name
    assert environment["PIPELINE_TOOLS_DIGEST"] == pipeline_tools_digest()
    spec = pipeline_app.buildspec(pipeline_app.project_id(gate_actions(pipeline_app)[CHECK_ACTION]))
    assert any(
        c.startswith('aws cloudformation get-template --stack-name "$PIPELINE_STACK"')
        for c in spec["phases"]["build"]["commands"]
    )


def test_the_gate_role_reads_the_pipeline_stack_and_approves_only_its_approval(pipeline_app):
    statements = pipeline_app.role_statements(gate_role_id(pipeline_app))
    by_action: dict[str, list[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow", statement
        assert "Condition" not in statement, statement
        for action in check_actions(statement):
            by_action.setdefault(action, []).extend(as_text(r) for r in resources(statement))
    pipeline_id = pipeline_app.logical_id(pipeline_app.stack.pipeline.pipeline)
    prefix = "arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:"
    pipeline_arn = prefix.format(service="codepipeline") + f"<{pipeline_id}>"
    stack_arn = prefix.format(service="cloudformation") + f"stack/{PIPELINE_STACK}/*"
    assert by_action["cloudformation:GetTemplate"] == [stack_arn]
    assert by_action["codepipeline:GetPipelineState"] == [pipeline_arn]
    assert by_action["codepipeline:PutApprovalResult"] == [f"{pipeline_arn}/{GATE_STAGE}/{APPROVAL_ACTION}"]


def test_the_gate_role_can_assume_no_role_and_change_nothing(pipeline_app):
    actions = {a for s in pipeline_app.role_statements(gate_role_id(pipeline_app)) for a in check_actions(s)}
    assert not any(a.startswith(("sts:", "iam:", "lambda:")) or a == "*" or a.endswith(":*") for a in actions)
    writes = {a for a in actions if a.startswith(("cloudformation:", "codepipeline:", "kms:", "s3:"))}
    assert writes == {
        "cloudformation:GetTemplate",
        "codepipeline:GetPipelineState",
        "codepipeline:PutApprovalResult",
        "kms:Decrypt",
        "kms:DescribeKey",
        "s3:GetBucket*",
        "s3:GetObject*",
        "s3:List*",
    }


def test_the_gate_role_is_trusted_by_codebuild_only(pipeline_app):
    role = pipeline_app.resources[gate_role_id(pipeline_app)]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "codebuild.amazonaws.com"}


def test_the_pipeline_template_carries_no_stage_asset_hash(pipeline_app):
    # GIVEN every asset the stage stacks publish (the Lambda bundles, the templates)
    hashes = set()
    for stage_id in ("Dev", "Prod"):
        for manifest in (pipeline_app.outdir / f"assembly-{PIPELINE_STACK}-{stage_id}").glob("*.assets.json"):
            hashes |= set(json.loads(manifest.read_text(encoding="utf-8")).get("files", {}))
    assert hashes
    # WHEN the pipeline template is searched for them THEN none is there: a commit that changes only
    # the function's code leaves the pipeline template as deployed, and the gate approves it itself
    text = (pipeline_app.outdir / f"{PIPELINE_STACK}.template.json").read_text(encoding="utf-8")
    assert not [h for h in hashes if h in text]


@pytest.fixture(scope="module")
def synthesized_template(pipeline_app) -> dict[str, Any]:
    return json.loads((pipeline_app.outdir / f"{PIPELINE_STACK}.template.json").read_text(encoding="utf-8"))


def test_the_synthesized_template_compared_with_itself_needs_nobody(synthesized_template):
    assert check.template_changes(synthesized_template, copy.deepcopy(synthesized_template)) == []


def test_the_synthesized_pipeline_without_promote_to_prod_needs_a_person(synthesized_template):
    # GIVEN the deployed pipeline, and a commit's synth of it without the PromoteToProd approval
    new = copy.deepcopy(synthesized_template)
    (pipeline,) = [r for r in new["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    (prod,) = [s for s in pipeline["Properties"]["Stages"] if s["Name"] == "Prod"]
    prod["Actions"] = [a for a in prod["Actions"] if a["Name"] != "UploadApi.PromoteToProd"]
    # WHEN the gate compares them THEN the deleted approval waits for a person
    changes = check.template_changes(synthesized_template, new)
    assert [c for c in changes if c.endswith("stage Prod: approval UploadApi.PromoteToProd removed")]


def check_actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return actions if isinstance(actions, list) else [actions]


def resources(statement: dict[str, Any]) -> list[Any]:
    found = statement["Resource"]
    return found if isinstance(found, list) else [found]


# -- what the deployed gate holds the synth artifact to, on the app as synthesized ---------------------


def test_the_gate_is_told_the_pipelines_bootstrap(pipeline_app):
    project = pipeline_app.resources[pipeline_app.project_id(gate_actions(pipeline_app)[CHECK_ACTION])]
    environment = {
        v["Name"]: v["Value"] for v in project["Properties"]["Environment"]["EnvironmentVariables"]
    }
    assert environment["PIPELINE_QUALIFIER"] == PIPELINE_QUALIFIER


def test_the_synthesized_assembly_is_one_the_gate_vouches_for_without_a_person(pipeline_app, tmp_path):
    # GIVEN the app's synth artifact as `make synth` writes it (its assets staged inside it)
    assembly = pipeline_app.artifact(tmp_path / "cdk.out")
    # THEN its template URL, stage template paths, deploy properties and entries are what the gate expects
    template = rules.pipeline_template(assembly, PIPELINE_STACK, PIPELINE_QUALIFIER)
    assert template == pipeline_app.template.to_json()
    rules.stage_template_paths(assembly, template, PIPELINE_STACK)
    assert rules.stack_property_changes(assembly, PIPELINE_STACK, PIPELINE_QUALIFIER) == []
    assert rules.unexpected_entries(assembly) == []
