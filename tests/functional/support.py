"""Building API Gateway REST proxy events and calling the handler with them."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from upload_api import handler

from tools.dev.local.gateway import FunctionInfo, LocalLambdaContext

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
BASE_EVENT: dict[str, Any] = json.loads(
    (EVENTS_DIR / "apigw_rest_post_upload.json").read_text(encoding="utf-8")
)
REGION = "us-east-1"
# The function the handler's context describes (name, memory, timeout: what Powertools reads).
FUNCTION = FunctionInfo("Dev-UploadApi-UploadFunction", memory_mb=512, timeout_seconds=29)

_DEFAULT = object()


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
    raw = handler.lambda_handler(event, LocalLambdaContext(FUNCTION, str(uuid.uuid4())))
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
