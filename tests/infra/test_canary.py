"""Safe deploys: API Gateway calls the `live` alias; CodeDeploy shifts it and rolls back on alarms.

Prod shifts 10 percent for 5 minutes, then everything; dev shifts everything at once (both
from cdk.json's `deploymentConfig`). The error and latency alarms stop and roll back a
deployment; the throttling alarms do not (they are capacity, not a bad version).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from main import build_app
from stages.settings import CONTEXT_KEY, DEPLOYMENT_CONFIGS, SettingsError, load_stage_settings
from stages.upload.deployment import LIVE_ALIAS_NAME, deployment_config
from tools.pipeline_checks import nag_gate

from .conftest import Synthesized, cdk_json_setting, context_with

pytestmark = pytest.mark.synth

STAGES = ["dev", "prod"]
# The setting's spelling -> the name CodeDeploy knows the predefined config by.
CODEDEPLOY_NAMES = {
    "ALL_AT_ONCE": "CodeDeployDefault.LambdaAllAtOnce",
    "CANARY_10PERCENT_5MINUTES": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
    "CANARY_10PERCENT_10MINUTES": "CodeDeployDefault.LambdaCanary10Percent10Minutes",
    "CANARY_10PERCENT_15MINUTES": "CodeDeployDefault.LambdaCanary10Percent15Minutes",
    "CANARY_10PERCENT_30MINUTES": "CodeDeployDefault.LambdaCanary10Percent30Minutes",
    "LINEAR_10PERCENT_EVERY_1MINUTE": "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
    "LINEAR_10PERCENT_EVERY_2MINUTES": "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
    "LINEAR_10PERCENT_EVERY_3MINUTES": "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
    "LINEAR_10PERCENT_EVERY_10MINUTES": "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
}
ROLLBACK_ALARMS = {"LambdaErrors", "P99Latency", "Api5xxRate"}


def _one(stage: Synthesized, resource_type: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = stage.of_type(resource_type).items()
    return logical_id, resource


def _alarm_ids(stage: Synthesized) -> dict[str, str]:
    """Alarm construct name (Observability/<name>) -> logical id."""
    found = {}
    for logical_id, alarm in stage.of_type("AWS::CloudWatch::Alarm").items():
        if "/Observability/" not in alarm["Metadata"]["aws:cdk:path"]:
            continue  # the scan-result DLQ alarm (stages/upload/malware_scanning.py) rolls nothing back
        name = alarm["Metadata"]["aws:cdk:path"].split("/Observability/")[1].split("/")[0]
        found[name] = logical_id
    return found


# -- the alias -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_the_live_alias_points_at_the_functions_current_version(synth, stage):
    # GIVEN a stage
    built = synth(stage)
    # WHEN synthesized
    alias_id, alias = _one(built, "AWS::Lambda::Alias")
    version_id, version = _one(built, "AWS::Lambda::Version")
    # THEN the function is published as a version and the alias "live" points at it
    assert alias["Properties"]["Name"] == LIVE_ALIAS_NAME == "live"
    assert alias["Properties"]["FunctionName"] == {"Ref": built.function_id}
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    assert version["Properties"]["FunctionName"] == {"Ref": built.function_id}
    # AND the alias is what the method's integration names
    _, method = _one(built, "AWS::ApiGateway::Method")
    assert {"Ref": alias_id} in method["Properties"]["Integration"]["Uri"]["Fn::Join"][1]


def test_a_code_or_configuration_change_publishes_a_new_version(synth):
    # GIVEN dev as configured and dev with more memory
    before = _one(synth("dev"), "AWS::Lambda::Version")[0]
    after = _one(synth("dev", lambdaMemoryMb=2048), "AWS::Lambda::Version")[0]
    # WHEN both are synthesized
    # THEN the version's logical id differs: CloudFormation publishes a new version to shift to
    assert before != after


@pytest.mark.parametrize("stage", STAGES)
def test_api_gateway_invokes_the_alias_not_the_function(synth, stage):
    # GIVEN a stage
    built = synth(stage)
    alias_id, _ = _one(built, "AWS::Lambda::Alias")
    # WHEN synthesized
    _, method = _one(built, "AWS::ApiGateway::Method")
    # (a stage that scans uploads also lets EventBridge invoke its scan-result function)
    (permission,) = [
        p
        for p in built.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    # THEN the integration URI is the alias's ARN, and the invoke permission is on the alias
    uri = method["Properties"]["Integration"]["Uri"]["Fn::Join"][1]
    assert {"Ref": alias_id} in uri
    assert {"Fn::GetAtt": [built.function_id, "Arn"]} not in uri
    assert permission["Properties"]["FunctionName"] == {"Ref": alias_id}
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"


# -- the deployment group --------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_the_deployment_config_is_the_stages_setting(synth, stage):
    # GIVEN a stage and its deploymentConfig in cdk.json (dev: all at once, prod: canary)
    setting = cdk_json_setting(stage, "deploymentConfig")
    assert setting == {"dev": "ALL_AT_ONCE", "prod": "CANARY_10PERCENT_5MINUTES"}[stage]
    # WHEN synthesized
    _, group = _one(synth(stage), "AWS::CodeDeploy::DeploymentGroup")
    # THEN the deployment group uses that CodeDeploy config
    assert group["Properties"]["DeploymentConfigName"] == CODEDEPLOY_NAMES[setting]


def test_a_changed_deployment_config_setting_reaches_the_group(synth):
    # GIVEN prod set to shift linearly
    built = synth("prod", deploymentConfig="LINEAR_10PERCENT_EVERY_1MINUTE")
    # WHEN synthesized
    _, group = _one(built, "AWS::CodeDeploy::DeploymentGroup")
    # THEN the group uses the linear config
    assert (
        group["Properties"]["DeploymentConfigName"] == "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
    )


@pytest.mark.parametrize("name", DEPLOYMENT_CONFIGS)
def test_every_supported_setting_maps_to_codedeploys_predefined_config(name):
    # GIVEN a deploymentConfig value the settings accept
    # WHEN it is mapped to CDK's config
    # THEN it is CodeDeploy's predefined Lambda config of the same meaning
    assert deployment_config(name).deployment_config_name == CODEDEPLOY_NAMES[name]


@pytest.mark.parametrize("stage", STAGES)
def test_the_deployment_group_rolls_back_on_the_error_and_latency_alarms(synth, stage):
    # GIVEN a stage
    built = synth(stage)
    alarms = _alarm_ids(built)
    # WHEN synthesized
    _, group = _one(built, "AWS::CodeDeploy::DeploymentGroup")
    props = group["Properties"]
    # THEN the group watches the Lambda errors, p99 latency and API 5xx-rate alarms (not throttling)
    assert props["AlarmConfiguration"]["Enabled"] is True
    watched = {alarm["Name"]["Ref"] for alarm in props["AlarmConfiguration"]["Alarms"]}
    assert watched == {alarms[name] for name in ROLLBACK_ALARMS}
    # AND rolls back when a deployment fails, is stopped, or one of those alarms fires
    assert props["AutoRollbackConfiguration"] == {
        "Enabled": True,
        "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST", "DEPLOYMENT_STOP_ON_ALARM"],
    }
    # AND shifts traffic between versions (Lambda deployments are blue/green with traffic control)
    assert props["DeploymentStyle"] == {
        "DeploymentType": "BLUE_GREEN",
        "DeploymentOption": "WITH_TRAFFIC_CONTROL",
    }


@pytest.mark.parametrize("stage", STAGES)
def test_cloudformation_updates_the_alias_through_codedeploy(synth, stage):
    # GIVEN a stage
    built = synth(stage)
    application_id, _ = _one(built, "AWS::CodeDeploy::Application")
    group_id, group = _one(built, "AWS::CodeDeploy::DeploymentGroup")
    # WHEN synthesized
    _, alias = _one(built, "AWS::Lambda::Alias")
    # THEN an update of the alias is a CodeDeploy deployment in this application and group
    assert alias["UpdatePolicy"] == {
        "CodeDeployLambdaAliasUpdate": {
            "ApplicationName": {"Ref": application_id},
            "DeploymentGroupName": {"Ref": group_id},
        }
    }
    assert group["Properties"]["ApplicationName"] == {"Ref": application_id}
    _, application = _one(built, "AWS::CodeDeploy::Application")
    assert application["Properties"]["ComputePlatform"] == "Lambda"


def test_the_codedeploy_role_may_only_move_the_live_alias_and_read_its_alarms(dev):
    # GIVEN the dev stage
    _, group = _one(dev, "AWS::CodeDeploy::DeploymentGroup")
    role_id = group["Properties"]["ServiceRoleArn"]["Fn::GetAtt"][0]
    role = dev.resources[role_id]["Properties"]
    alarms = _alarm_ids(dev)
    # WHEN its trust and policies are read
    # THEN only CodeDeploy can assume it, no AWS managed policy is attached, and no other policy names it
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "codedeploy.amazonaws.com"}}
    ]
    assert "ManagedPolicyArns" not in role
    for policy in dev.of_type("AWS::IAM::Policy").values():
        assert {"Ref": role_id} not in policy["Properties"].get("Roles", [])
    # AND its one inline policy allows moving the live alias and describing the rollback alarms only
    (policy,) = role["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert set(statements) == {"ShiftTheLiveAlias", "ReadTheLiveAliasConcurrency", "WatchTheRollbackAlarms"}
    # GetAlias/UpdateAlias act on the function ARN (issue 9 finding 3: on `...:live` they match nothing)
    shift = statements["ShiftTheLiveAlias"]
    assert sorted(shift["Action"]) == ["lambda:GetAlias", "lambda:UpdateAlias"]
    assert shift["Resource"] == {"Fn::GetAtt": [dev.function_id, "Arn"]}
    concurrency = statements["ReadTheLiveAliasConcurrency"]
    assert concurrency["Action"] == "lambda:GetProvisionedConcurrencyConfig"
    assert concurrency["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [dev.function_id, "Arn"]}, ":live"]]}
    watch = statements["WatchTheRollbackAlarms"]
    assert watch["Action"] == "cloudwatch:DescribeAlarms"
    assert {r["Fn::GetAtt"][0] for r in watch["Resource"]} == {alarms[name] for name in ROLLBACK_ALARMS}
    assert all(s["Effect"] == "Allow" for s in statements.values())


def _references(value: Any) -> set[str]:
    """Logical ids a template value refers to (Ref, Fn::GetAtt, Fn::Sub ${Id})."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                found |= _references(inner)
            else:
                found |= _references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _references(inner)
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_the_template_has_no_dependency_cycle_counting_update_policies(synth, stage):
    # GIVEN a stage (the alias's UpdatePolicy names the deployment group, which names the alarms, which
    # must therefore not refer back to the API that invokes the alias; CDK's own check skips UpdatePolicy)
    resources = synth(stage).resources
    # WHEN every Ref/GetAtt/DependsOn, including those in UpdatePolicy, is an edge
    edges = {
        logical_id: (
            _references(resource.get("Properties", {}))
            | _references(resource.get("UpdatePolicy", {}))
            | set(resource.get("DependsOn", []))
        )
        & set(resources)
        for logical_id, resource in resources.items()
    }
    # THEN the graph is acyclic (CloudFormation would refuse the template otherwise)
    done: set[str] = set()
    visiting: list[str] = []

    def visit(node: str) -> None:
        if node in done:
            return
        assert node not in visiting, " -> ".join([*visiting[visiting.index(node) :], node])
        visiting.append(node)
        for target in sorted(edges[node]):
            visit(target)
        visiting.pop()
        done.add(node)

    for node in sorted(edges):
        visit(node)


# -- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["CANARY_10PERCENT_1MINUTE", "canary_10percent_5minutes", "CodeDeployDefault.LambdaAllAtOnce", 5, None],
)
def test_an_unsupported_deployment_config_is_named_with_the_choices(value):
    # GIVEN cdk.json with a deploymentConfig CodeDeploy has no predefined Lambda config for
    upload_api = context_with("prod", deploymentConfig=value)[CONTEXT_KEY]
    # WHEN prod's settings are loaded
    # THEN SettingsError names the setting's path and lists what is accepted
    with pytest.raises(SettingsError, match=re.escape("uploadApi.stages.prod.deploymentConfig")) as raised:
        load_stage_settings(upload_api, "prod")
    assert "ALL_AT_ONCE" in str(raised.value)
    assert "CANARY_10PERCENT_5MINUTES" in str(raised.value)


def test_without_a_setting_a_stage_deploys_as_a_canary():
    # GIVEN a stage block with no deploymentConfig (and none in defaults)
    upload_api = context_with("prod")[CONTEXT_KEY]
    del upload_api["stages"]["prod"]["deploymentConfig"]
    upload_api["defaults"].pop("deploymentConfig", None)
    # WHEN loaded
    # THEN the safe default applies: the 10 percent, 5 minute canary
    assert load_stage_settings(upload_api, "prod").deployment_config == "CANARY_10PERCENT_5MINUTES"


# -- the whole pipeline ----------------------------------------------------------------------------


def test_the_pipeline_with_both_stages_has_zero_unacknowledged_nag_findings(tmp_path: Path):
    # GIVEN main.py's app (pipeline, Dev and Prod stages) with cdk.json's context
    app = cdk.App(context=context_with("dev"), outdir=str(tmp_path))
    build_app(app)
    # WHEN synthesized in-process (raises on any unacknowledged nag error)
    app.synth()
    # THEN the gate finds no error, and both upload stacks have their canary machinery
    report = json.loads((tmp_path / "validation-report.json").read_text(encoding="utf-8"))
    assert nag_gate.violations(report) == []
    configs = {}
    for template_file in sorted(tmp_path.glob("assembly-*/*.template.json")):
        resources = json.loads(template_file.read_text(encoding="utf-8"))["Resources"]
        groups = [r for r in resources.values() if r["Type"] == "AWS::CodeDeploy::DeploymentGroup"]
        if groups:
            configs[template_file.parent.name] = groups[0]["Properties"]["DeploymentConfigName"]
    assert configs == {
        "assembly-UploadApiPipeline-Dev": "CodeDeployDefault.LambdaAllAtOnce",
        "assembly-UploadApiPipeline-Prod": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
    }
