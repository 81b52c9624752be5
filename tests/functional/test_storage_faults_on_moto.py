"""Faults injected into the moto-backed clients: a clean 5xx, no internals, no item pointing nowhere.

moto 5.2.5 still encrypts a put when the bucket's KMS key is disabled
(kms.disable_key), so the KMS refusal S3 would return is stubbed, like the
other faults, with botocore's Stubber on the real moto-backed client.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from tests.bodies import valid_document

CONTENT = b"bytes that never make it into a listing"
FORBIDDEN_IN_BODY = (
    "Traceback",
    "ClientError",
    "botocore",
    "StorageError",
    "put_object",
    "put_item",
    "arn:aws",
)


def assert_clean_error(response, status: int, account) -> None:
    """A JSON {"message": ...} with the status, and none of the account's names or AWS details."""
    assert response.status == status, response.text
    body = response.json
    assert set(body) == {"message"}
    assert isinstance(body["message"], str)
    assert body["message"]
    internals = (
        account.resources.bucket_name,
        account.resources.table_name,
        *account.resources.key_arns.values(),
        *FORBIDDEN_IN_BODY,
        "req-0123456789",
    )
    for internal in internals:
        assert internal not in response.text


def stub_error(client, operation: str, code: str, status: int, message: str = "") -> Stubber:
    stubber = Stubber(client)
    stubber.add_client_error(
        operation,
        service_error_code=code,
        service_message=message or f"{code} (request id req-0123456789)",
        http_status_code=status,
    )
    stubber.activate()
    return stubber


# ---------------------------------------------------------------- S3 refuses the object


@pytest.mark.parametrize(
    ("code", "http_status", "expected"),
    [
        pytest.param("InternalError", 500, 503, id="internal-error"),
        pytest.param("SlowDown", 503, 503, id="slow-down"),
        pytest.param("AccessDenied", 403, 500, id="access-denied"),
        pytest.param("NoSuchBucket", 404, 500, id="no-such-bucket"),
    ],
)
def test_s3_put_failure_is_a_clean_5xx(account, moto_clients, upload, code, http_status, expected):
    # GIVEN S3 failing the put with an AWS error
    s3, _ = moto_clients
    stub_error(s3, "put_object", code, http_status)
    # WHEN an upload arrives
    response = upload(valid_document(CONTENT))
    # THEN the client gets a generic 5xx: 503 when a retry can help, 500 otherwise
    assert_clean_error(response, expected, account)


@pytest.mark.parametrize("code", ["InternalError", "AccessDenied"])
def test_s3_put_failure_writes_no_item_and_no_object(account, moto_clients, upload, code):
    # GIVEN S3 failing the put
    s3, _ = moto_clients
    stub_error(s3, "put_object", code, 500 if code == "InternalError" else 403)
    # WHEN an upload arrives
    upload(valid_document(CONTENT))
    # THEN nothing was written anywhere
    assert account.items() == []
    assert account.object_versions() == []


def test_s3_connection_failure_is_a_503(account, moto_clients, upload, monkeypatch):
    # GIVEN S3 unreachable
    s3, _ = moto_clients

    def unreachable(**_):
        raise EndpointConnectionError(endpoint_url="https://s3.us-east-1.amazonaws.com")

    monkeypatch.setattr(s3, "put_object", unreachable)
    # WHEN an upload arrives
    response = upload(valid_document(CONTENT))
    # THEN it is a retryable 503 with a generic message, and no item
    assert_clean_error(response, 503, account)
    assert account.items() == []


# ---------------------------------------------------------------- KMS refuses the bucket key


@pytest.mark.parametrize(
    ("code", "http_status", "message"),
    [
        pytest.param("KMS.DisabledException", 400, "{key} is disabled.", id="key-disabled"),
        pytest.param(
            "AccessDenied",
            403,
            "User: arn:aws:sts::123456789012:assumed-role/UploadFunctionRole/upload is not authorized "
            "to perform: kms:GenerateDataKey on resource: {key} because no identity-based policy allows it",
            id="kms-access-denied",
        ),
        pytest.param(
            "KMS.KMSInvalidStateException", 400, "{key} is pending deletion.", id="pending-deletion"
        ),
    ],
)
def test_kms_refusal_is_a_clean_500_with_no_item(account, moto_clients, upload, code, http_status, message):
    # GIVEN S3 refusing the put because KMS will not encrypt with the template's bucket key
    s3, _ = moto_clients
    stub_error(s3, "put_object", code, http_status, message.format(key=account.bucket_key_arn))
    # WHEN an upload arrives
    response = upload(valid_document(CONTENT))
    # THEN the client gets a generic 500 naming neither the key nor KMS, and no item exists
    assert_clean_error(response, 500, account)
    assert "KMS" not in response.text
    assert account.items() == []


# ---------------------------------------------------------------- DynamoDB refuses the item


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param("ProvisionedThroughputExceededException", 503, id="throughput"),
        pytest.param("ThrottlingException", 503, id="throttling"),
        pytest.param("ValidationException", 500, id="validation"),
        pytest.param("ResourceNotFoundException", 500, id="no-table"),
        pytest.param("AccessDeniedException", 500, id="access-denied"),
    ],
)
def test_dynamodb_put_failure_is_a_clean_5xx(account, moto_clients, upload, code, expected):
    # GIVEN DynamoDB failing the item write (S3 works)
    _, dynamodb = moto_clients
    stub_error(dynamodb, "put_item", code, 400)
    # WHEN an upload arrives
    response = upload(valid_document(CONTENT))
    # THEN the client gets a generic 5xx: 503 for throughput, 500 otherwise
    assert_clean_error(response, expected, account)


def test_dynamodb_put_failure_leaves_the_object_but_no_item(account, moto_clients, upload):
    # GIVEN DynamoDB failing the item write after S3 stored the object
    _, dynamodb = moto_clients
    stub_error(dynamodb, "put_item", "ProvisionedThroughputExceededException", 400)
    # WHEN an upload arrives
    upload(valid_document(CONTENT))
    # THEN the object exists (under a key nobody references) and no item points anywhere
    versions = account.object_versions()
    assert len(versions) == 1
    assert versions[0]["Key"].startswith("uploads/p-1/")
    assert account.items() == []


def test_dynamodb_put_failure_is_counted_as_an_orphaned_object(moto_clients, upload, captured_stdout):
    # GIVEN DynamoDB failing the item write after S3 stored the object
    _, dynamodb = moto_clients
    stub_error(dynamodb, "put_item", "ValidationException", 400)
    # WHEN an upload arrives
    upload(valid_document(CONTENT))
    # THEN an OrphanedObjects metric is emitted for the unreferenced object
    metrics = [json.loads(line) for line in captured_stdout().splitlines() if '"_aws"' in line]
    assert any(
        metric.get("OrphanedObjects") == [1.0] or metric.get("OrphanedObjects") == 1 for metric in metrics
    )


def test_dynamodb_put_failure_logs_the_orphans_key_and_version_at_error(
    account, moto_clients, upload, captured_stdout
):
    # GIVEN DynamoDB failing the item write after S3 stored the object
    _, dynamodb = moto_clients
    stub_error(dynamodb, "put_item", "ValidationException", 400)
    # WHEN an upload arrives
    upload(valid_document(CONTENT))
    # THEN one ERROR line names the orphaned object's version and key up to the upload id (the one
    # object under that prefix; the file name stays out of logs), exactly as S3 holds them
    (version,) = account.object_versions()
    logs = [json.loads(line) for line in captured_stdout().splitlines() if line.startswith("{")]
    errors = [
        line for line in logs if line.get("level") == "ERROR" and line.get("message") == "Upload not stored"
    ]
    assert len(errors) == 1
    assert errors[0]["orphanKey"] == version["Key"].rsplit("/", 1)[0] + "/"
    assert errors[0]["orphanVersionId"] == version["VersionId"]
    assert errors[0]["stage"] == "dynamodb.put_item"


def test_failed_retry_after_orphan_then_success_leaves_one_item(account, moto_clients, upload):
    # GIVEN a first attempt whose item write failed
    _, dynamodb = moto_clients
    stubber = stub_error(dynamodb, "put_item", "ProvisionedThroughputExceededException", 400)
    failed = upload(valid_document(CONTENT))
    stubber.deactivate()
    # WHEN the client retries and DynamoDB works again
    retried = upload(valid_document(CONTENT))
    # THEN the one item points at the retry's object, which exists
    assert (failed.status, retried.status) == (503, 201)
    (item,) = account.items()
    assert item["file"]["key"] == retried.json["file"]["key"]
    keys = {version["Key"] for version in account.object_versions()}
    assert item["file"]["key"] in keys


# ---------------------------------------------------------------- anything else


def test_unexpected_exception_is_a_generic_500(account, moto_clients, upload, monkeypatch):
    # GIVEN a bug-like failure deep in the S3 call, with internals in its message
    s3, _ = moto_clients

    def broken(**_):
        raise RuntimeError(f"unexpected state for {account.resources.bucket_name}")

    monkeypatch.setattr(s3, "put_object", broken)
    # WHEN an upload arrives
    response = upload(valid_document(CONTENT))
    # THEN it is a 500 with a generic message, naming neither the bucket nor the exception
    assert_clean_error(response, 500, account)
    assert "RuntimeError" not in response.text
    assert account.items() == []
