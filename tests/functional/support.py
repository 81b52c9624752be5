"""Building API Gateway REST proxy events and calling the handler with them."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from upload_api import handler

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
BASE_EVENT: dict[str, Any] = json.loads(
    (EVENTS_DIR / "apigw_rest_post_upload.json").read_text(encoding="utf-8")
)
REGION = "us-east-1"

_DEFAULT = object()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha256_b64(data: bytes) -> str:
    return b64(hashlib.sha256(data).digest())


def upload_document(content: bytes, **changes: Any) -> dict[str, Any]:
    """A valid request body for `content`; keyword arguments replace fields."""
    document = {
        "productId": "p-1",
        "productName": "Desk lamp",
        "price": 29.99,
        "fileName": "lamp.png",
        "contentType": "image/png",
        "fileContent": b64(content),
        "checksumSha256": sha256_b64(content),
    }
    document.update(changes)
    return document


def make_event(
    body: str | None,
    *,
    content_type: str | object | None = _DEFAULT,
    method: str = "POST",
    path: str = "/upload",
) -> dict[str, Any]:
    """An API Gateway REST proxy event for `method path` with `body` (the base event's other fields)."""
    event = copy.deepcopy(BASE_EVENT)
    event["httpMethod"] = method
    event["path"] = path
    event["resource"] = path
    event["requestContext"].update(httpMethod=method, resourcePath=path, path=f"/prod{path}")
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    event["body"] = body
    if content_type is not _DEFAULT:
        for headers in (event["headers"], event["multiValueHeaders"]):
            headers.pop("Content-Type")
        if content_type is not None:
            event["headers"]["Content-Type"] = content_type
            event["multiValueHeaders"]["Content-Type"] = [content_type]
    return event


class FakeLambdaContext:
    """What Powertools reads from the Lambda context object."""

    function_name = "Dev-UploadApi-UploadFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:Dev-UploadApi-UploadFunction"
    aws_request_id = "6f4d1a7e-0c2b-4f57-9a3e-2d0b8c1e5a90"
    log_group_name = "/aws/lambda/Dev-UploadApi-UploadFunction"
    log_stream_name = "2026/11/23/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@dataclass
class Response:
    """The proxy response, header names lower-cased."""

    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


def call_handler(event: dict[str, Any]) -> Response:
    raw = handler.lambda_handler(event, FakeLambdaContext())
    # A REST proxy response may use headers, multiValueHeaders or both; API Gateway merges them.
    headers = {name.lower(): value for name, value in (raw.get("headers") or {}).items()}
    for name, values in (raw.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ", ".join(values)
    return Response(status=raw["statusCode"], headers=headers, text=raw["body"])


class InMemoryS3:
    """put_object into a dict, as a versioned bucket would: (key, version) -> bytes.

    The key is encoded to UTF-8 first, as botocore does for the request URL, so
    a string botocore could not send fails here the same way.
    """

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        Key.encode("utf-8")
        version = uuid.uuid4().hex
        self.objects[(Key, version)] = Body
        return {"VersionId": version}


class InMemoryDynamoDB:
    """put_item into a dict keyed by (productId, productName), in DynamoDB's wire format.

    The item is serialized to UTF-8 JSON first, as botocore does for the request body.
    """

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put_item(self, *, TableName: str, Item: dict[str, Any]) -> dict[str, Any]:
        json.dumps(Item, ensure_ascii=False).encode("utf-8")
        self.items[(Item["productId"]["S"], Item["productName"]["S"])] = Item
        return {}
