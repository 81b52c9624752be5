"""Where uploads are kept: the stack's keys, the upload bucket (and its access-log bucket), the table."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stages.settings import StageSettings
from stages.upload.buckets import access_logs_bucket
from stages.upload.encryption import KeyAccess, customer_managed_key, log_group_key


class UploadStorage:
    """The keys, buckets and table of one stage, created in `scope` itself.

    Not a construct of its own: a construct level would change these resources' logical ids, and
    CloudFormation would replace the retained bucket, table and keys (stages/upload/stack.py).
    Every key is managed by the deploy role (and named administrators) and used only by whom its
    statements name (stages/upload/encryption.py, stages/upload/data_access.py).
    """

    def __init__(self, scope: Construct, *, settings: StageSettings, key_access: KeyAccess) -> None:
        self.logs_key = log_group_key(
            scope, "LogsKey", "Encrypts the upload API's CloudWatch log groups", access=key_access
        )
        self.bucket_key = customer_managed_key(
            scope,
            "BucketKey",
            "Encrypts uploaded files (S3 SSE-KMS with S3 Bucket Key)",
            access=key_access,
        )
        self.table_key = customer_managed_key(
            scope, "TableKey", "Encrypts the product metadata table", access=key_access
        )
        self.access_logs_bucket = access_logs_bucket(
            scope, "AccessLogsBucket", retention_days=settings.log_retention_days
        )
        self.bucket = _upload_bucket(scope, settings, self.bucket_key, self.access_logs_bucket)
        self.table = _product_table(scope, self.table_key)

    @property
    def keys(self) -> tuple[kms.Key, ...]:
        """Every key of the stack's data and logs (their changes are security events)."""
        return (self.logs_key, self.bucket_key, self.table_key)


def _upload_bucket(
    scope: Construct, settings: StageSettings, key: kms.IKey, access_logs: s3.IBucket
) -> s3.Bucket:
    return s3.Bucket(
        scope,
        "UploadBucket",
        versioned=True,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix="upload-bucket/",
        lifecycle_rules=[
            s3.LifecycleRule(
                id="ExpireNoncurrentVersions",
                noncurrent_version_expiration=cdk.Duration.days(settings.noncurrent_version_expiration_days),
            ),
            s3.LifecycleRule(
                id="AbortIncompleteMultipartUploads",
                abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
            ),
        ],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )


def _product_table(scope: Construct, key: kms.IKey) -> dynamodb.Table:
    return dynamodb.Table(
        scope,
        "ProductTable",
        partition_key=dynamodb.Attribute(name="productId", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="productName", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=key,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        deletion_protection=True,
        # Only a direct upload's pending record carries it (lambda/upload_api/direct.py): DynamoDB
        # removes records whose object never arrived; no product item has the attribute.
        time_to_live_attribute="pendingExpiresAt",
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
