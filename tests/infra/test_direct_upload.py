"""Direct uploads (contract v3) in the synthesized templates: the bucket's EventBridge events, the
Object Created rule, the finalizer (stages/upload/direct_upload.py), its least-privilege role, DLQ,
alarms and dashboard row; what the upload function is told to sign."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stages.upload.direct_upload import FINALIZER_CONCURRENCY, FINALIZER_HANDLER
from stages.upload.function import UPLOAD_URL_SECONDS

from .conftest import Synthesized

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module", params=["dev", "prod"])
def stage(request: pytest.FixtureRequest, synth) -> Synthesized:
    return synth(request.param)


def _logical_id(built: Synthesized, construct: Any) -> str:
    return built.stack.get_logical_id(construct.node.default_child)


def _finalizer(built: Synthesized) -> tuple[str, dict[str, Any]]:
    ((logical_id, function),) = [
        (k, v)
        for k, v in built.of_type("AWS::Lambda::Function").items()
        if v["Properties"]["Handler"] == FINALIZER_HANDLER
    ]
    return logical_id, function["Properties"]


def _statements_of(built: Synthesized, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in built.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_the_bucket_sends_its_events_to_eventbridge_without_a_custom_resource(stage):
    bucket = stage.resources[stage.bucket_id]["Properties"]
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    # No BucketNotifications custom resource, so no function of CDK's to set it
    assert not stage.of_type("Custom::S3BucketNotifications")
    handlers = {f["Properties"]["Handler"] for f in stage.of_type("AWS::Lambda::Function").values()}
    assert "index.handler" not in handlers


def test_the_rule_sends_new_upload_objects_of_this_bucket_to_the_finalizer_with_a_dlq(stage):
    finalizer_id, _ = _finalizer(stage)
    dlq_id = _logical_id(stage, stage.stack.finalizer.dead_letter_queue)
    rule = stage.resources[_logical_id(stage, stage.stack.finalizer.rule)]["Properties"]
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [{"Ref": stage.bucket_id}]},
            "object": {"key": [{"prefix": "uploads/"}]},
        },
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [finalizer_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 8}


def test_the_finalizer_shares_the_upload_asset_and_dead_letters_its_failures(stage):
    finalizer_id, finalizer = _finalizer(stage)
    dlq_id = _logical_id(stage, stage.stack.finalizer.dead_letter_queue)
    assert finalizer["Code"] == stage.function["Code"]
    assert finalizer["Runtime"] == stage.function["Runtime"]
    assert finalizer["TracingConfig"] == {"Mode": "Active"}
    assert finalizer["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    variables = finalizer["Environment"]["Variables"]
    assert variables["BUCKET_NAME"] == {"Ref": stage.bucket_id}
    assert variables["TABLE_NAME"] == {"Ref": stage.table_id}
    assert variables["MALWARE_SCANNING"] == stage.function["Environment"]["Variables"]["MALWARE_SCANNING"]
    (invoke_config,) = [
        config
        for config in stage.of_type("AWS::Lambda::EventInvokeConfig").values()
        if config["Properties"]["FunctionName"] == {"Ref": finalizer_id}
    ]
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 2
    dlq = stage.resources[dlq_id]["Properties"]
    assert dlq["SqsManagedSseEnabled"] is True


def test_the_finalizer_role_touches_pending_records_and_puts_items_only(stage):
    _, finalizer = _finalizer(stage)
    role_id = finalizer["Role"]["Fn::GetAtt"][0]
    statements = _statements_of(stage, role_id)
    granted = set().union(*(_actions(s) for s in statements))
    # THEN no S3 at all, and in DynamoDB exactly these three actions
    assert not {a for a in granted if a.startswith("s3:")}
    assert {a for a in granted if a.startswith("dynamodb:")} == {
        "dynamodb:GetItem",
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
    }
    table_arn = {"Fn::GetAtt": [stage.table_id, "Arn"]}
    # AND GetItem and DeleteItem only on the pending records' partition keys
    (pending,) = [s for s in statements if "dynamodb:DeleteItem" in _actions(s)]
    assert _actions(pending) == {"dynamodb:GetItem", "dynamodb:DeleteItem"}
    assert pending["Resource"] == table_arn
    assert pending["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["pending#*"]}}
    (put,) = [s for s in statements if "dynamodb:PutItem" in _actions(s)]
    assert put["Resource"] == table_arn
    # AND the table key through DynamoDB only; SQS only to its own DLQ
    (kms,) = [s for s in statements if any(a.startswith("kms:") for a in _actions(s))]
    assert kms["Resource"] == {"Fn::GetAtt": [stage.table_key_id, "Arn"]}
    assert "kms:ViaService" in kms["Condition"]["StringEquals"]
    dlq_id = _logical_id(stage, stage.stack.finalizer.dead_letter_queue)
    for statement in statements:
        if any(a.startswith("sqs:") for a in _actions(statement)):
            assert statement["Resource"] == {"Fn::GetAtt": [dlq_id, "Arn"]}


def test_the_table_key_admits_the_finalizer_through_dynamodb(stage):
    _, finalizer = _finalizer(stage)
    role_id = finalizer["Role"]["Fn::GetAtt"][0]
    key_policy = stage.resources[stage.table_key_id]["Properties"]["KeyPolicy"]["Statement"]
    (users,) = [s for s in key_policy if s.get("Sid") == "UploadFunctionUsesKeyViaDynamoDB"]
    # (the account as principal, narrowed to named roles by aws:PrincipalArn)
    assert {"Fn::GetAtt": [role_id, "Arn"]} in users["Condition"]["ArnEquals"]["aws:PrincipalArn"]


def test_the_upload_function_role_gains_nothing_for_direct_uploads(stage):
    # The presigned PUT is the function's own PutObject under uploads/ with the bucket key: the
    # grants the inline path already has; the pending record is a PutItem on the same table.
    granted = set().union(*(_actions(s) for s in stage.role_statements()))
    assert {a for a in granted if a.startswith(("s3:", "dynamodb:"))} == {"s3:PutObject", "dynamodb:PutItem"}


def test_the_upload_function_signs_with_the_bucket_key_for_at_most_15_minutes(stage):
    variables = stage.function["Environment"]["Variables"]
    assert variables["BUCKET_KEY_ARN"] == {"Fn::GetAtt": [stage.bucket_key_id, "Arn"]}
    assert variables["UPLOAD_URL_SECONDS"] == str(UPLOAD_URL_SECONDS)
    assert 0 < UPLOAD_URL_SECONDS <= 900


def test_pending_records_expire_by_ttl(stage):
    table = stage.resources[stage.table_id]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "pendingExpiresAt", "Enabled": True}


def test_a_dead_lettered_or_refused_direct_upload_raises_the_stage_alarm(stage):
    (topic_id,) = stage.of_type("AWS::SNS::Topic")
    for alarm in stage.stack.finalizer.alarms:
        properties = stage.resources[_logical_id(stage, alarm)]["Properties"]
        assert properties["AlarmActions"] == [{"Ref": topic_id}]
        assert properties["Threshold"] == 1
        assert properties["TreatMissingData"] == "notBreaching"


def test_the_dashboard_has_a_direct_upload_row(stage):
    (dashboard,) = stage.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in (
        "Direct uploads (202 -> item)",
        "Finalizer: invocations, errors, throttles",
        "Finalizer DLQ depth",
    ):
        assert title in body
    for metric in ("DirectUploadsAnnounced", "DirectUploadsFinalized", "DirectUploadsRefused"):
        assert metric in body


def test_the_finalizer_reserves_concurrency_where_the_stage_reserves_for_its_function(stage):
    # GIVEN cdk.json as committed: prod reserves for its upload function, dev ("unreserved") does not
    _, finalizer = _finalizer(stage)
    if "ReservedConcurrentExecutions" in stage.function:
        # THEN a burst of objects is capped by the finalizer's own reservation
        assert finalizer["ReservedConcurrentExecutions"] == FINALIZER_CONCURRENCY
    else:
        # THEN, like the upload function, it takes none (the account's quota allows none)
        assert "ReservedConcurrentExecutions" not in finalizer
