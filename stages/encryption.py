"""Customer managed KMS keys, the one way this project makes them: rotation on, retained."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


def customer_managed_key(scope: Construct, construct_id: str, description: str) -> kms.Key:
    # Retained: data encrypted with a deleted key is lost for good.
    return kms.Key(
        scope,
        construct_id,
        enable_key_rotation=True,
        description=description,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )


def log_group_key(scope: Construct, construct_id: str, description: str) -> kms.Key:
    """A key CloudWatch Logs may use, for this account's log groups in this region only."""
    key = customer_managed_key(scope, construct_id, description)
    stack = cdk.Stack.of(scope)
    log_groups_here = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:*"
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchLogsInThisAccount",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups_here}},
        )
    )
    return key
