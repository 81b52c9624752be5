"""The S3 server-access-log bucket both stacks use, with the same defaults."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stages import compliance
from stages.compliance import acknowledge


def access_logs_bucket(scope: Construct, construct_id: str, *, retention_days: int) -> s3.Bucket:
    # S3 server access logs can only be delivered to an SSE-S3 bucket.
    bucket = s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        versioned=True,
        lifecycle_rules=[
            s3.LifecycleRule(
                id="ExpireAccessLogs",
                expiration=cdk.Duration.days(retention_days),
                noncurrent_version_expiration=cdk.Duration.days(1),
                abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
            )
        ],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    acknowledge(bucket, compliance.ACCESS_LOG_DESTINATION_NOT_LOGGED)
    return bucket
