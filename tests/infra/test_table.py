"""The product table: productId + productName, on demand, CMK-encrypted, PITR, protected, retained."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

pytestmark = pytest.mark.synth


def test_the_table_keys_are_product_id_and_product_name_strings(template):
    # GIVEN the dev stage
    # WHEN synthesized
    # THEN the one table is keyed by productId (partition) and productName (sort), both strings
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": "productId", "KeyType": "HASH"},
                {"AttributeName": "productName", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": Match.array_equals(
                [
                    {"AttributeName": "productId", "AttributeType": "S"},
                    {"AttributeName": "productName", "AttributeType": "S"},
                ]
            ),
        },
    )


def test_the_table_is_on_demand(template):
    # GIVEN the dev stage
    # WHEN synthesized
    # THEN the table bills per request and has no provisioned throughput
    template.has_resource_properties(
        "AWS::DynamoDB::Table", {"BillingMode": "PAY_PER_REQUEST", "ProvisionedThroughput": Match.absent()}
    )


def test_the_table_is_encrypted_with_a_rotated_customer_managed_key(dev, template):
    # GIVEN the dev stage
    # WHEN synthesized
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "SSESpecification": {
                "SSEEnabled": True,
                "SSEType": "KMS",
                "KMSMasterKeyId": {"Fn::GetAtt": [Match.any_value(), "Arn"]},
            }
        },
    )
    # THEN the key is a KMS key of this stack, rotated, and not the bucket's key
    key = dev.resources[dev.table_key_id]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert dev.table_key_id != dev.bucket_key_id


def test_the_table_has_point_in_time_recovery(template):
    # GIVEN the dev stage
    # WHEN synthesized
    # THEN point-in-time recovery is on
    template.has_resource_properties(
        "AWS::DynamoDB::Table", {"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}
    )


def test_the_table_is_deletion_protected_and_retained(template):
    # GIVEN the dev stage
    # WHEN synthesized
    # THEN the table refuses DeleteTable and survives stack deletion or replacement
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like({"DeletionProtectionEnabled": True}),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )
