"""The direct path (contract: "Large files: direct upload to S3") over HTTP: the 202, the presigned
PUT to S3 (local mode: its S3 front on loopback), and the item the arrived object becomes.

Against a deployment (UPLOAD_API_OUTPUTS) the same requests run; what needs the table or the
bucket read directly is skipped there (the `dynamodb` and `s3` fixtures say why).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from boto3.dynamodb.types import TypeDeserializer

from tests.bodies import REMOVE, sha256_b64, valid_document

pytestmark = pytest.mark.e2e

# Just over the inline limit: only the direct path can carry it.
BIG_FILE = bytes(range(256)) * (4 * 1024 * 4) + b"over the inline limit"
UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
ITEM_WAIT_S = 30.0


def direct_body(content: bytes, **changes: Any) -> dict[str, Any]:
    changes.setdefault("productId", f"e2e-direct-{uuid.uuid4().hex[:12]}")
    return valid_document(
        content,
        fileName="manual.pdf",
        contentType="application/pdf",
        fileContent=REMOVE,
        fileSize=len(content),
        **changes,
    )


def announce(api: httpx.Client, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(endpoint, content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    return response.json()


def send(accepted: dict[str, Any], content: bytes, **header_changes: str) -> httpx.Response:
    """The PUT as the contract says: every header of `upload.headers`, no credentials of its own."""
    upload = accepted["upload"]
    headers = {**upload["headers"], **header_changes}
    with httpx.Client(timeout=120.0) as s3:
        return s3.request(upload["method"], upload["url"], content=content, headers=headers)


def s3_code(response: httpx.Response) -> str | None:
    found = re.search(r"<Code>([^<]*)</Code>", response.text)
    return found.group(1) if found else None


def item_of(dynamodb: Any, table: str, body: dict[str, Any]) -> dict[str, Any] | None:
    key = {"productId": {"S": body["productId"]}, "productName": {"S": body["productName"]}}
    found = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    return {name: TypeDeserializer().deserialize(value) for name, value in found.items()} if found else None


def wait_for_item_at(dynamodb: Any, table: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    deadline = time.monotonic() + ITEM_WAIT_S
    while True:
        item = item_of(dynamodb, table, body)
        if item and item["file"]["key"] == key:
            return item
        assert time.monotonic() < deadline, f"no item pointed at {key} within {ITEM_WAIT_S:g} s: {item}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def stored(api, deployment) -> tuple[dict[str, Any], dict[str, Any], httpx.Response]:
    """One direct upload of BIG_FILE: the body sent, the 202, and S3's answer to the PUT."""
    body = direct_body(BIG_FILE)
    accepted = announce(api, deployment.upload_endpoint, body)
    return body, accepted, send(accepted, BIG_FILE)


def test_the_202_describes_the_file_and_a_presigned_put(stored):
    body, accepted, _ = stored
    file, upload = accepted["file"], accepted["upload"]
    assert (accepted["productId"], accepted["productName"]) == (body["productId"], body["productName"])
    assert accepted["price"] == 29.99
    assert re.fullmatch(rf"uploads/{body['productId']}/{UUID4}/manual\.pdf", file["key"])
    assert (file["size"], file["sha256"], file["contentType"]) == (
        len(BIG_FILE),
        sha256_b64(BIG_FILE),
        "application/pdf",
    )
    assert file["status"] == "AWAITING_UPLOAD"
    assert upload["method"] == "PUT"
    assert "X-Amz-Signature=" in upload["url"]
    assert upload["headers"]["x-amz-checksum-sha256"] == sha256_b64(BIG_FILE)
    expires = datetime.strptime(upload["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expires - datetime.now(UTC) <= timedelta(minutes=15, seconds=60)


def test_the_announced_bytes_are_stored(stored):
    _, _, answer = stored
    assert answer.status_code == 200, answer.text


def test_the_object_becomes_the_item(stored, dynamodb, s3, deployment):
    body, accepted, answer = stored
    key = accepted["file"]["key"]
    item = wait_for_item_at(dynamodb, deployment.outputs["TableName"], body, key)
    assert item["price"] == Decimal("29.99")
    assert item["file"]["size"] == len(BIG_FILE)
    assert item["file"]["sha256"] == sha256_b64(BIG_FILE)
    assert item["file"]["versionId"] == answer.headers["x-amz-version-id"]
    stored_object = s3.get_object(
        Bucket=deployment.outputs["BucketName"], Key=key, VersionId=item["file"]["versionId"]
    )
    assert stored_object["Body"].read() == BIG_FILE
    assert stored_object["ServerSideEncryption"] == "aws:kms"
    assert stored_object["ContentDisposition"].startswith("attachment")


def test_other_bytes_are_refused_and_never_become_the_item(api, deployment, dynamodb, s3):
    # GIVEN a product whose item points at an inline upload
    inline = valid_document(productId=f"e2e-direct-{uuid.uuid4().hex[:12]}")
    created = api.post(
        deployment.upload_endpoint, content=json.dumps(inline), headers={"Content-Type": "application/json"}
    )
    assert created.status_code == 201, created.text
    # WHEN a direct upload for it is announced and other bytes of the same length are PUT
    body = direct_body(BIG_FILE, productId=inline["productId"])
    accepted = announce(api, deployment.upload_endpoint, body)
    answer = send(accepted, bytes(reversed(BIG_FILE)))
    # THEN S3 refuses them (BadDigest), nothing is stored at the key, and the item is the inline one
    assert (answer.status_code, s3_code(answer)) == (400, "BadDigest"), answer.text
    listed = s3.list_objects_v2(Bucket=deployment.outputs["BucketName"], Prefix=accepted["file"]["key"])
    assert listed.get("KeyCount") == 0
    time.sleep(1.0)  # a finalizer that wrongly ran would have written by now
    item = item_of(dynamodb, deployment.outputs["TableName"], body)
    assert item is not None
    assert item["file"]["key"] == created.json()["file"]["key"]


@pytest.mark.parametrize(
    "change",
    [{"Content-Type": "text/html"}, {"Content-Disposition": "inline"}, {"x-amz-acl": "public-read"}],
    ids=["content-type", "content-disposition", "unsigned-header"],
)
def test_a_changed_or_added_header_is_refused(api, deployment, change):
    accepted = announce(api, deployment.upload_endpoint, direct_body(b"small but direct"))
    answer = send(accepted, b"small but direct", **change)
    assert answer.status_code == 403, answer.text
    assert s3_code(answer) in {"SignatureDoesNotMatch", "AccessDenied"}


def test_the_url_allows_no_read_and_no_other_key(api, deployment):
    accepted = announce(api, deployment.upload_endpoint, direct_body(b"one key only"))
    url = accepted["upload"]["url"]
    with httpx.Client(timeout=30.0) as s3:
        read = s3.get(url)
        other_key = s3.put(
            url.replace("manual.pdf?", "other.pdf?"),
            content=b"one key only",
            headers=accepted["upload"]["headers"],
        )
    assert (read.status_code, s3_code(read)) == (403, "SignatureDoesNotMatch")
    assert (other_key.status_code, s3_code(other_key)) == (403, "SignatureDoesNotMatch")


@pytest.mark.parametrize("which", ["both", "neither"])
def test_both_or_neither_of_file_content_and_file_size_is_a_400_naming_both(api, deployment, which):
    body = valid_document(productId=f"e2e-direct-{uuid.uuid4().hex[:12]}")
    if which == "both":
        body["fileSize"] = 10
    else:
        del body["fileContent"]
    response = api.post(
        deployment.upload_endpoint, content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    text = json.dumps(response.json())
    assert "fileContent" in text
    assert "fileSize" in text
