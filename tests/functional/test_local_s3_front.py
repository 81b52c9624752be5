"""Local mode's S3 front in front of moto: what it forwards, what it stops, what event it sends.

A stub stands in for the finalizer: it records the EventBridge "Object Created" events the
front delivers after a stored PUT.
"""

from __future__ import annotations

import base64
import hashlib
import queue
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from tools.dev.local.s3_front import S3Front, SigningSecret

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "local-upload-bucket"
BODY = b"0123456789abcdef" * 4096  # 64 KiB
SHA256 = base64.b64encode(hashlib.sha256(BODY).digest()).decode("ascii")
KEY = "uploads/p-1/6b1e/big manual+v2.pdf"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def events() -> queue.Queue[dict[str, Any]]:
    return queue.Queue()


@pytest.fixture(scope="module")
def front(moto_url: str, events: queue.Queue[dict[str, Any]]) -> Iterator[S3Front]:
    secrets = {"testing": SigningSecret("testing", "testing", "testing")}
    started = S3Front(moto_url, secrets, REGION, ACCOUNT, events.put).start()
    yield started
    started.stop()


def client(endpoint_url: str) -> Any:
    return boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
        config=Config(signature_version="s3v4"),
    )


@pytest.fixture(scope="module")
def through_front(front: S3Front) -> Any:
    """The handler's view: an S3 client whose endpoint is the front; the bucket made through it."""
    s3 = client(front.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return s3


@pytest.fixture(scope="module")
def moto_s3(moto_url: str) -> Any:
    return client(moto_url)


def presigned(s3: Any, key: str = KEY) -> str:
    params = {"Bucket": BUCKET, "Key": key, "ContentType": "application/pdf", "ChecksumSHA256": SHA256}
    return str(
        s3.generate_presigned_url("put_object", Params={**params, "ContentLength": len(BODY)}, ExpiresIn=900)
    )


HEADERS = {"Content-Type": "application/pdf", "x-amz-checksum-sha256": SHA256}


def test_a_verified_put_is_stored_and_announced(
    through_front: Any, moto_s3: Any, events: queue.Queue[dict[str, Any]]
):
    # GIVEN a URL presigned against the front WHEN the announced bytes are PUT
    answer = httpx.put(presigned(through_front), content=BODY, headers=HEADERS)
    # THEN S3's answer comes back and moto holds exactly those bytes
    assert answer.status_code == 200, answer.text
    stored = moto_s3.get_object(Bucket=BUCKET, Key=KEY)
    assert stored["Body"].read() == BODY
    assert stored["VersionId"] == answer.headers["x-amz-version-id"]
    # AND the EventBridge event names the object as S3 would
    event = events.get(timeout=5)
    assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
    assert event["detail"]["bucket"] == {"name": BUCKET}
    detail = event["detail"]["object"]
    assert (detail["key"], detail["size"], detail["version-id"]) == (KEY, len(BODY), stored["VersionId"])
    assert detail["etag"] == stored["ETag"].strip('"')


def test_a_wrong_checksum_never_reaches_moto(
    through_front: Any, moto_s3: Any, events: queue.Queue[dict[str, Any]]
):
    key = "uploads/p-1/6b1e/tampered.pdf"
    answer = httpx.put(presigned(through_front, key), content=BODY[:-1] + b"!", headers=HEADERS)
    assert answer.status_code == 400
    assert "<Code>BadDigest</Code>" in answer.text
    assert answer.headers["content-type"] == "application/xml"
    assert moto_s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount") == 0
    with pytest.raises(queue.Empty):
        events.get(timeout=0.5)


def test_a_changed_header_is_refused_before_the_body(through_front: Any, moto_s3: Any):
    key = "uploads/p-1/6b1e/retyped.pdf"
    answer = httpx.put(
        presigned(through_front, key), content=BODY, headers={**HEADERS, "Content-Type": "text/html"}
    )
    assert answer.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in answer.text
    assert moto_s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount") == 0


def test_header_signed_calls_pass_through(through_front: Any):
    # The handler's own S3 calls (Authorization header) reach moto as they are.
    through_front.put_object(
        Bucket=BUCKET, Key="uploads/p-2/inline.txt", Body=b"inline", ContentType="text/plain"
    )
    head = through_front.head_object(Bucket=BUCKET, Key="uploads/p-2/inline.txt")
    assert head["ContentLength"] == 6
    assert through_front.get_object(Bucket=BUCKET, Key="uploads/p-2/inline.txt")["Body"].read() == b"inline"


def test_an_anonymous_request_is_denied(front: S3Front, through_front: Any):
    answer = httpx.put(f"{front.url}/{BUCKET}/uploads/p-3/anon.txt", content=b"x")
    assert answer.status_code == 403
    assert "<Code>AccessDenied</Code>" in answer.text


def test_expect_100_continue_is_answered_before_the_body(front: S3Front, through_front: Any):
    # GIVEN a PutObject's headers with `Expect: 100-continue`, as botocore sends them (it then waits
    # up to a second for the 100 before sending the body; moto's server never sends one)
    host, port = front.url.removeprefix("http://").split(":")
    head = (
        f"PUT /{BUCKET}/uploads/p-4/expect.txt HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request\r\n"
        "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=0.5) as connection:
        connection.sendall(head.encode())
        # WHEN only the headers were sent THEN the front answers 100 Continue at once
        assert connection.recv(64).startswith(b"HTTP/1.1 100 Continue")


def test_a_presigned_url_with_an_authorization_header_too_is_refused(through_front: Any, moto_s3: Any):
    # S3 allows one auth mechanism; forwarding such a request unchecked would skip every check above.
    key = "uploads/p-1/6b1e/two-mechanisms.pdf"
    headers = {
        **HEADERS,
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request",
    }
    answer = httpx.put(presigned(through_front, key), content=BODY[:-1] + b"!", headers=headers)
    assert answer.status_code == 400
    assert "<Code>InvalidArgument</Code>" in answer.text
    assert moto_s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount") == 0
