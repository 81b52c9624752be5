"""The local server says what it does not enforce: no IAM, so no allowedCallers (docs/delivery-trust.md)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from tools.dev.local.__main__ import banner


def test_the_banner_says_iam_and_the_resource_policy_are_not_enforced():
    # GIVEN a local stack as the server builds it (only what the banner reads)
    gateway = SimpleNamespace(throttle=None, request_schema={}, fault_status=None)
    stack = SimpleNamespace(
        stack_name="Dev-UploadApi",
        gateway=gateway,
        moto_endpoint="http://127.0.0.1:5000",
        s3_endpoint="http://127.0.0.1:5001",
        bucket_name="dev-bucket",
        table_name="dev-table",
    )
    # WHEN the start-up banner is written
    text = banner(stack, "http://127.0.0.1:3000/dev/", Path("local-outputs.json"))  # type: ignore[arg-type]
    # THEN it serves the dev stage's path and says SigV4 and allowedCallers are not enforced
    assert "POST http://127.0.0.1:3000/dev/upload" in text
    assert "no IAM here: SigV4 auth and the API's resource policy (allowedCallers) are not enforced" in text


def test_the_banner_says_how_to_see_what_was_stored():
    # GIVEN a local stack started with the Makefile's outputs file
    gateway = SimpleNamespace(throttle=None, request_schema={}, fault_status=None)
    stack = SimpleNamespace(
        stack_name="Dev-UploadApi",
        gateway=gateway,
        moto_endpoint="http://127.0.0.1:5000",
        s3_endpoint="http://127.0.0.1:5001",
        bucket_name="dev-bucket",
        table_name="dev-table",
    )
    # WHEN the start-up banner is written
    lines = banner(stack, "http://127.0.0.1:3000/dev/", Path("local-outputs.json")).splitlines()  # type: ignore[arg-type]
    # THEN it names `make local-show` and the AWS CLI commands for this bucket and table, with dummy keys
    assert "  make local-show" in lines
    prefix = (
        "  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 "
        "aws --endpoint-url http://127.0.0.1:5000"
    )
    assert f"{prefix} s3api list-object-versions --bucket dev-bucket" in lines
    assert f"{prefix} dynamodb scan --table-name dev-table" in lines


def test_the_banner_names_the_s3_front_that_checks_presigned_uploads():
    gateway = SimpleNamespace(throttle=None, request_schema={}, fault_status=None)
    stack = SimpleNamespace(
        stack_name="Dev-UploadApi",
        gateway=gateway,
        moto_endpoint="http://127.0.0.1:5000",
        s3_endpoint="http://127.0.0.1:5001",
        bucket_name="dev-bucket",
        table_name="dev-table",
    )
    text = banner(stack, "http://127.0.0.1:3000/dev/", Path("local-outputs.json"))  # type: ignore[arg-type]
    assert "S3 for presigned uploads at http://127.0.0.1:5001 (signature, expiry and SHA-256 checked)" in text
