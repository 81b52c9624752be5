"""The pipeline stack read back after SelfMutate (rehearse/readback.py, rehearse/pipeline_services.py).

moto in-process; the stack is deployed by the test, then the SelfMutate action (a build that only
names the stack it deploys) reads it back: a deployed pipeline that is not the synthesized one fails it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.rehearse.conftest import ENV
from tools.review_kit.rehearse import actions, cli, emulator, readback
from tools.review_kit.rehearse.pipeline import Pipeline

STACK = "UploadApiPipeline"
# The build names the stack it deploys; the deploy itself is the test's (create_stack, before the run).
SELF_MUTATE_SPEC = {"version": "0.2", "phases": {"build": {"commands": [f"echo deploy {STACK}"]}}}
VERIFY_SPEC = {"version": "0.2", "phases": {"build": {"commands": ["true"]}}}


def _trust(service: str) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return {"Version": "2012-10-17", "Statement": [statement]}


def _project(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::CodeBuild::Project",
        "Properties": {
            "Artifacts": {"Type": "CODEPIPELINE"},
            "Environment": {
                "ComputeType": "BUILD_GENERAL1_SMALL",
                "Image": "aws/codebuild/standard:7.0",
                "Type": "LINUX_CONTAINER",
            },
            "ServiceRole": {"Fn::GetAtt": ["BuildRole", "Arn"]},
            "Source": {"BuildSpec": json.dumps(spec, indent=2), "Type": "CODEPIPELINE"},
        },
    }


def _build(name: str, project: str, run_order: int = 1) -> dict[str, Any]:
    return {
        "Name": name,
        "ActionTypeId": {"Category": "Build", "Owner": "AWS", "Provider": "CodeBuild", "Version": "1"},
        "Configuration": {"ProjectName": {"Ref": project}},
        "InputArtifacts": [{"Name": "Source"}],
        "RunOrder": run_order,
    }


def pipeline_template() -> dict[str, Any]:
    """Source, UpdatePipeline (SelfMutate), Prod (the PromoteToProd approval, then a build)."""
    approval = {
        "Name": "UploadApi.PromoteToProd",
        "ActionTypeId": {"Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1"},
        "Configuration": {"CustomData": "Review the change set, then approve."},
        "RunOrder": 1,
    }
    source = {
        "Name": "Checkout",
        "ActionTypeId": {"Category": "Source", "Owner": "AWS", "Provider": "CodeCommit", "Version": "1"},
        "Configuration": {"RepositoryName": "repo", "BranchName": "main", "PollForSourceChanges": False},
        "OutputArtifacts": [{"Name": "Source"}],
    }
    stages = [
        {"Name": "Source", "Actions": [source]},
        {"Name": "UpdatePipeline", "Actions": [_build("SelfMutate", "SelfMutation")]},
        {"Name": "Prod", "Actions": [approval, _build("VerifyProd", "Verify", run_order=2)]},
    ]
    return {
        "Resources": {
            "PipelineRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": _trust("codepipeline.amazonaws.com")},
            },
            "BuildRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": _trust("codebuild.amazonaws.com")},
            },
            "SelfMutation": _project(SELF_MUTATE_SPEC),
            "Verify": _project(VERIFY_SPEC),
            "Pipeline": {
                "Type": "AWS::CodePipeline::Pipeline",
                "Properties": {
                    "RoleArn": {"Fn::GetAtt": ["PipelineRole", "Arn"]},
                    "ArtifactStore": {"Type": "S3", "Location": "artifacts"},
                    "PipelineType": "V2",
                    "Stages": stages,
                },
            },
        }
    }


@pytest.fixture
def account(monkeypatch):
    """moto in-process with the rehearsal's models; the source action hands on the test's files."""
    for key, value in emulator.client_environment("unused").items():
        if not key.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setitem(actions.PROVIDERS, "CodeCommit", lambda run, action: actions.Outcome("pass"))
    with mock_aws():
        emulator.install_emulated_types()
        emulator.patch_moto()
        yield boto3.Session(region_name=emulator.REGION)


def _rehearse(make_run, session, template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The stack deployed from `template`, then the pipeline's actions: rows by action name."""
    session.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    run = make_run(template, {f"{STACK}.template.json": json.dumps(template)}, session=session)
    return {row["action"]: row for row in cli.run_actions(run)}


def _drop_approvals_on_create(monkeypatch) -> None:
    """An emulator whose CreatePipeline drops every approval action."""
    from moto.codepipeline.models import CodePipelineBackend

    create = CodePipelineBackend.create_pipeline

    def without_approvals(self, pipeline, tags):
        for stage in pipeline["stages"]:
            stage["actions"] = [a for a in stage["actions"] if a["actionTypeId"]["category"] != "Approval"]
        return create(self, pipeline, tags)

    monkeypatch.setattr(CodePipelineBackend, "create_pipeline", without_approvals)


def test_the_deployed_pipeline_is_read_back_and_selfmutate_passes(make_run, account):
    # GIVEN the pipeline stack deployed as synthesized WHEN the pipeline is rehearsed
    rows = _rehearse(make_run, account, pipeline_template())
    # THEN SelfMutate reads the stack back: every stage, action and buildspec as synthesized
    self_mutate = rows["SelfMutate"]
    assert self_mutate["result"] == "pass", self_mutate["note"]
    assert "pipeline stack read back: 3 stages, 4 actions, 2 buildspecs as synthesized" in self_mutate["note"]
    # AND the summary counts the pipeline stack's resources, the pipeline and its projects created
    assert self_mutate["resources"] == {
        "total": 5,
        "createdAsWritten": 5,
        "createdByRehearsalModels": 0,
        "modelled": 0,
        "propertiesLost": [],
    }


def test_a_deployed_pipeline_without_promote_to_prod_fails_selfmutate(make_run, account, monkeypatch):
    # GIVEN an emulator that drops the approval action when it creates the pipeline
    _drop_approvals_on_create(monkeypatch)
    # WHEN the pipeline is rehearsed
    rows = _rehearse(make_run, account, pipeline_template())
    # THEN SelfMutate fails naming the approval the deployed pipeline lacks; nothing after it runs
    self_mutate = rows["SelfMutate"]
    assert self_mutate["result"] == "fail"
    assert (
        "the deployed pipeline's stage Prod lacks the approval UploadApi.PromoteToProd (Approval/Manual)"
        in self_mutate["note"]
    )
    assert rows["VerifyProd"]["result"] == "not run"


def test_a_buildspec_codebuild_holds_otherwise_fails_the_read_back(account, monkeypatch):
    # GIVEN an emulator whose CreateProject stores another buildspec than it was given
    from moto.codebuild.models import CodeBuildBackend

    create = CodeBuildBackend.create_project

    def altered(self, project_name, description, project_source, *args, **kwargs):
        source = {**project_source, "buildspec": project_source["buildspec"].replace("true", "false")}
        return create(self, project_name, description, source, *args, **kwargs)

    monkeypatch.setattr(CodeBuildBackend, "create_project", altered)
    template = pipeline_template()
    account.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    # WHEN the stack is read back THEN the project's buildspec is named, and the properties count it lost
    result = readback.read_back(account, STACK, template)
    assert result.problems == ["project Verify: the buildspec CodeBuild holds is not the template's"]
    assert result.check.fidelity.lost == {"AWS::CodeBuild::Project Verify": ["Source (lost)"]}


def test_a_pipeline_update_keeps_its_name_and_is_what_getpipeline_answers(account):
    # GIVEN the pipeline deployed, then updated with another Prod build (CloudFormation keeps the name)
    template = pipeline_template()
    cloudformation = account.client("cloudformation")
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    updated = copy.deepcopy(template)
    prod = updated["Resources"]["Pipeline"]["Properties"]["Stages"][2]
    prod["Actions"][1]["Name"] = "VerifyProdAgain"
    cloudformation.update_stack(StackName=STACK, TemplateBody=json.dumps(updated))
    # WHEN it is read back THEN the deployed pipeline is the update, under the same name
    result = readback.read_back(account, STACK, updated)
    assert result.problems == []
    assert len(account.client("codepipeline").list_pipelines()["pipelines"]) == 1


def test_stages_actions_and_order_are_held_against_the_template():
    written = pipeline_template()["Resources"]["Pipeline"]["Properties"]
    deployed = copy.deepcopy(written)
    # GIVEN a deployed pipeline without the UpdatePipeline stage, whose Prod build runs first
    deployed["Stages"] = [deployed["Stages"][0], deployed["Stages"][2]]
    deployed["Stages"][1]["Actions"][1]["RunOrder"] = 1
    # THEN both are named
    assert readback.structure_problems(written, deployed) == [
        "the deployed pipeline lacks the stage UpdatePipeline",
        "Prod/VerifyProd runs at order 1; the template's is 2",
    ]


def test_the_template_cloudformation_holds_must_be_the_synthesized_one():
    synthesized = pipeline_template()
    deployed = copy.deepcopy(synthesized)
    del deployed["Resources"]["Verify"]
    assert readback.template_differences(synthesized, deployed) == [
        "the template CloudFormation holds is not the synthesized one: resource Verify"
    ]
    assert readback.template_differences(synthesized, copy.deepcopy(synthesized)) == []


def test_the_rehearsed_pipeline_reads_selfmutate_from_the_template():
    # The action the read-back follows is the one CDK Pipelines names SelfMutate.
    pipeline = Pipeline.from_template(pipeline_template(), ENV, {})
    assert [a.label for a in pipeline.actions if readback.is_self_mutation(a)] == [
        "UpdatePipeline/SelfMutate"
    ]
    assert readback.deployed_stack(SELF_MUTATE_SPEC) == STACK
