"""The function's role: put objects under uploads/, put items, its logs and traces. Nothing else."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

pytestmark = pytest.mark.synth

EXPECTED_ACTIONS = {
    "s3:PutObject",
    "kms:GenerateDataKey",
    "dynamodb:PutItem",
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:DescribeKey",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}
# X-Ray's trace APIs support no resource-level permissions: "*" is the only resource they accept.
STAR_ONLY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
NEVER = {
    "s3:GetObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:ListBucket",
    "dynamodb:Scan",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:DeleteItem",
    "dynamodb:UpdateItem",
    "dynamodb:BatchWriteItem",
}


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _actions(statements):
    return {action for statement in statements for action in _as_list(statement["Action"])}


def test_the_role_can_be_assumed_by_lambda_only(dev, template):
    # GIVEN the dev stage
    # WHEN synthesized
    # THEN the functions' roles trust lambda.amazonaws.com only, with no managed or inline policies
    lambda_only = template.find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [
                        {
                            "Action": "sts:AssumeRole",
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                        }
                    ],
                    "Version": "2012-10-17",
                },
                "ManagedPolicyArns": Match.absent(),
                "Policies": Match.absent(),
            }
        },
    )
    # (the upload function's, and the direct-upload finalizer's: stages/upload/direct_upload.py)
    finalizer_role = dev.stack.get_logical_id(dev.stack.finalizer.role.node.default_child)
    assert sorted(lambda_only) == sorted([dev.role_id, finalizer_role])
    template.resource_count_is("AWS::IAM::ManagedPolicy", 0)


def test_the_role_policies_grant_exactly_the_expected_actions(dev):
    # GIVEN every policy attached to the function's role
    statements = dev.role_statements()
    # WHEN their actions are collected
    actions = _actions(statements)
    # THEN they are exactly what the handler does, all Allow, no wildcard actions, no NotAction/NotResource
    assert actions == EXPECTED_ACTIONS
    assert all(statement["Effect"] == "Allow" for statement in statements)
    assert not [a for a in actions if "*" in a]
    assert not [s for s in statements if "NotAction" in s or "NotResource" in s]


def test_the_role_cannot_read_delete_or_scan(dev):
    # GIVEN every policy attached to the function's role
    # WHEN their actions are collected
    actions = _actions(dev.role_statements())
    # THEN no read, delete, list or scan is granted
    assert not actions & NEVER


def test_only_x_ray_statements_use_a_wildcard_resource(dev):
    # GIVEN every statement attached to the function's role
    statements = dev.role_statements()
    # WHEN the statements on Resource "*" are picked out
    on_star = [s for s in statements if "*" in _as_list(s["Resource"])]
    # THEN they grant only X-Ray's trace actions, which AWS supports only on "*"
    assert on_star
    assert _actions(on_star) == STAR_ONLY_ACTIONS


def test_put_object_is_limited_to_the_uploads_prefix_of_this_bucket(dev):
    # GIVEN the role's statements
    # WHEN the s3:PutObject statement is found
    (statement,) = [s for s in dev.role_statements() if "s3:PutObject" in _as_list(s["Action"])]
    # THEN it is the only action there and its resource is <this bucket's ARN>/uploads/*
    assert _as_list(statement["Action"]) == ["s3:PutObject"]
    assert statement["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [dev.bucket_id, "Arn"]}, "/uploads/*"]]}


def test_the_bucket_key_is_usable_only_to_encrypt_uploads_through_s3(dev):
    # GIVEN the role's statements on the bucket's KMS key
    on_key = [s for s in dev.role_statements() if s["Resource"] == {"Fn::GetAtt": [dev.bucket_key_id, "Arn"]}]
    # WHEN inspected
    # THEN the only grant is GenerateDataKey (what SSE-KMS PutObject needs), and only via S3
    assert len(on_key) == 1
    assert _as_list(on_key[0]["Action"]) == ["kms:GenerateDataKey"]
    via = on_key[0]["Condition"]["StringEquals"]["kms:ViaService"]
    assert via == {"Fn::Join": ["", ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}


def test_put_item_is_limited_to_this_table(dev):
    # GIVEN the role's statements
    # WHEN the DynamoDB statement is found
    (statement,) = [
        s for s in dev.role_statements() if any(a.startswith("dynamodb:") for a in _as_list(s["Action"]))
    ]
    # THEN it allows PutItem on this table's ARN only (no index, no stream)
    assert _as_list(statement["Action"]) == ["dynamodb:PutItem"]
    assert statement["Resource"] == {"Fn::GetAtt": [dev.table_id, "Arn"]}


def test_the_table_key_is_usable_only_through_dynamodb(dev):
    # GIVEN the role's statements on the table's KMS key
    on_key = [s for s in dev.role_statements() if s["Resource"] == {"Fn::GetAtt": [dev.table_key_id, "Arn"]}]
    # WHEN inspected
    # THEN they are conditioned on kms:ViaService dynamodb.<region>.amazonaws.com
    assert len(on_key) == 1
    via = on_key[0]["Condition"]["StringEquals"]["kms:ViaService"]
    assert via == {"Fn::Join": ["", ["dynamodb.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}


def test_the_function_writes_only_its_own_log_group(dev):
    # GIVEN the role's statements
    # WHEN the CloudWatch Logs statement is found
    (statement,) = [
        s for s in dev.role_statements() if any(a.startswith("logs:") for a in _as_list(s["Action"]))
    ]
    # THEN it may create streams and put events in the function's log group only (no CreateLogGroup)
    assert sorted(_as_list(statement["Action"])) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == {"Fn::GetAtt": [dev.function_log_group_id, "Arn"]}
