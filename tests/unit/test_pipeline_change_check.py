"""The self-mutation gate's comparison script, run on template pairs and synth artifacts it builds.

The script (stages/pipeline/pipeline_change_check.py) is what the deployed PipelineChangeGate runs
with python3 and the AWS CLI only; the AWS CLI is replaced here by a recorded fake.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from stages.pipeline import pipeline_change_check as check

STACK = "UploadApiPipeline"
APPROVAL = f"{STACK}Pipeline/PipelineChangeGate/PipelineChange.Confirm"
EXECUTION = "0f4c2d7e-1111-2222-3333-444455556666"
TOOLS = {
    "package.json": b'{"devDependencies": {"aws-cdk": "2.1.0"}}',
    "package-lock.json": b'{"lockfileVersion": 3}',
}


def action(name: str, provider: str, run_order: int, **configuration: Any) -> dict[str, Any]:
    category = {"Manual": "Approval", "CloudFormation": "Deploy"}.get(provider, "Build")
    return {
        "ActionTypeId": {"Category": category, "Owner": "AWS", "Provider": provider, "Version": "1"},
        "Configuration": configuration,
        "Name": name,
        "RunOrder": run_order,
    }


def pipeline_template() -> dict[str, Any]:
    """The shape of the synthesized pipeline stack: its pipeline, a role and policy, a project."""
    prod_actions = [
        action("ProdPermissionsCheck.Check", "CodeBuild", 1, ProjectName={"Ref": "SecurityCheck"}),
        action("ProdPermissionsCheck.Confirm", "Manual", 2),
        action("UploadApi.Prepare", "CloudFormation", 3, ActionMode="CHANGE_SET_REPLACE"),
        action("UploadApi.PromoteToProd", "Manual", 4, CustomData="Review change set PipelineChange"),
        action("UploadApi.Deploy", "CloudFormation", 5, ActionMode="CHANGE_SET_EXECUTE"),
    ]
    stages = [
        {"Name": "Build", "Actions": [action("Synth", "CodeBuild", 1, ProjectName={"Ref": "Synth"})]},
        {"Name": "UpdatePipeline", "Actions": [action("SelfMutate", "CodeBuild", 1)]},
        {"Name": "Prod", "Actions": prod_actions},
    ]
    return {
        "Resources": {
            "Pipeline": {
                "Type": "AWS::CodePipeline::Pipeline",
                "Properties": {"Stages": stages, "RoleArn": {"Fn::GetAtt": ["PipelineRole", "Arn"]}},
                "Metadata": {"aws:cdk:path": "UploadApiPipeline/Pipeline/Pipeline/Resource"},
            },
            "PipelineRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Statement": [{"Principal": {"Service": "x"}}]}},
            },
            "PipelineRoleDefaultPolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {
                        "Statement": [{"Action": "s3:GetObject", "Resource": "arn:aws:s3:::a/*"}]
                    }
                },
            },
            "Synth": {
                "Type": "AWS::CodeBuild::Project",
                "Properties": {
                    "Source": {"BuildSpec": '{"phases": {"build": {"commands": ["make synth"]}}}'}
                },
            },
            "CDKMetadata": {"Type": "AWS::CDK::Metadata", "Properties": {"Analytics": "v2:deflate64:AAA"}},
        },
        "Conditions": {"CDKMetadataAvailable": {"Fn::Or": []}},
    }


def prod_actions(template: dict[str, Any]) -> list[dict[str, Any]]:
    return template["Resources"]["Pipeline"]["Properties"]["Stages"][2]["Actions"]


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


# -- the synth artifact ----------------------------------------------------------------------------


def write_assembly(root: Path, template: dict[str, Any], tools: dict[str, bytes] | None = None) -> Path:
    """A cloud assembly as `make synth` writes it: manifest, template, its asset, the pipeline tools."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{STACK}.template.json").write_text(json.dumps(template), encoding="utf-8")
    key = "5100507.json"
    assets = {"files": {"5100507": {"source": {"path": f"{STACK}.template.json", "packaging": "file"},
                                    "destinations": {"current": {"objectKey": key}}}}}  # fmt: skip
    (root / f"{STACK}.assets.json").write_text(json.dumps(assets), encoding="utf-8")
    manifest = {
        "artifacts": {
            f"{STACK}.assets": {"type": "cdk:asset-manifest", "properties": {"file": f"{STACK}.assets.json"}},
            STACK: {
                "type": "aws:cloudformation:stack",
                "properties": {
                    "templateFile": f"{STACK}.template.json",
                    "stackTemplateAssetObjectUrl": f"s3://cdk-hnb659fds-assets/{key}",
                    "additionalDependencies": [f"{STACK}.assets"],
                },
                "dependencies": [f"{STACK}.assets"],
                "displayName": STACK,
            },
        }
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (root / check.PIPELINE_TOOLS).mkdir(exist_ok=True)
    for name, content in (TOOLS if tools is None else tools).items():
        (root / check.PIPELINE_TOOLS / name).write_bytes(content)
    return root


def edit_manifest(root: Path, edit: Any) -> None:
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    edit(manifest["artifacts"])
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_the_template_compared_is_the_one_the_manifest_deploys(tmp_path):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    assert check.pipeline_template(assembly, STACK) == pipeline_template()


def test_an_assembly_that_would_deploy_another_stack_too_is_refused(tmp_path):
    # GIVEN a manifest in which the pipeline stack depends on the prod stack (cdk deploy deploys it first)
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    edit_manifest(assembly, lambda artifacts: artifacts[STACK]["dependencies"].append("ProdStack"))
    with pytest.raises(check.Refused, match="SelfMutate would deploy them too"):
        check.pipeline_template(assembly, STACK)


def test_an_assembly_whose_template_asset_is_another_file_is_refused(tmp_path):
    # GIVEN the template CloudFormation is given (the asset) is not the file the gate compares
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / "other.json").write_text("{}", encoding="utf-8")
    assets = json.loads((assembly / f"{STACK}.assets.json").read_text(encoding="utf-8"))
    assets["files"]["5100507"]["source"]["path"] = "other.json"
    (assembly / f"{STACK}.assets.json").write_text(json.dumps(assets), encoding="utf-8")
    with pytest.raises(check.Refused, match=re.escape("is not UploadApiPipeline.template.json")):
        check.pipeline_template(assembly, STACK)


def _add_asset(manifest_path: Path, asset_id: str, source: dict[str, Any]) -> None:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"][asset_id] = {
        "source": source,
        "destinations": {"current": {"objectKey": f"{asset_id}.zip"}},
    }
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")


def test_a_file_asset_made_by_a_command_is_refused(tmp_path):
    # GIVEN the pipeline stack's asset manifest with an extra file asset whose source is a command
    # (the CLI runs it while it builds the stack's assets: in SelfMutate, before anything deploys)
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    _add_asset(assembly / f"{STACK}.assets.json", "evil", {"executable": ["sh", "-c", "id"]})
    # WHEN the gate reads the artifact THEN it refuses it, naming the asset
    with pytest.raises(check.Refused, match=r"file asset evil is made by a command"):
        check.pipeline_template(assembly, STACK)


def test_a_command_asset_of_a_stage_stack_is_refused_too(tmp_path):
    # GIVEN a nested stage assembly (the asset build publishes its assets with a role that may assume
    # the stage's deploy role) whose asset manifest holds a command
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    stage = assembly / "assembly-Prod"
    stage.mkdir()
    (stage / "Prod.assets.json").write_text(json.dumps({"files": {}}), encoding="utf-8")
    stage_manifest = {
        "artifacts": {
            "Prod.assets": {"type": "cdk:asset-manifest", "properties": {"file": "Prod.assets.json"}}
        }
    }
    (stage / "manifest.json").write_text(json.dumps(stage_manifest), encoding="utf-8")
    edit_manifest(
        assembly,
        lambda a: a.update(
            {"Prod": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Prod"}}}
        ),
    )
    assert check.pipeline_template(assembly, STACK) == pipeline_template()
    _add_asset(stage / "Prod.assets.json", "build", {"executable": ["node", "build.js"]})
    # WHEN the gate reads the artifact THEN it refuses it
    with pytest.raises(check.Refused, match=r"Prod.assets.json: file asset build is made by a command"):
        check.pipeline_template(assembly, STACK)


def test_a_container_image_asset_is_refused(tmp_path):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    path = assembly / f"{STACK}.assets.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["dockerImages"] = {"img": {"source": {"directory": "asset.img"}, "destinations": {}}}
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(check.Refused, match="container image assets"):
        check.pipeline_template(assembly, STACK)


def test_a_second_stack_the_deploy_command_selects_is_refused(tmp_path):
    # GIVEN a nested assembly holding another stack displayed as the pipeline stack
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    nested = assembly / "assembly-Evil"
    nested.mkdir()
    evil = {
        "artifacts": {"Evil": {"type": "aws:cloudformation:stack", "displayName": STACK, "properties": {}}}
    }
    (nested / "manifest.json").write_text(json.dumps(evil), encoding="utf-8")
    edit_manifest(
        assembly,
        lambda artifacts: artifacts.update(
            {"Nested": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Evil"}}}
        ),
    )
    with pytest.raises(check.Refused, match="selects"):
        check.pipeline_template(assembly, STACK)


@pytest.mark.parametrize("name", check.CLI_CONFIG_FILES)
def test_cli_configuration_in_the_assembly_is_refused(tmp_path, name):
    # GIVEN a cdk.json (its plugins would load in SelfMutate) or an .npmrc in the artifact
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / name).write_text('{"plugin": ["./x.js"]}', encoding="utf-8")
    with pytest.raises(check.Refused, match=name):
        check.pipeline_template(assembly, STACK)


def test_a_path_outside_the_assembly_is_refused(tmp_path):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    edit_manifest(assembly, lambda artifacts: artifacts[STACK]["properties"].update(templateFile="../t.json"))
    with pytest.raises(check.Refused, match="not a path inside"):
        check.pipeline_template(assembly, STACK)


def test_extra_files_beside_the_pipeline_tools_are_refused(tmp_path):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template(), {**TOOLS, ".npmrc": b"registry=x"})
    with pytest.raises(check.Refused, match="not exactly"):
        check.assembly_tools_digest(assembly)


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
        *("--tools-digest", check.tools_digest(TOOLS), "--approval", APPROVAL, "--execution", EXECUTION),
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
