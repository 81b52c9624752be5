"""Who may touch the stored files and items: the upload bucket's policy and the data keys' users.

The bucket policy only denies; access comes from each role's own policy. It keeps:
- objects to the upload function, the break-glass roles and (when given) the malware scanner;
- bucket-level changes that could expose or destroy the data (policy, lifecycle, versioning,
  encryption, replication, logging, public access, ownership, deletion) to the deploy role;
- PutObject to the bucket's own key: a request that names another key, or another kind of
  encryption, is refused (no header at all means the bucket default: this key);
- break-glass roles to reading and listing, with MFA unless they are IAM Identity Center roles;
- with a scanner: objects unreadable (GetObject, GetObjectVersion: break-glass included) until
  GuardDuty tagged them `GuardDutyMalwareScanStatus=NO_THREATS_FOUND`, and that tag writable by
  the scanner alone (otherwise anyone allowed PutObjectTagging could mark a file clean).

Principals are matched by `aws:PrincipalArn` (a role's ARN, whatever the session).

Encryption-context conditions name this stack's resources by the prefix CloudFormation gives
their generated names (`{stack}-{logicalId}-{suffix}`, S3 lowercased): the key cannot reference
its bucket or table, which reference it (a dependency cycle).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from stages.upload.encryption import allow_key_use, human_role_arns, mfa_missing

SCAN_STATUS_TAG = "GuardDutyMalwareScanStatus"
SCAN_CLEAN = "NO_THREATS_FOUND"
# Reading an object (and its tags and attributes): all a break-glass role may do to objects.
OBJECT_READ_ACTIONS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:GetObjectAttributes",
    "s3:GetObjectVersionAttributes",
)
LIST_ACTIONS = ("s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads")
# Bucket-level calls that remove a protection, expire or copy the data away, or delete the bucket.
BUCKET_CHANGE_ACTIONS = (
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketVersioning",
    "s3:PutEncryptionConfiguration",
    "s3:PutReplicationConfiguration",
    "s3:PutBucketLogging",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketAcl",
    "s3:PutBucketObjectLockConfiguration",
    "s3:DeleteBucket",
    # Inventory reports copy every object's name elsewhere, CORS opens the bucket to browsers of
    # other origins, acceleration changes its endpoints.
    "s3:PutInventoryConfiguration",
    "s3:PutBucketCORS",
    "s3:PutAccelerateConfiguration",
)
# Event notifications send object names to any topic, queue or function: the deploy role sets
# them, and GuardDuty's scanner role turns on the EventBridge notifications scanning needs.
NOTIFICATION_CHANGE_ACTIONS = ("s3:PutBucketNotification",)
SCAN_TAG_ACTIONS = (
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
)
# What GuardDuty Malware Protection for S3 reads, tags and (validating the plan) writes with the
# bucket's key (GuardDuty User Guide, "Create or update IAM role policy").
SCANNER_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")


def protect_upload_bucket(
    bucket: s3.Bucket,
    *,
    key: kms.IKey,
    writer_role: iam.IRole,
    deploy_role_arn: str,
    break_glass_role_arns: Sequence[str],
    scanner_role: iam.IRole | None = None,
) -> None:
    """The bucket policy's denies and the bucket key's users (writer, break-glass, scanner)."""
    stack = cdk.Stack.of(bucket)
    break_glass = list(break_glass_role_arns)
    scanner = [scanner_role.role_arn] if scanner_role else []
    _deny_all_but_named_principals(
        bucket,
        key,
        object_principals=[writer_role.role_arn, *break_glass, *scanner],
        deploy_role_arn=deploy_role_arn,
    )
    _deny(
        bucket,
        "DenyNotificationChangesExceptDeployRoleAndScanner",
        NOTIFICATION_CHANGE_ACTIONS,
        [bucket.bucket_arn],
        {"ArnNotEquals": {"aws:PrincipalArn": [deploy_role_arn, *scanner]}},
    )
    if break_glass:
        _limit_break_glass(bucket, break_glass)
    if scanner:
        _deny_until_scanned_clean(bucket, scanner)

    via_s3 = {
        "StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": bucket_arn_pattern(stack)},
    }
    # With an S3 Bucket Key the context is the bucket's ARN, without it the object's: both match.
    allow_key_use(key, "UploadFunctionEncryptsViaS3", [writer_role.role_arn], ["kms:GenerateDataKey"], via_s3)
    if break_glass:
        allow_key_use(key, "BreakGlassDecryptsViaS3", break_glass, ["kms:Decrypt"], via_s3)
    if scanner:
        allow_key_use(key, "MalwareScannerUsesKeyViaS3", scanner, list(SCANNER_KEY_ACTIONS), via_s3)


def _deny(
    bucket: s3.Bucket, sid: str, actions: Sequence[str], resources: list[str], conditions: dict[str, Any]
) -> None:
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=list(actions),
            resources=resources,
            conditions=conditions,
        )
    )


def _deny_all_but_named_principals(
    bucket: s3.Bucket, key: kms.IKey, *, object_principals: list[str], deploy_role_arn: str
) -> None:
    """Objects to `object_principals`, listing also to the deploy role, bucket changes to it alone;
    PutObject only with the bucket's own key."""
    objects = bucket.arn_for_objects("*")
    _deny(
        bucket,
        "DenyObjectAccessExceptUploadFunction",
        ["s3:*"],
        [objects],
        {"ArnNotEquals": {"aws:PrincipalArn": object_principals}},
    )
    # CloudFormation's S3 bucket handlers call s3:ListBucket (read, delete) with the bootstrap's
    # execution role: listing keys, never reading an object.
    _deny(
        bucket,
        "DenyListingExceptUploadFunction",
        LIST_ACTIONS,
        [bucket.bucket_arn],
        {"ArnNotEquals": {"aws:PrincipalArn": [*object_principals, deploy_role_arn]}},
    )
    # CloudFormation (the deploy role) is the only way these change: a pull request, reviewed.
    # The account's root user can still delete a bucket policy that locks everyone out (S3
    # always lets it), which is the recovery path if the deploy role is ever lost.
    _deny(
        bucket,
        "DenyBucketChangesExceptDeployRole",
        BUCKET_CHANGE_ACTIONS,
        [bucket.bucket_arn],
        {"ArnNotEquals": {"aws:PrincipalArn": [deploy_role_arn]}},
    )
    key_header = "s3:x-amz-server-side-encryption-aws-kms-key-id"
    _deny(
        bucket,
        "DenyPutObjectWithAnotherKey",
        ["s3:PutObject"],
        [objects],
        {"Null": {key_header: "false"}, "StringNotEquals": {key_header: key.key_arn}},
    )
    sse_header = "s3:x-amz-server-side-encryption"
    _deny(
        bucket,
        "DenyPutObjectWithOtherEncryption",
        ["s3:PutObject"],
        [objects],
        {"Null": {sse_header: "false"}, "StringNotEquals": {sse_header: "aws:kms"}},
    )


def _limit_break_glass(bucket: s3.Bucket, break_glass: list[str]) -> None:
    """Break-glass roles only read objects, and humans among them only with MFA."""
    objects = bucket.arn_for_objects("*")
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="BreakGlassOnlyReadsObjects",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            not_actions=list(OBJECT_READ_ACTIONS),
            resources=[objects],
            conditions={"ArnEquals": {"aws:PrincipalArn": break_glass}},
        )
    )
    humans = human_role_arns(break_glass)
    if humans:
        _deny(
            bucket,
            "DenyBreakGlassWithoutMfa",
            ["s3:*"],
            [bucket.bucket_arn, objects],
            {**mfa_missing(), "ArnEquals": {"aws:PrincipalArn": humans}},
        )


def _deny_until_scanned_clean(bucket: s3.Bucket, scanner: list[str]) -> None:
    """Objects unreadable until GuardDuty tagged them clean; the tag writable by the scanner alone."""
    objects = bucket.arn_for_objects("*")
    _deny(
        bucket,
        "DenyReadingObjectsNotScannedClean",
        ["s3:GetObject", "s3:GetObjectVersion"],
        [objects],
        {
            "StringNotEquals": {f"s3:ExistingObjectTag/{SCAN_STATUS_TAG}": SCAN_CLEAN},
            "ArnNotEquals": {"aws:PrincipalArn": scanner},
        },
    )
    _deny(
        bucket,
        "DenyScanTagChangesExceptScanner",
        SCAN_TAG_ACTIONS,
        [objects],
        {"ArnNotEquals": {"aws:PrincipalArn": scanner}},
    )


def allow_table_key_use(
    key: kms.IKey, table: dynamodb.Table, *, writer_roles: Sequence[iam.IRole], deploy_role_arn: str
) -> None:
    """The table key's users: the functions (upload, and scan result where scanning is on) through
    DynamoDB, and CloudFormation creating the table."""
    stack = cdk.Stack.of(key)
    via_dynamodb = {"StringEquals": {"kms:ViaService": f"dynamodb.{stack.region}.amazonaws.com"}}
    table_context = {
        "StringEquals": {
            "kms:ViaService": f"dynamodb.{stack.region}.amazonaws.com",
            "kms:EncryptionContext:aws:dynamodb:subscriberId": stack.account,
        },
        "StringLike": {"kms:EncryptionContext:aws:dynamodb:tableName": f"{stack.stack_name}-*"},
    }
    allow_key_use(
        key,
        "UploadFunctionUsesKeyViaDynamoDB",
        [role.role_arn for role in writer_roles],
        ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
        table_context,
    )
    # DescribeKey carries no encryption context: the service alone scopes it.
    allow_key_use(
        key,
        "UploadFunctionDescribesKeyViaDynamoDB",
        [role.role_arn for role in writer_roles],
        ["kms:DescribeKey"],
        via_dynamodb,
    )
    # CloudFormation's AWS::DynamoDB::Table handlers (create, update) call these with the deploy
    # role: DynamoDB checks the key and makes the grant it uses for the table's lifetime.
    allow_key_use(
        key,
        "DeployRoleSetsUpTableEncryptionViaDynamoDB",
        [deploy_role_arn],
        ["kms:CreateGrant", "kms:RevokeGrant", "kms:DescribeKey", "kms:Encrypt", "kms:Decrypt"],
        via_dynamodb,
    )


# S3 names are at most 63 characters; CloudFormation adds `-{logicalId}-{12 characters}` and
# cuts what does not fit, so a stack name longer than this could lose its own end.
_LONGEST_SAFE_STACK_NAME = 63 - len("-UploadBucketD2C1DA78-") - 12


def bucket_arn_pattern(stack: cdk.Stack) -> str:
    """Every bucket (and object) of this stack: CloudFormation names them `{stack}-...` in lowercase."""
    if len(stack.stack_name) > _LONGEST_SAFE_STACK_NAME:
        cdk.Annotations.of(stack).add_warning_v2(
            "upload-api:long-stack-name",
            f"Stack name {stack.stack_name!r} is longer than {_LONGEST_SAFE_STACK_NAME} characters: "
            "CloudFormation may cut it in the upload bucket's generated name, and the bucket key's "
            "encryption-context condition (stages/upload/data_access.py) would then refuse the function.",
        )
    return f"arn:{stack.partition}:s3:::{stack.stack_name.lower()}-*"
