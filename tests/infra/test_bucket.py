"""The upload bucket: versioned, SSE-KMS with a rotated CMK and Bucket Key, private, TLS-only, retained."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Capture, Match

from .conftest import cdk_json_setting

pytestmark = pytest.mark.synth

BREAK_GLASS = "arn:aws:iam::123456789012:role/UploadBreakGlass"
# Dev's own bootstrap's execution role (cdk.json's bootstrapQualifier, docs/bootstrap.md).
CFN_EXECUTION_ROLE = {
    "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/"
    "cdk-uploaddev-cfn-exec-role-${AWS::AccountId}-${AWS::Region}"
}


def _bucket_policy(stage):
    """The upload bucket's policy statements."""
    (policy,) = [
        p
        for p in stage.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": stage.bucket_id}
    ]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def _objects_arn(bucket_id):
    return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]}


def _assert_policy_has_statement(template, bucket_id, statement):
    """The policy of the bucket `bucket_id` has a statement with (at least) these fields."""
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {"Statement": Match.array_with([Match.object_like(statement)])},
        },
    )


def test_the_bucket_is_versioned(dev):
    # GIVEN the bucket the function writes to
    # WHEN synthesized
    # THEN versioning is enabled
    assert dev.resources[dev.bucket_id]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


def test_the_bucket_uses_sse_kms_with_a_rotated_customer_managed_key_and_bucket_key(dev, template):
    # GIVEN the dev stage
    # WHEN synthesized
    key_id = Capture()
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
                        },
                    }
                ]
            }
        },
    )
    # THEN the upload bucket encrypts with a key of this stack (customer managed), S3 Bucket Key on
    assert key_id.as_string() == dev.bucket_key_id
    # AND that key rotates
    key = dev.resources[key_id.as_string()]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True


def test_the_bucket_blocks_all_public_access(dev):
    # GIVEN the upload bucket
    # WHEN synthesized
    # THEN all four public access blocks are on
    assert dev.resources[dev.bucket_id]["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def test_the_bucket_policy_denies_requests_without_tls(dev, template):
    # GIVEN the upload bucket's policy
    # WHEN synthesized
    # THEN every principal is denied every S3 action on the bucket and its objects unless over TLS
    _assert_policy_has_statement(
        template,
        dev.bucket_id,
        {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "s3:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Resource": [{"Fn::GetAtt": [dev.bucket_id, "Arn"]}, _objects_arn(dev.bucket_id)],
        },
    )


def test_the_bucket_policy_denies_object_access_to_all_but_the_function_role(dev, template):
    # GIVEN the default stage, with no break-glass roles
    assert cdk_json_setting("dev", "breakGlassRoleArns") == []
    # WHEN synthesized
    # THEN every principal except the function's role is denied every action on every object
    _assert_policy_has_statement(
        template,
        dev.bucket_id,
        {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "s3:*",
            "Resource": _objects_arn(dev.bucket_id),
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [{"Fn::GetAtt": [dev.role_id, "Arn"]}]}},
        },
    )


def test_the_bucket_policy_grants_nothing(dev):
    # GIVEN the upload bucket's policy
    statements = _bucket_policy(dev)
    # WHEN its effects are collected
    # THEN it only denies: access comes from the function role's own policy
    assert {s["Effect"] for s in statements} == {"Deny"}


def test_break_glass_roles_are_the_only_other_principals_let_through(synth):
    # GIVEN a stage whose cdk.json names one break-glass role
    stage = synth("dev", breakGlassRoleArns=[BREAK_GLASS])
    # WHEN synthesized
    exempt = {
        s["Sid"]: s["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
        for s in _bucket_policy(stage)
        if "ArnNotEquals" in s.get("Condition", {})
    }
    # THEN the object deny exempts exactly the function's role and that ARN; the listing deny
    # also the CloudFormation execution role (the bucket's read and delete handlers list it)
    function_and_break_glass = [{"Fn::GetAtt": [stage.role_id, "Arn"]}, BREAK_GLASS]
    assert exempt["DenyObjectAccessExceptUploadFunction"] == function_and_break_glass
    assert exempt["DenyListingExceptUploadFunction"] == [*function_and_break_glass, CFN_EXECUTION_ROLE]
    objects_deny = [
        s for s in _bucket_policy(stage) if s.get("Sid") == "DenyObjectAccessExceptUploadFunction"
    ]
    assert objects_deny[0]["Resource"] == _objects_arn(stage.bucket_id)


def test_noncurrent_versions_expire_after_the_configured_days(dev, template):
    # GIVEN cdk.json's noncurrentVersionExpirationDays for dev
    days = cdk_json_setting("dev", "noncurrentVersionExpirationDays")
    # WHEN synthesized
    # THEN the upload bucket expires noncurrent versions after that many days
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like(
                        {"ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"})}
                    )
                ]
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {"Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": days}}
                        )
                    ]
                )
            },
        },
    )


def test_noncurrent_version_expiry_is_a_setting(synth):
    # GIVEN the prod stage as cdk.json configures it, and a dev stage whose cdk.json sets 7 days
    cases = [
        (synth("prod"), cdk_json_setting("prod", "noncurrentVersionExpirationDays")),
        (synth("dev", noncurrentVersionExpirationDays=7), 7),
    ]
    # WHEN synthesized
    for stage, days in cases:
        rules = stage.resources[stage.bucket_id]["Properties"]["LifecycleConfiguration"]["Rules"]
        # THEN each bucket's rule uses its own stage's days
        assert {"NoncurrentDays": days} in [r.get("NoncurrentVersionExpiration") for r in rules]


def test_incomplete_multipart_uploads_are_aborted(dev):
    # GIVEN the upload bucket
    rules = dev.resources[dev.bucket_id]["Properties"]["LifecycleConfiguration"]["Rules"]
    # WHEN its lifecycle rules are read
    # THEN one aborts incomplete multipart uploads (after a day)
    aborts = [r for r in rules if "AbortIncompleteMultipartUpload" in r]
    assert len(aborts) == 1
    assert aborts[0]["Status"] == "Enabled"
    assert aborts[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_server_access_logs_go_to_a_private_tls_only_bucket(dev, template):
    # GIVEN the upload bucket
    logging = dev.resources[dev.bucket_id]["Properties"]["LoggingConfiguration"]
    # WHEN synthesized
    # THEN it logs requests to another bucket of this stack
    target = logging["DestinationBucketName"]["Ref"]
    assert target != dev.bucket_id
    assert dev.resources[target]["Type"] == "AWS::S3::Bucket"
    # AND that bucket is private, encrypted and TLS-only too
    assert dev.resources[target]["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    assert "BucketEncryption" in dev.resources[target]["Properties"]
    _assert_policy_has_statement(
        template, target, {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    )


def test_the_bucket_is_retained_and_has_no_fixed_name(template, dev):
    # GIVEN the dev stage
    # WHEN synthesized
    # THEN deleting the stack (or replacing the bucket) keeps the bucket and its files
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like(
                {"VersioningConfiguration": {"Status": "Enabled"}, "BucketName": Match.absent()}
            ),
        },
    )
    # AND CloudFormation names it, so two stages (or accounts) never collide on a name
    assert "BucketName" not in dev.resources[dev.bucket_id]["Properties"]
    assert dev.resources[dev.bucket_id]["DeletionPolicy"] == "Retain"
