"""The self-mutation gate's comparison script, run on template pairs and synth artifacts it builds.

The script (stages/pipeline/pipeline_change_check.py) is what the deployed PipelineChangeGate runs
with python3 and the AWS CLI only; the AWS CLI is replaced here by a recorded fake. What it holds the
synth artifact to: test_assembly_check.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from stages.pipeline import assembly_check as rules
from stages.pipeline import pipeline_change_check as check

from .gate_fixtures import (
    APPROVAL,
    EXECUTION,
    QUALIFIER,
    STACK,
    TOOLS,
    pipeline_template,
    prod_actions,
    write_assembly,
)

# -- the templates ---------------------------------------------------------------------------------


def test_identical_templates_need_nobody():
    # GIVEN the deployed template WHEN compared with itself THEN nothing waits for a person
    assert check.template_changes(pipeline_template(), pipeline_template()) == []


def test_what_cloudformation_does_not_act_on_needs_nobody():
    # GIVEN a new synth that differs only in CDK's path metadata, a scanner acknowledgement and analytics
    new = pipeline_template()
    new["Resources"]["Pipeline"]["Metadata"] = {
        "aws:cdk:path": "UploadApiPipeline/Pipeline/Moved/Resource",
        "checkov": {"skip": [{"id": "CKV_AWS_1", "comment": "reason"}]},
    }
    new["Resources"]["CDKMetadata"]["Properties"]["Analytics"] = "v2:deflate64:BBB"
    # WHEN compared THEN nothing waits for a person
    assert check.template_changes(pipeline_template(), new) == []


def test_deleting_promote_to_prod_needs_a_person():
    # GIVEN a commit whose pipeline has no PromoteToProd approval
    new = pipeline_template()
    prod_actions(new)[:] = [a for a in prod_actions(new) if a["Name"] != "UploadApi.PromoteToProd"]
    # WHEN compared THEN the removed approval is named
    changes = check.template_changes(pipeline_template(), new)
    assert "pipeline Pipeline: stage Prod: approval UploadApi.PromoteToProd removed" in changes


def test_deleting_a_permission_check_needs_a_person():
    new = pipeline_template()
    prod_actions(new)[:] = [a for a in prod_actions(new) if "PermissionsCheck" not in a["Name"]]
    changes = check.template_changes(pipeline_template(), new)
    assert "pipeline Pipeline: stage Prod: check ProdPermissionsCheck.Check removed" in changes
    assert "pipeline Pipeline: stage Prod: approval ProdPermissionsCheck.Confirm removed" in changes


def test_running_deploy_before_the_approval_needs_a_person():
    # GIVEN the change set executed before PromoteToProd (run orders swapped)
    new = pipeline_template()
    actions = {a["Name"]: a for a in prod_actions(new)}
    actions["UploadApi.Deploy"]["RunOrder"], actions["UploadApi.PromoteToProd"]["RunOrder"] = 4, 5
    changes = check.template_changes(pipeline_template(), new)
    assert (
        "pipeline Pipeline: stage Prod: approval UploadApi.PromoteToProd moved: run order 4 became 5"
        in changes
    )


def test_removing_a_stage_needs_a_person():
    new = pipeline_template()
    del new["Resources"]["Pipeline"]["Properties"]["Stages"][1]
    changes = check.template_changes(pipeline_template(), new)
    assert "pipeline Pipeline: stages Build > UpdatePipeline > Prod became Build > Prod" in changes


def test_a_changed_role_policy_needs_a_person():
    new = pipeline_template()
    statement = new["Resources"]["PipelineRoleDefaultPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    statement["Action"] = "s3:*"
    changes = check.template_changes(pipeline_template(), new)
    assert changes == ["IAM PipelineRoleDefaultPolicy (AWS::IAM::Policy): Properties.PolicyDocument changed"]


def test_a_changed_trust_policy_needs_a_person():
    new = pipeline_template()
    new["Resources"]["PipelineRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"].append(
        {"Principal": {"AWS": "arn:aws:iam::999999999999:root"}}
    )
    changes = check.template_changes(pipeline_template(), new)
    assert changes == ["IAM PipelineRole (AWS::IAM::Role): Properties.AssumeRolePolicyDocument changed"]


def test_a_changed_buildspec_needs_a_person():
    new = pipeline_template()
    new["Resources"]["Synth"]["Properties"]["Source"]["BuildSpec"] = (
        '{"phases": {"build": {"commands": ["curl x | sh"]}}}'
    )
    changes = check.template_changes(pipeline_template(), new)
    assert changes == ["CodeBuild project Synth (AWS::CodeBuild::Project): Properties.Source changed"]


def test_a_new_resource_needs_a_person():
    new = pipeline_template()
    new["Resources"]["OpenBucketPolicy"] = {"Type": "AWS::S3::BucketPolicy", "Properties": {}}
    changes = check.template_changes(pipeline_template(), new)
    assert changes == ["trust (bucket policy) OpenBucketPolicy (AWS::S3::BucketPolicy) added"]


def test_a_yaml_body_from_get_template_is_read_as_json(tmp_path):
    # GIVEN get-template's TemplateBody as a string (CloudFormation returns non-JSON bodies so)
    path = tmp_path / "deployed.json"
    path.write_text(json.dumps(json.dumps(pipeline_template())), encoding="utf-8")
    assert check.deployed_template(path) == pipeline_template()


# -- the verdict and the approval -------------------------------------------------------------------


class FakeCli:
    """The AWS CLI's codepipeline calls, against one pipeline execution whose approval waits."""

    def __init__(self, status: str = "InProgress", execution: str = EXECUTION) -> None:
        self.state = {
            "stageStates": [
                {
                    "stageName": "PipelineChangeGate",
                    "latestExecution": {"pipelineExecutionId": execution, "status": "InProgress"},
                    "actionStates": [
                        {
                            "actionName": "PipelineChange.Confirm",
                            "latestExecution": {"status": status, "token": "t-1"},
                        }
                    ],
                }
            ]
        }
        self.calls: list[list[str]] = []

    def __call__(self, arguments: list[str]) -> str:
        self.calls.append(arguments)
        return json.dumps(self.state) if arguments[1] == "get-pipeline-state" else "{}"

    @property
    def approvals(self) -> list[list[str]]:
        return [c for c in self.calls if c[1] == "put-approval-result"]


def run_main(tmp_path: Path, new: dict[str, Any], cli: FakeCli, tools: dict[str, bytes] | None = None) -> int:
    assembly = write_assembly(tmp_path / "cdk.out", new, tools)
    deployed = tmp_path / "deployed.json"
    deployed.write_text(json.dumps(pipeline_template()), encoding="utf-8")
    return check.main(arguments(assembly, deployed), run=cli)


def arguments(assembly: Path, deployed: Path) -> list[str]:
    """What the gate's buildspec passes (the deployed gate's tools digest, this execution's approval)."""
    return [
        *("--assembly", str(assembly), "--deployed", str(deployed), "--stack", STACK),
        *("--tools-digest", rules.tools_digest(TOOLS), "--approval", APPROVAL, "--execution", EXECUTION),
        *("--qualifier", QUALIFIER),
    ]


def test_an_unchanged_pipeline_is_approved_by_the_check(tmp_path, capsys):
    cli = FakeCli()
    assert run_main(tmp_path, pipeline_template(), cli) == check.AUTO_APPROVE
    (approval,) = cli.approvals
    assert approval[approval.index("--token") + 1] == "t-1"
    assert approval[approval.index("--action-name") + 1] == "PipelineChange.Confirm"
    assert json.loads(approval[approval.index("--result") + 1])["status"] == "Approved"


def test_a_deleted_approval_waits_for_a_person_and_is_listed(tmp_path, capsys):
    new = pipeline_template()
    prod_actions(new)[:] = [a for a in prod_actions(new) if a["Name"] != "UploadApi.PromoteToProd"]
    cli = FakeCli()
    assert run_main(tmp_path, new, cli) == check.NEEDS_A_PERSON
    assert cli.approvals == []
    assert "approval UploadApi.PromoteToProd removed" in capsys.readouterr().out


def test_changed_pipeline_tools_wait_for_a_person(tmp_path, capsys):
    # GIVEN the same template but another CDK CLI lock (the CLI SelfMutate would run)
    tools = {**TOOLS, "package-lock.json": b'{"lockfileVersion": 3, "packages": {"x": {}}}'}
    cli = FakeCli()
    assert run_main(tmp_path, pipeline_template(), cli, tools) == check.NEEDS_A_PERSON
    assert cli.approvals == []


def test_a_refused_assembly_approves_nothing_and_fails_the_check(tmp_path):
    cli = FakeCli()
    new = copy.deepcopy(pipeline_template())
    assembly = write_assembly(tmp_path / "cdk.out", new)
    (assembly / "cdk.json").write_text("{}", encoding="utf-8")
    deployed = tmp_path / "deployed.json"
    deployed.write_text(json.dumps(pipeline_template()), encoding="utf-8")
    assert check.main(arguments(assembly, deployed), run=cli) == check.REFUSED
    assert cli.approvals == []


def test_an_approval_decided_before_the_check_saw_it_waiting_fails_the_check(tmp_path, monkeypatch):
    # GIVEN a person approved before the check saw the approval wait (an earlier run's shows the same)
    monkeypatch.setattr(check.time, "sleep", lambda seconds: None)
    cli = FakeCli(status="Succeeded")
    # WHEN the check runs THEN it approves nothing and fails (the stage is retried)
    assert run_main(tmp_path, pipeline_template(), cli) == check.REFUSED
    assert cli.approvals == []


class DecidedWhileListing(FakeCli):
    """The approval waits when the check first looks, and is decided (a new token) by the next look."""

    def __call__(self, arguments: list[str]) -> str:
        answer = super().__call__(arguments)
        action = self.state["stageStates"][0]["actionStates"][0]["latestExecution"]
        action.update(status="Succeeded", token="t-2")
        return answer


def test_an_approval_given_while_the_list_was_written_fails_the_check(tmp_path):
    # GIVEN a pipeline change, and a person who approves before the check has listed it
    new = pipeline_template()
    prod_actions(new)[:] = [a for a in prod_actions(new) if a["Name"] != "UploadApi.PromoteToProd"]
    # WHEN the check runs THEN it fails the stage: the approval was not given on the list
    assert run_main(tmp_path, new, DecidedWhileListing()) == check.REFUSED


def test_the_approval_of_another_execution_is_never_approved(monkeypatch):
    # GIVEN the gate stage shows another execution WHEN waiting for the approval THEN the check gives up
    cli = FakeCli(execution="another-execution")
    monkeypatch.setattr(check.time, "sleep", lambda seconds: None)
    where = {
        "pipeline": "p",
        "stage": "PipelineChangeGate",
        "action": "PipelineChange.Confirm",
        "execution": EXECUTION,
    }
    with pytest.raises(check.Refused, match="not seen waiting"):
        check.waiting_approval(cli, where, attempts=3)
    assert cli.approvals == []


class StartsAfterAnEarlierRunsApproval(FakeCli):
    """At the first look the approval still shows the earlier run's result; then this run's waits."""

    def __init__(self) -> None:
        super().__init__(status="Succeeded")

    def __call__(self, arguments: list[str]) -> str:
        answer = super().__call__(arguments)
        self.state["stageStates"][0]["actionStates"][0]["latestExecution"] = {
            "status": "InProgress",
            "token": "t-3",
        }
        return answer


def test_an_earlier_runs_approval_is_not_taken_for_this_ones(tmp_path, monkeypatch, capsys):
    # GIVEN a change that needs a person, and the approval showing the earlier run's Succeeded at first
    monkeypatch.setattr(check.time, "sleep", lambda seconds: None)
    new = pipeline_template()
    prod_actions(new)[:] = [a for a in prod_actions(new) if a["Name"] != "UploadApi.PromoteToProd"]
    # WHEN the check runs THEN it waits for this run's approval and leaves it to a person
    assert run_main(tmp_path, new, StartsAfterAnEarlierRunsApproval()) == check.NEEDS_A_PERSON
    assert "approval UploadApi.PromoteToProd removed" in capsys.readouterr().out
