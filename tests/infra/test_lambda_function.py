"""The upload function: runtime, architecture, environment, logging and tracing."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Annotations, Match

from .conftest import cdk_json_setting

pytestmark = pytest.mark.synth


def test_the_function_runs_python_3_13_on_arm64_by_default(template):
    # GIVEN cdk.json, which leaves lambdaRuntime at its default
    assert cdk_json_setting("dev", "lambdaRuntime") == "python3.13"
    # WHEN synthesized
    # THEN there are two functions, the upload handler and the direct-upload finalizer, and the
    # handler runs on python3.13 / arm64
    template.resource_count_is("AWS::Lambda::Function", 2)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Runtime": "python3.13", "Architectures": ["arm64"], "Handler": "upload_api.handler.lambda_handler"},
    )


def test_python_3_9_is_accepted_with_a_warning_giving_aws_dates(synth):
    # GIVEN a stage whose cdk.json asks for the deprecated python3.9
    # WHEN synthesized
    stage = synth("dev", lambdaRuntime="python3.9")
    # THEN the function runs python3.9, still on arm64
    stage.template.has_resource_properties(
        "AWS::Lambda::Function", {"Runtime": "python3.9", "Architectures": ["arm64"]}
    )
    # AND synth warns with the date AWS deprecated it and the date it blocks creating functions
    Annotations.from_stack(stage.stack).has_warning(
        "*", Match.string_like_regexp(r"python3\.9.*deprecated.*2025-12-15.*2027-02-01")
    )


def test_the_default_runtime_has_no_deprecation_warning(dev):
    # GIVEN the default python3.13
    # WHEN synthesized
    # THEN no warning mentions a deprecated runtime
    Annotations.from_stack(dev.stack).has_no_warning("*", Match.string_like_regexp("deprecated"))


def test_the_function_is_told_the_bucket_and_table_names(dev, template):
    # GIVEN the dev stage
    # WHEN synthesized
    # THEN BUCKET_NAME and TABLE_NAME are references to this stack's bucket and table
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like(
                    {"BUCKET_NAME": {"Ref": Match.any_value()}, "TABLE_NAME": {"Ref": Match.any_value()}}
                )
            }
        },
    )
    assert dev.resources[dev.bucket_id]["Type"] == "AWS::S3::Bucket"
    assert dev.resources[dev.table_id]["Type"] == "AWS::DynamoDB::Table"


def test_the_function_logs_json_to_its_own_log_group_with_retention(dev, template):
    # GIVEN the dev stage and its logRetentionDays setting
    retention = cdk_json_setting("dev", "logRetentionDays")
    # WHEN synthesized
    # THEN the function writes JSON logs to an explicit log group of this stack
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"LoggingConfig": Match.object_like({"LogFormat": "JSON", "LogGroup": {"Ref": Match.any_value()}})},
    )
    log_group = dev.resources[dev.function_log_group_id]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    # AND that group expires lines after the configured days
    assert log_group["Properties"]["RetentionInDays"] == retention


def test_log_retention_is_not_set_by_the_deprecated_custom_resource(template):
    # GIVEN the dev stage
    # WHEN synthesized
    # THEN there is no Custom::LogRetention resource (nor its provider function): the two
    # functions are the upload handler and the direct-upload finalizer
    assert not [r for r in template.to_json()["Resources"].values() if r["Type"] == "Custom::LogRetention"]
    template.resource_count_is("AWS::Lambda::Function", 2)


def test_the_log_retention_is_a_setting(synth):
    # GIVEN a stage whose cdk.json sets logRetentionDays to 14
    # WHEN synthesized
    stage = synth("dev", logRetentionDays=14)
    # THEN the function's log group keeps 14 days
    assert stage.resources[stage.function_log_group_id]["Properties"]["RetentionInDays"] == 14


def test_the_function_has_active_tracing(template):
    # GIVEN the dev stage
    # WHEN synthesized
    # THEN X-Ray tracing is active
    template.has_resource_properties("AWS::Lambda::Function", {"TracingConfig": {"Mode": "Active"}})


def test_the_function_waits_for_its_permissions(dev, template):
    # GIVEN the function role's policies
    policies = [
        logical_id
        for logical_id, policy in dev.of_type("AWS::IAM::Policy").items()
        if {"Ref": dev.role_id} in policy["Properties"]["Roles"]
    ]
    # WHEN synthesized
    # THEN the function is created only after all of them, so it is never live without its permissions
    template.has_resource("AWS::Lambda::Function", {"DependsOn": Match.array_with(sorted(policies))})
