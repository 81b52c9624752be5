"""UploadStore with injected fake clients: key shape, write order, item shape, error mapping."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from upload_api.errors import ApiError, StorageFailed, StorageUnavailable
from upload_api.request import UploadRequest
from upload_api.storage import StorageError, UploadStore, object_key

from tests.bodies import FILE_BYTES, sha256_b64

BUCKET = "internal-bucket-name-1234"
TABLE = "internal-table-name-5678"
REQUEST_ID = "REQ-ID-0123456789ABCDEF"


class RecordingS3:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error = error

    def put_object(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        if self.error:
            raise self.error
        return {"VersionId": f"v{len(self.calls)}", "ETag": '"etag"'}


class RecordingDynamoDB:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error = error

    def put_item(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        if self.error:
            raise self.error
        return {}


def client_error(code: str, operation: str, status: int = 400, message: str = "boom") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{message} on {BUCKET}/{TABLE}"},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": REQUEST_ID},
        },
        operation,
    )


def upload_request(**changes: Any) -> UploadRequest:
    fields: dict[str, Any] = {
        "product_id": "p-1",
        "product_name": "Desk lamp",
        "price": Decimal("29.99"),
        "file_name": "lamp.png",
        "content_type": "image/png",
        "content": FILE_BYTES,
        "sha256_b64": sha256_b64(FILE_BYTES),
    }
    fields.update(changes)
    return UploadRequest(**fields)


def make_store(s3: RecordingS3, dynamodb: RecordingDynamoDB, **kwargs: Any) -> UploadStore:
    return UploadStore(s3_client=s3, dynamodb_client=dynamodb, bucket_name=BUCKET, table_name=TABLE, **kwargs)


# ---------------------------------------------------------------- key shape


def test_object_key_is_prefix_product_upload_id_file_name():
    # GIVEN a product, a file name and an upload id
    # WHEN the key is built
    key = object_key("p-1", "lamp.png", "0b0e3f9a-2b6c-4a4e-9d8f-1c2b3a4d5e6f")
    # THEN it is uploads/{productId}/{uuid}/{fileName}
    assert key == "uploads/p-1/0b0e3f9a-2b6c-4a4e-9d8f-1c2b3a4d5e6f/lamp.png"


def test_store_puts_the_object_under_a_fresh_uuid4_key():
    # GIVEN a store with its default id source
    s3 = RecordingS3()
    store = make_store(s3, RecordingDynamoDB())
    # WHEN the same request is saved twice
    first = store.save(upload_request())
    second = store.save(upload_request())
    # THEN each key is uploads/p-1/<uuid4>/lamp.png, and no two are alike
    for stored in (first, second):
        match = re.fullmatch(r"uploads/p-1/([0-9a-f-]{36})/lamp\.png", stored.file.key)
        assert match, stored.file.key
        assert uuid.UUID(match.group(1)).version == 4
    assert first.file.key != second.file.key
    assert [call["Key"] for call in s3.calls] == [first.file.key, second.file.key]


# ---------------------------------------------------------------- what is written


def test_store_sends_the_decoded_bytes_type_and_checksum_to_s3():
    # GIVEN a store with a fake S3 client
    s3 = RecordingS3()
    store = make_store(s3, RecordingDynamoDB(), new_id=lambda: "fixed-id")
    # WHEN a request is saved
    store.save(upload_request())
    # THEN S3 got the configured bucket, the key, the exact bytes, the type, an attachment
    # disposition carrying the file name, and the SHA-256
    assert s3.calls == [
        {
            "Bucket": BUCKET,
            "Key": "uploads/p-1/fixed-id/lamp.png",
            "Body": FILE_BYTES,
            "ContentType": "image/png",
            "ContentDisposition": "attachment; filename=\"lamp.png\"; filename*=UTF-8''lamp.png",
            "ChecksumSHA256": sha256_b64(FILE_BYTES),
        }
    ]


def test_store_writes_an_item_with_exact_price_and_file_metadata():
    # GIVEN a store with fake clients, a fixed id and a fixed clock
    dynamodb = RecordingDynamoDB()
    store = make_store(
        RecordingS3(), dynamodb, new_id=lambda: "fixed-id", clock=lambda: "2026-11-23T04:20:00.123Z"
    )
    # WHEN a request is saved
    store.save(upload_request())
    # THEN the item, in DynamoDB's wire format, carries the price digits as sent and the file
    (call,) = dynamodb.calls
    assert call["TableName"] == TABLE
    assert call["Item"] == {
        "productId": {"S": "p-1"},
        "productName": {"S": "Desk lamp"},
        "price": {"N": "29.99"},
        "file": {
            "M": {
                "key": {"S": "uploads/p-1/fixed-id/lamp.png"},
                "versionId": {"S": "v1"},
                "size": {"N": str(len(FILE_BYTES))},
                "contentType": {"S": "image/png"},
                "sha256": {"S": sha256_b64(FILE_BYTES)},
            }
        },
        "uploadedAt": {"S": "2026-11-23T04:20:00.123Z"},
    }


def test_stored_upload_reports_what_was_written():
    # GIVEN a store with fake clients
    store = make_store(RecordingS3(), RecordingDynamoDB(), new_id=lambda: "id", clock=lambda: "ts")
    # WHEN a request is saved
    stored = store.save(upload_request())
    # THEN the result describes the object and the time
    assert stored.file.as_dict() == {
        "key": "uploads/p-1/id/lamp.png",
        "versionId": "v1",
        "size": len(FILE_BYTES),
        "contentType": "image/png",
        "sha256": sha256_b64(FILE_BYTES),
    }
    assert stored.uploaded_at == "ts"


def test_default_clock_is_utc_with_milliseconds_and_z():
    # GIVEN a store with its default clock
    store = make_store(RecordingS3(), RecordingDynamoDB())
    # WHEN a request is saved
    stored = store.save(upload_request())
    # THEN uploadedAt looks like 2026-11-23T04:20:00.123Z
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stored.uploaded_at)


# ---------------------------------------------------------------- failures


def test_s3_failure_writes_no_item():
    # GIVEN an S3 client that refuses the object
    dynamodb = RecordingDynamoDB()
    store = make_store(RecordingS3(error=client_error("AccessDenied", "PutObject", 403)), dynamodb)
    # WHEN a request is saved
    with pytest.raises(StorageError) as caught:
        store.save(upload_request())
    # THEN the failure is at the S3 stage and DynamoDB was never called
    assert caught.value.stage == "s3.put_object"
    assert dynamodb.calls == []


def test_dynamodb_failure_is_reported_after_the_object_was_written():
    # GIVEN a DynamoDB client that refuses the item
    s3 = RecordingS3()
    store = make_store(s3, RecordingDynamoDB(error=client_error("ValidationException", "PutItem")))
    # WHEN a request is saved
    with pytest.raises(StorageError) as caught:
        store.save(upload_request())
    # THEN the failure is at the DynamoDB stage, the object having been written first,
    # and the error names that object (key and version) so it can be logged as an orphan
    assert caught.value.stage == "dynamodb.put_item"
    assert len(s3.calls) == 1
    assert caught.value.orphan is not None
    assert caught.value.orphan.key == s3.calls[0]["Key"]
    assert caught.value.orphan.version_id == "v1"


def test_s3_failure_names_no_orphan():
    # GIVEN an S3 client that refuses the object
    store = make_store(RecordingS3(error=client_error("AccessDenied", "PutObject", 403)), RecordingDynamoDB())
    # WHEN a request is saved
    with pytest.raises(StorageError) as caught:
        store.save(upload_request())
    # THEN nothing was written, so nothing is orphaned
    assert caught.value.orphan is None


def test_with_malware_scanning_the_item_and_result_start_pending():
    # GIVEN a store on a stage that scans uploads
    dynamodb = RecordingDynamoDB()
    store = make_store(RecordingS3(), dynamodb, malware_scanning=True)
    # WHEN a request is saved
    stored = store.save(upload_request())
    # THEN the item's file and the stored file (the 201 body's) say PENDING
    assert dynamodb.calls[0]["Item"]["file"]["M"]["scanStatus"] == {"S": "PENDING"}
    assert stored.file.as_dict()["scanStatus"] == "PENDING"


def test_without_malware_scanning_there_is_no_scan_status():
    # GIVEN a store on a stage that does not scan (the default)
    dynamodb = RecordingDynamoDB()
    stored = make_store(RecordingS3(), dynamodb).save(upload_request())
    # THEN neither the item nor the result claims a scan
    assert "scanStatus" not in dynamodb.calls[0]["Item"]["file"]["M"]
    assert "scanStatus" not in stored.file.as_dict()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(client_error("SlowDown", "PutObject", 503), StorageUnavailable, id="s3-slowdown"),
        pytest.param(client_error("InternalError", "PutObject", 500), StorageUnavailable, id="s3-internal"),
        pytest.param(client_error("ServiceUnavailable", "PutObject", 503), StorageUnavailable, id="503"),
        pytest.param(
            client_error("KMS.ThrottlingException", "PutObject"), StorageUnavailable, id="kms-throttle"
        ),
        pytest.param(client_error("AccessDenied", "PutObject", 403), StorageFailed, id="access-denied"),
        pytest.param(client_error("KMS.DisabledException", "PutObject"), StorageFailed, id="kms-disabled"),
        pytest.param(client_error("NoSuchBucket", "PutObject", 404), StorageFailed, id="no-bucket"),
        pytest.param(
            EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"), StorageUnavailable, id="conn"
        ),
        pytest.param(
            ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"), StorageUnavailable, id="timeout"
        ),
    ],
)
def test_s3_errors_map_to_503_when_retryable_else_500(error, expected):
    # GIVEN an S3 client failing with a given AWS error
    store = make_store(RecordingS3(error=error), RecordingDynamoDB())
    # WHEN a request is saved
    with pytest.raises(StorageError) as caught:
        store.save(upload_request())
    # THEN the client-facing error is a 503 for retryable faults and a 500 otherwise
    assert type(caught.value.to_api_error()) is expected


@pytest.mark.parametrize(
    ("code", "expected_status"),
    [
        ("ProvisionedThroughputExceededException", 503),
        ("ThrottlingException", 503),
        ("RequestLimitExceeded", 503),
        ("ValidationException", 500),
        ("ResourceNotFoundException", 500),
        ("AccessDeniedException", 500),
    ],
)
def test_dynamodb_errors_map_to_503_when_retryable_else_500(code, expected_status):
    # GIVEN a DynamoDB client failing with a given error code
    store = make_store(RecordingS3(), RecordingDynamoDB(error=client_error(code, "PutItem")))
    # WHEN a request is saved
    with pytest.raises(StorageError) as caught:
        store.save(upload_request())
    # THEN the status follows whether a retry can help
    assert caught.value.to_api_error().status == expected_status


@pytest.mark.parametrize("code", ["AccessDenied", "InternalError", "KMS.DisabledException"])
def test_storage_error_body_names_no_internals(code):
    # GIVEN an AWS error whose message names the bucket and table, with a request id
    store = make_store(RecordingS3(error=client_error(code, "PutObject", 500)), RecordingDynamoDB())
    with pytest.raises(StorageError) as caught:
        store.save(upload_request())
    # WHEN it becomes the client's error body
    error = caught.value.to_api_error()
    assert isinstance(error, ApiError)
    body = json.dumps(error.body())
    # THEN the body is a generic message with no name, code, id or class in it
    assert set(error.body()) == {"message"}
    for internal in (BUCKET, TABLE, REQUEST_ID, code, "ClientError", "put_object", "s3", "PutObject"):
        assert internal not in body


# ---------------------------------------------------------------- S3 key length


def test_a_key_over_s3s_1024_bytes_is_a_400_and_writes_nothing():
    # GIVEN a contract-valid request whose key would exceed S3's 1,024-byte limit
    # (128-char productId, 255 four-byte characters in fileName)
    s3, dynamodb = RecordingS3(), RecordingDynamoDB()
    request = upload_request(product_id="p" * 128, file_name="\U0001f600" * 255)
    # WHEN it is stored
    with pytest.raises(ApiError) as raised:
        make_store(s3, dynamodb).save(request)
    # THEN the client is told which field to shorten, by how much, and nothing was written
    assert raised.value.status == 400
    assert raised.value.errors[0].startswith("fileName: at most 850 bytes in UTF-8")
    assert s3.calls == []
    assert dynamodb.calls == []


def test_a_key_of_exactly_1024_bytes_is_stored():
    # GIVEN the longest key S3 accepts: 8 + 128 + 1 + 36 + 1 + 850 bytes
    s3, dynamodb = RecordingS3(), RecordingDynamoDB()
    request = upload_request(product_id="p" * 128, file_name="\U0001f600" * 212 + "ab")  # 4*212 + 2 = 850
    # WHEN it is stored
    make_store(s3, dynamodb).save(request)
    # THEN the object key is exactly at the limit and the item was written
    assert len(s3.calls[0]["Key"].encode("utf-8")) == 1024
    assert len(dynamodb.calls) == 1
