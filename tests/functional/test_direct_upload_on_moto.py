"""Direct uploads (contract v3) on moto: the 202 and its presigned PUT, then the finalizer on S3's
"Object Created" event (the shape AWS documents for S3 events on EventBridge) writing the item.

moto neither checks a presigned URL's signature nor an upload's checksum: what S3 enforces is
shown here by what the URL signs (X-Amz-SignedHeaders), and by local mode's enforcing front.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from upload_api import field_rules, finalizer, handler
from upload_api.finalizer import ALREADY_FINALIZED, FINALIZED, MISMATCH, NOT_DIRECT, UploadFinalizer
from upload_api.settings import Settings
from upload_api.storage import S3_CLIENT_CONFIG, UploadStore

from tests.bodies import REMOVE, sha256_b64, valid_document

from .support import REGION, call_handler, make_event

CONTENT = b"%PDF-1.7 a manual, sent straight to S3 " * 40
SIGNED_AT = datetime(2026, 12, 6, 10, 0, 0, 250000, tzinfo=UTC)


def object_created_event(bucket: str, key: str, size: int, version_id: str) -> dict[str, Any]:
    """S3's Object Created event as EventBridge delivers it (S3 User Guide: EventBridge message structure)."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-12-06T10:01:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": size,
                "etag": "b1946ac92492d2347c6235b4d2611184",
                "version-id": version_id,
                "sequencer": "617f08299329d189",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "192.0.2.1",
            "reason": "PutObject",
        },
    }


def direct_document(content: bytes = CONTENT, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "fileName": "manual.pdf",
        "contentType": "application/pdf",
        "fileContent": REMOVE,
        "fileSize": len(content),
        "checksumSha256": sha256_b64(content),
    }
    return valid_document(**{**fields, **changes})


@pytest.fixture
def stage(account, moto_clients, monkeypatch):
    """The upload handler (with the bucket's key) and the finalizer over one moto account."""
    _, dynamodb = moto_clients
    # The handler's own S3 client configuration: presigned URLs are SigV4.
    s3 = account.session.client("s3", region_name=REGION, config=S3_CLIENT_CONFIG)
    names = {"bucket_name": account.resources.bucket_name, "table_name": account.resources.table_name}
    store = UploadStore(
        s3_client=s3, dynamodb_client=dynamodb, bucket_key_arn=account.bucket_key_arn, **names
    )
    monkeypatch.setattr(handler, "store", store)
    monkeypatch.setattr(finalizer, "settings", Settings(**names))
    monkeypatch.setattr(
        finalizer, "finalizer", UploadFinalizer(dynamodb_client=dynamodb, table_name=names["table_name"])
    )
    return account


def post(document: dict[str, Any]) -> Any:
    return call_handler(make_event(json.dumps(document)))


def announce(document: dict[str, Any] | None = None) -> dict[str, Any]:
    response = post(document or direct_document())
    assert response.status == 202, response.text
    return response.json


def put(body: dict[str, Any], content: bytes = CONTENT) -> str:
    """PUT through the URL with every header of the 202; the new object's version id."""
    sent = requests.put(body["upload"]["url"], data=content, headers=body["upload"]["headers"], timeout=10)
    assert sent.status_code == 200, sent.text
    return sent.headers["x-amz-version-id"]


def products(account) -> list[dict[str, Any]]:
    return [item for item in account.items() if not item["productId"].startswith("pending#")]


def test_a_direct_body_gets_202_with_the_file_awaiting_upload(stage):
    # GIVEN a body with fileSize and checksumSha256 WHEN posted
    body = announce()
    # THEN 202 with the contract's fields: the file as it will be stored, and how to send it
    assert set(body) == {"productId", "productName", "price", "file", "upload"}
    assert (body["productId"], body["productName"], body["price"]) == ("p-1", "Desk lamp", 29.99)
    assert body["file"]["status"] == "AWAITING_UPLOAD"
    assert body["file"]["size"] == len(CONTENT)
    assert body["file"]["sha256"] == sha256_b64(CONTENT)
    assert body["file"]["contentType"] == "application/pdf"
    assert body["file"]["key"].startswith("uploads/p-1/")
    assert body["file"]["key"].endswith("/manual.pdf")
    assert set(body["upload"]) == {"method", "url", "headers", "expiresAt"}
    assert body["upload"]["method"] == "PUT"
    # AND no item yet: nothing points at a key whose bytes have not arrived
    assert products(stage) == []


def test_the_url_is_for_exactly_that_key_and_signs_every_header(stage):
    body = announce()
    url = urlsplit(body["upload"]["url"])
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    # THEN the URL names the bucket (virtual-hosted) and the exact key, over HTTPS
    assert url.scheme == "https"
    assert url.netloc.startswith(f"{stage.resources.bucket_name}.s3.")
    assert url.path == "/" + quote(body["file"]["key"])
    # AND SigV4 (SSE-KMS needs it), every returned header signed as a header, nothing else
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    headers = body["upload"]["headers"]
    assert query["X-Amz-SignedHeaders"].split(";") == sorted({*(h.lower() for h in headers), "host"})
    # AND the headers say what S3 enforces: type, length, checksum, attachment, the bucket's key
    assert headers == {
        "Content-Type": "application/pdf",
        "Content-Length": str(len(CONTENT)),
        "Content-Disposition": "attachment; filename=\"manual.pdf\"; filename*=UTF-8''manual.pdf",
        "x-amz-checksum-sha256": sha256_b64(CONTENT),
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": stage.bucket_key_arn,
    }


def test_the_url_expires_within_15_minutes_and_says_when(stage, monkeypatch):
    # GIVEN a stage whose URLs live 300 s, signing at a known time
    monkeypatch.setattr(handler.store, "_upload_url_seconds", 300)
    monkeypatch.setattr(handler.store, "_now", lambda: SIGNED_AT)
    body = announce()
    query = parse_qs(urlsplit(body["upload"]["url"]).query)
    # THEN the signature's expiry is the setting, and expiresAt never after it (seconds rounded down)
    assert query["X-Amz-Expires"] == ["300"]
    assert body["upload"]["expiresAt"] == "2026-12-06T10:05:00Z"


def test_the_default_expiry_is_15_minutes(stage):
    before = datetime.now(UTC).replace(microsecond=0)
    body = announce()
    assert parse_qs(urlsplit(body["upload"]["url"]).query)["X-Amz-Expires"] == ["900"]
    expires = datetime.strptime(body["upload"]["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before + timedelta(seconds=900) <= expires <= datetime.now(UTC) + timedelta(seconds=900)


def test_put_then_object_created_writes_the_item_a_201_would(stage):
    # GIVEN a 202 and the file PUT through its URL
    body = announce()
    version_id = put(body)
    key = body["file"]["key"]
    # WHEN S3's Object Created event reaches the finalizer
    event = object_created_event(stage.resources.bucket_name, key, len(CONTENT), version_id)
    assert finalizer.handle(event) == FINALIZED
    # THEN the item holds the price and the same file metadata as after a 201, with the version
    (item,) = products(stage)
    assert str(item["price"]) == "29.99"
    assert item["file"] == {
        "key": key,
        "versionId": version_id,
        "size": len(CONTENT),
        "contentType": "application/pdf",
        "sha256": sha256_b64(CONTENT),
    }
    assert set(item) == {"productId", "productName", "price", "file", "uploadedAt"}
    # AND the pending record is gone
    assert [i for i in stage.items() if i["productId"].startswith("pending#")] == []


def test_the_object_is_stored_as_after_a_201(stage):
    body = announce()
    version_id = put(body)
    stored = stage.client("s3").head_object(
        Bucket=stage.resources.bucket_name, Key=body["file"]["key"], VersionId=version_id
    )
    assert stored["ContentType"] == "application/pdf"
    assert stored["ContentDisposition"].startswith("attachment; ")
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert stored["SSEKMSKeyId"] == stage.bucket_key_arn
    assert stored["ContentLength"] == len(CONTENT)


def test_an_object_of_another_size_never_becomes_the_item(stage):
    # GIVEN an earlier inline upload for the same product, and a 202 for a new file
    earlier = post(valid_document())
    assert earlier.status == 201
    (before,) = products(stage)
    body = announce()
    # WHEN an object of another size arrives at the announced key
    event = object_created_event(stage.resources.bucket_name, body["file"]["key"], len(CONTENT) + 1, "v2")
    # THEN no item is written: the earlier one stays exactly as it was
    assert finalizer.handle(event) == MISMATCH
    assert products(stage) == [before]


def test_an_object_not_written_by_a_put_never_becomes_the_item(stage):
    body = announce()
    event = object_created_event(stage.resources.bucket_name, body["file"]["key"], len(CONTENT), "v1")
    event["detail"]["reason"] = "CompleteMultipartUpload"
    assert finalizer.handle(event) == MISMATCH
    assert products(stage) == []


def test_an_inline_upload_s_object_is_a_no_op(stage):
    # GIVEN an inline upload (its item written by the handler)
    created = post(valid_document()).json
    (before,) = products(stage)
    # WHEN its Object Created event reaches the finalizer
    file = created["file"]
    event = object_created_event(stage.resources.bucket_name, file["key"], file["size"], file["versionId"])
    # THEN nothing is written a second time
    assert finalizer.handle(event) == NOT_DIRECT
    assert products(stage) == [before]


def test_a_second_delivery_writes_nothing_more(stage):
    body = announce()
    version_id = put(body)
    event = object_created_event(stage.resources.bucket_name, body["file"]["key"], len(CONTENT), version_id)
    assert finalizer.handle(event) == FINALIZED
    (first,) = products(stage)
    assert finalizer.handle(event) == NOT_DIRECT
    assert products(stage) == [first]


def test_a_finalizer_that_lost_the_race_reports_it(stage):
    # GIVEN two invocations that both read the pending record; one wins the transaction
    body = announce()
    event = object_created_event(stage.resources.bucket_name, body["file"]["key"], len(CONTENT), "v1")
    created = finalizer.parse_object_created(event)
    first = UploadFinalizer(dynamodb_client=stage.client("dynamodb"), table_name=stage.resources.table_name)
    pending_read = first._dynamodb.get_item

    def read_then_lose(**kwargs: Any) -> Any:
        found = pending_read(**kwargs)
        first._dynamodb.delete_item(TableName=kwargs["TableName"], Key=kwargs["Key"])
        return found

    first._dynamodb.get_item = read_then_lose  # type: ignore[method-assign]
    # THEN the loser writes nothing and says so
    assert first.finalize(created) == ALREADY_FINALIZED
    assert products(stage) == []


def test_a_percent_encoded_key_finds_its_pending_record(stage):
    body = announce(direct_document(fileName="manual de l'été.pdf"))
    key = body["file"]["key"]
    event = object_created_event(stage.resources.bucket_name, quote(key), len(CONTENT), "v1")
    assert finalizer.handle(event) == FINALIZED
    assert products(stage)[0]["file"]["key"] == key


def test_on_a_scanning_stage_the_item_starts_pending(stage, monkeypatch):
    monkeypatch.setattr(
        finalizer,
        "finalizer",
        UploadFinalizer(
            dynamodb_client=stage.client("dynamodb"),
            table_name=stage.resources.table_name,
            malware_scanning=True,
        ),
    )
    body = announce()
    event = object_created_event(stage.resources.bucket_name, body["file"]["key"], len(CONTENT), "v1")
    assert finalizer.handle(event) == FINALIZED
    assert products(stage)[0]["file"]["scanStatus"] == "PENDING"


def test_an_event_for_another_bucket_is_refused(stage):
    body = announce()
    event = object_created_event("someone-elses-bucket", body["file"]["key"], len(CONTENT), "v1")
    with pytest.raises(finalizer.InvalidObjectEvent):
        finalizer.handle(event)
    assert products(stage) == []


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"fileContent": "QUJD"},
            [
                "fileContent: must not be sent together with fileSize: send the file inline, up to 4 MiB, "
                "or announce it in fileSize, not both",
                "fileSize: must not be sent together with fileContent: announce the file's size for a "
                "direct upload, or send the file inline, not both",
            ],
        ),
        (
            {"fileSize": REMOVE},
            [
                "fileContent: is required unless fileSize is sent: the file in base64, up to 4 MiB",
                "fileSize: is required unless fileContent is sent: the file's size in bytes, for a direct "
                "upload of up to 5 GiB",
            ],
        ),
        (
            {"checksumSha256": REMOVE},
            [f"checksumSha256: {field_rules.REQUIRED_WITH_FILE_SIZE}"],
        ),
        ({"fileSize": 0}, ["fileSize: must be at least 1 byte"]),
        ({"fileSize": 5 * 1024**3 + 1}, ["fileSize: must be at most 5 GiB (5368709120 bytes)"]),
        ({"fileSize": "12"}, ["fileSize: must be a whole number of bytes"]),
        ({"fileSize": 1.5}, ["fileSize: must be a whole number of bytes"]),
    ],
    ids=["both", "neither", "no-checksum", "zero", "over-5-GiB", "string", "fraction"],
)
def test_a_bad_direct_body_is_a_400_naming_its_fields_and_writes_nothing(stage, changes, errors):
    response = post(direct_document(**changes))
    assert response.status == 400
    assert response.json["errors"] == errors
    assert stage.items() == []


def test_the_largest_file_is_5_gib(stage):
    body = announce(direct_document(fileSize=5 * 1024**3))
    assert body["upload"]["headers"]["Content-Length"] == "5368709120"
