"""The S3 server-access-log bucket both stacks use, with the same defaults."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stages.nag import skip_checkov


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
    skip_checkov(
        bucket,
        "CKV_AWS_18",
        "This is a server access log destination: logging it into itself adds a log object for each "
        "delivery, and into another bucket only moves the gap one bucket on. It blocks public access, "
        "denies non-TLS requests, is versioned, and the only Allow in its bucket policy is for "
        "logging.s3.amazonaws.com.",
    )
    return bucket
