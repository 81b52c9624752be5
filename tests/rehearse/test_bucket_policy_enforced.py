"""A bucket policy is in force in the rehearsal (iam_enforcement.py): evaluated as AWS evaluates it,
with the request's context and the caller, on the IAM action AWS names for each S3 call."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from tools.review_kit.rehearse import emulator

BUCKET = "upload-bucket"
FUNCTION_ROLE = f"arn:aws:iam::{emulator.ACCOUNT}:role/upload-function"
POLICY = {  # the upload bucket's, as the stage writes it (stages/upload): TLS only, listing by its function
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}},
        },
        {
            "Sid": "DenyListingExceptUploadFunction",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
            "Resource": f"arn:aws:s3:::{BUCKET}",
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [FUNCTION_ROLE]}},
        },
    ],
}


@pytest.fixture(scope="module")
def operator() -> Iterator[boto3.Session]:
    """The rehearsal's emulator, IAM enforced; the operator's session (AdministratorAccess)."""
    saved = dict(os.environ)
    emu = emulator.start()
    try:
        assert emu.iam_enforced
        session = boto3.Session(region_name=emulator.REGION)
        session.client("s3").create_bucket(Bucket=BUCKET)
        session.client("s3").put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(POLICY))
        yield session
    finally:
        emu.stop()
        os.environ.clear()
        os.environ.update(saved)


def _code(call) -> str:
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "ok"


def test_an_object_call_over_tls_passes_the_policys_transport_denies(operator):
    # GIVEN the bucket's Deny of calls without TLS (moto's own check, blind to the condition, refused
    # every object call) WHEN the operator, an administrator, puts and gets an object over TLS
    s3 = operator.client("s3")
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    # THEN both pass, as on AWS
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"x"


def test_listing_is_denied_to_all_but_the_function_even_an_administrator(operator):
    # GIVEN the policy's Deny of listing to every principal but the function's role
    s3 = operator.client("s3")
    # THEN the operator may not list, nor HeadBucket (s3:ListBucket, as AWS authorizes it)
    assert _code(lambda: s3.list_objects_v2(Bucket=BUCKET)) in ("AccessDenied", "403")
    assert _code(lambda: s3.head_bucket(Bucket=BUCKET)) in ("AccessDenied", "403")
    # AND calls with their own IAM actions pass the Deny (moto authorized these as s3:ListBucket)
    assert _code(lambda: s3.get_bucket_location(Bucket=BUCKET)) == "ok"
    assert _code(lambda: s3.get_bucket_encryption(Bucket=BUCKET)) not in ("AccessDenied", "403")
    assert _code(lambda: s3.get_public_access_block(Bucket=BUCKET)) not in ("AccessDenied", "403")
    assert _code(lambda: s3.get_bucket_ownership_controls(Bucket=BUCKET)) not in ("AccessDenied", "403")
