"""API Gateway: one POST /upload method, validated, throttled, logged, IAM-authorized by default."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Capture, Match

from stages.upload.gateway_responses import gateway_model
from stages.upload.stack import REQUEST_SCHEMA_PATH

from .conftest import cdk_json_setting

pytestmark = pytest.mark.synth


def test_the_api_has_exactly_one_method_post_on_upload(dev, template):
    # GIVEN the dev stage as cdk.json configures it
    # WHEN its stack is synthesized
    # THEN there is one REST API with one resource, /upload, and one method on it: POST
    template.resource_count_is("AWS::ApiGateway::RestApi", 1)
    template.resource_count_is("AWS::ApiGateway::Resource", 1)
    template.resource_count_is("AWS::ApiGateway::Method", 1)
    resource_id = Capture()
    template.has_resource_properties(
        "AWS::ApiGateway::Resource",
        {"PathPart": "upload", "ParentId": {"Fn::GetAtt": [Match.any_value(), "RootResourceId"]}},
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Method", {"HttpMethod": "POST", "ResourceId": {"Ref": resource_id}}
    )
    assert dev.resources[resource_id.as_string()]["Properties"]["PathPart"] == "upload"


def _live_alias_id(dev) -> str:
    (alias_id,) = dev.of_type("AWS::Lambda::Alias")
    assert dev.resources[alias_id]["Properties"]["FunctionName"] == {"Ref": dev.function_id}
    return alias_id


def test_the_method_is_a_lambda_proxy_integration_of_the_upload_function(dev, template):
    # GIVEN the dev stage
    # WHEN synthesized
    # THEN POST /upload proxies to the upload function's live alias (AWS_PROXY, invoked with POST),
    # so CodeDeploy decides which version answers (tests/infra/test_canary.py)
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "Integration": {
                "Type": "AWS_PROXY",
                "IntegrationHttpMethod": "POST",
                "Uri": {"Fn::Join": ["", Match.array_with([{"Ref": _live_alias_id(dev)}])]},
            }
        },
    )


def test_api_gateway_may_invoke_the_function_only_for_post_upload(dev, template):
    # GIVEN the dev stage (no console test-invoke permission)
    # WHEN synthesized
    # THEN one Lambda permission for API Gateway exists, on the live alias (what the method
    # invokes), for apigateway.amazonaws.com and the POST /upload ARN only (the other permission
    # is EventBridge's, for the direct-upload finalizer)
    permissions = template.find_resources("AWS::Lambda::Permission")
    principals = sorted(p["Properties"]["Principal"] for p in permissions.values())
    assert principals == ["apigateway.amazonaws.com", "events.amazonaws.com"]
    source_arn = Capture()
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": _live_alias_id(dev)},
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": source_arn,
        },
    )
    assert json.dumps(source_arn.as_object()).endswith('"/POST/upload"]]}')


def test_the_method_validates_the_body_against_the_json_model(template):
    # GIVEN the dev stage
    # WHEN synthesized
    # THEN POST /upload has a request validator that checks bodies, and an application/json model
    validator_id = Capture()
    model_id = Capture()
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "RequestValidatorId": {"Ref": validator_id},
            "RequestModels": {"application/json": {"Ref": model_id}},
        },
    )
    validators = template.find_resources(
        "AWS::ApiGateway::RequestValidator", {"Properties": {"ValidateRequestBody": True}}
    )
    assert validator_id.as_string() in validators
    models = template.find_resources(
        "AWS::ApiGateway::Model", {"Properties": {"ContentType": "application/json"}}
    )
    assert model_id.as_string() in models


def test_the_model_is_the_request_schema_file_s_top_level(template):
    # GIVEN the one request schema file the handler and the local server also read
    expected = gateway_model(json.loads(REQUEST_SCHEMA_PATH.read_text(encoding="utf-8")))
    # WHEN the stack is synthesized
    schema = Capture()
    template.has_resource_properties("AWS::ApiGateway::Model", {"Schema": schema})
    # THEN the model's Schema is derived from that file: an object, its required fields, no others,
    # every field of the file allowed by name (its rules are the handler's)
    assert schema.as_object() == expected
    assert set(schema.as_object()["properties"]) == set(
        json.loads(REQUEST_SCHEMA_PATH.read_text())["properties"]
    )


def test_the_stage_throttles_at_the_configured_rate_and_burst(template):
    # GIVEN cdk.json's dev throttling settings (rate 1000, burst 2000 by default)
    rate = cdk_json_setting("dev", "throttlingRateLimit")
    burst = cdk_json_setting("dev", "throttlingBurstLimit")
    assert (rate, burst) == (1000, 2000)
    # WHEN synthesized
    # THEN every method of the stage is throttled to them
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "HttpMethod": "*",
                            "ResourcePath": "/*",
                            "ThrottlingRateLimit": 1000,
                            "ThrottlingBurstLimit": 2000,
                        }
                    )
                ]
            )
        },
    )


def test_the_burst_limit_is_a_setting(synth):
    # GIVEN a stage whose cdk.json sets throttlingBurstLimit to 3000
    # WHEN synthesized
    stage = synth("dev", throttlingBurstLimit=3000)
    # THEN the stage bursts to 3000 and keeps the rate of 1000
    stage.template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "MethodSettings": [
                Match.object_like(
                    {"ResourcePath": "/*", "ThrottlingRateLimit": 1000, "ThrottlingBurstLimit": 3000}
                )
            ]
        },
    )


def test_execution_logging_is_info_without_data_trace_and_with_detailed_metrics(template):
    # GIVEN the dev stage
    # WHEN synthesized
    # THEN execution logs are INFO, request/response bodies (the files) are never logged, metrics are on
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "MethodSettings": [
                Match.object_like(
                    {
                        "HttpMethod": "*",
                        "ResourcePath": "/*",
                        "LoggingLevel": "INFO",
                        "DataTraceEnabled": False,
                        "MetricsEnabled": True,
                    }
                )
            ]
        },
    )


def test_access_logs_are_json_lines_in_a_log_group_with_retention(dev, template):
    # GIVEN the dev stage and its logRetentionDays setting
    retention = cdk_json_setting("dev", "logRetentionDays")
    # WHEN synthesized
    destination = Capture()
    log_format = Capture()
    template.has_resource_properties(
        "AWS::ApiGateway::Stage", {"AccessLogSetting": {"DestinationArn": destination, "Format": log_format}}
    )
    # THEN each access log line is a JSON object with the request id, status and caller
    fields = json.loads(log_format.as_string())
    assert {"requestId", "status", "ip", "caller", "userArn", "httpMethod", "resourcePath"} <= set(fields)
    assert fields["requestId"] == "$context.requestId"
    # AND the destination is one of this stack's log groups, which expires lines after the setting's days
    *_, prefix, group_ref = destination.as_object()["Fn::Join"][1]
    assert prefix == ":log-group:"
    log_group = dev.resources[group_ref["Ref"]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == retention


def test_the_stack_creates_the_account_level_cloudwatch_role_by_default(template):
    # GIVEN the default createApiGatewayAccountRole=true
    # WHEN synthesized
    role_id = Capture()
    template.has_resource_properties(
        "AWS::ApiGateway::Account", {"CloudWatchRoleArn": {"Fn::GetAtt": [role_id, "Arn"]}}
    )
    # THEN the account's API Gateway logging role is created, for apigateway.amazonaws.com only
    roles = template.find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [Match.object_like({"Principal": {"Service": "apigateway.amazonaws.com"}})]
                },
                "ManagedPolicyArns": [
                    {
                        "Fn::Join": [
                            "",
                            Match.array_with(
                                [Match.string_like_regexp("AmazonAPIGatewayPushToCloudWatchLogs$")]
                            ),
                        ]
                    }
                ],
            }
        },
    )
    assert list(roles) == [role_id.as_string()]
    # AND the stage waits for it, so logging works on the first deployment
    template.has_resource(
        "AWS::ApiGateway::Stage", {"DependsOn": Match.array_with([Match.string_like_regexp("Account")])}
    )


def test_create_api_gateway_account_role_false_leaves_the_account_setting_alone(synth):
    # GIVEN a stage whose cdk.json sets createApiGatewayAccountRole=false (the account already has one)
    # WHEN synthesized
    stage = synth("dev", createApiGatewayAccountRole=False)
    # THEN neither AWS::ApiGateway::Account nor a role for API Gateway is in the template
    stage.template.resource_count_is("AWS::ApiGateway::Account", 0)
    assert not stage.template.find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [Match.object_like({"Principal": {"Service": "apigateway.amazonaws.com"}})]
                }
            }
        },
    )
    # AND execution logging is still configured on the stage
    stage.template.has_resource_properties(
        "AWS::ApiGateway::Stage", {"MethodSettings": [Match.object_like({"LoggingLevel": "INFO"})]}
    )


def test_the_method_requires_iam_auth_by_default(template):
    # GIVEN cdk.json, which does not set apiAuth=none
    # WHEN synthesized
    # THEN POST /upload requires SigV4-signed requests
    template.has_resource_properties(
        "AWS::ApiGateway::Method", {"HttpMethod": "POST", "AuthorizationType": "AWS_IAM"}
    )


def test_the_method_is_public_only_with_the_explicit_setting_api_auth_none(synth):
    # GIVEN a stage whose cdk.json sets apiAuth=none on purpose
    # WHEN synthesized
    stage = synth("dev", apiAuth="none")
    # THEN POST /upload has no authorization
    stage.template.has_resource_properties(
        "AWS::ApiGateway::Method", {"HttpMethod": "POST", "AuthorizationType": "NONE"}
    )
    # AND setting apiAuth=iam explicitly is the same as the default
    synth("dev", apiAuth="iam").template.has_resource_properties(
        "AWS::ApiGateway::Method", {"AuthorizationType": "AWS_IAM"}
    )
