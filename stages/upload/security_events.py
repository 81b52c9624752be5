"""EventBridge rules that tell the alarm topic when someone touches what protects the data.

They match CloudTrail's "AWS API Call via CloudTrail" events, so they see nothing unless the
account has a CloudTrail trail recording management events (read and write) in this region:
EventBridge gets CloudTrail's API events only from a trail. Failed attempts (an AccessDenied
from the policies in stages/upload/data_access.py and stages/upload/encryption.py) are events too, and are
sent: someone tried.

- key changes: ScheduleKeyDeletion, DisableKey, PutKeyPolicy (and DisableKeyRotation,
  CancelKeyDeletion) on this stack's keys, matched by `requestParameters.keyId`: these calls
  take a key id or a key ARN (no alias), so both are listed;
- bucket changes: policy, lifecycle, versioning, encryption, replication, logging, public
  access, ownership and deletion of the upload bucket, matched by `requestParameters.bucketName`.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from stages import compliance
from stages.compliance import acknowledge

CLOUDTRAIL_API_CALL = "AWS API Call via CloudTrail"
KEY_EVENT_NAMES = (
    "ScheduleKeyDeletion",
    "DisableKey",
    "PutKeyPolicy",
    "DisableKeyRotation",
    "CancelKeyDeletion",
)
# CloudTrail's event names (PutBucketLifecycle is how PutBucketLifecycleConfiguration is logged).
BUCKET_EVENT_NAMES = (
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "PutBucketLifecycle",
    "DeleteBucketLifecycle",
    "PutBucketVersioning",
    "PutBucketEncryption",
    "DeleteBucketEncryption",
    "PutBucketReplication",
    "DeleteBucketReplication",
    "PutBucketLogging",
    "PutBucketPublicAccessBlock",
    "DeleteBucketPublicAccessBlock",
    "PutBucketOwnershipControls",
    "DeleteBucketOwnershipControls",
    "PutBucketAcl",
    "DeleteBucket",
)


def security_event_rules(
    scope: Construct,
    *,
    stage: str,
    keys: Sequence[kms.IKey],
    bucket: s3.IBucket,
    topic: sns.ITopic,
) -> tuple[events.Rule, events.Rule]:
    """The key-change and bucket-change rules, each sending a one-line message to `topic`."""
    who = events.EventField.from_path("$.detail.userIdentity.arn")
    what = events.EventField.from_path("$.detail.eventName")
    error = events.EventField.from_path("$.detail.errorCode")
    when = events.EventField.from_path("$.detail.eventTime")
    key_rule = events.Rule(
        scope,
        "KeyChangesRule",
        description=f"{stage}: deletion, disabling or policy change of the upload stack's KMS keys",
        event_pattern=events.EventPattern(
            source=["aws.kms"],
            detail_type=[CLOUDTRAIL_API_CALL],
            detail={
                "eventSource": ["kms.amazonaws.com"],
                "eventName": list(KEY_EVENT_NAMES),
                "requestParameters": {"keyId": [v for key in keys for v in (key.key_id, key.key_arn)]},
            },
        ),
    )
    key_arn = events.EventField.from_path("$.detail.requestParameters.keyId")
    key_rule.add_target(
        targets.SnsTopic(
            topic,
            message=events.RuleTargetInput.from_text(
                f"{stage}: {what} on KMS key {key_arn} by {who} at {when} (error: {error}). "
                "Not a pipeline deploy? See docs/keys-and-bucket.md, 'When a security event arrives'."
            ),
        )
    )
    bucket_rule = events.Rule(
        scope,
        "BucketChangesRule",
        description=f"{stage}: policy, lifecycle, versioning or encryption change of the upload bucket",
        event_pattern=events.EventPattern(
            source=["aws.s3"],
            detail_type=[CLOUDTRAIL_API_CALL],
            detail={
                "eventSource": ["s3.amazonaws.com"],
                "eventName": list(BUCKET_EVENT_NAMES),
                "requestParameters": {"bucketName": [bucket.bucket_name]},
            },
        ),
    )
    bucket_name = events.EventField.from_path("$.detail.requestParameters.bucketName")
    bucket_rule.add_target(
        targets.SnsTopic(
            topic,
            message=events.RuleTargetInput.from_text(
                f"{stage}: {what} on bucket {bucket_name} by {who} at {when} (error: {error}). "
                "Not a pipeline deploy? See docs/keys-and-bucket.md, 'When a security event arrives'."
            ),
        )
    )
    for rule in (key_rule, bucket_rule):
        acknowledge(rule, compliance.SECURITY_EVENT_NO_DLQ)
    # The SnsTopic target lets events.amazonaws.com publish without naming whose rule: only ours may.
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="DenyEventBridgeRulesButThese",
            effect=iam.Effect.DENY,
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={"ArnNotEquals": {"aws:SourceArn": [key_rule.rule_arn, bucket_rule.rule_arn]}},
        )
    )
    return key_rule, bucket_rule
