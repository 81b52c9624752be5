"""The handler's `store` is a module global read per request: tests swap it for one with fake clients."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from upload_api import handler
from upload_api.storage import UploadStore

from tests.bodies import FILE_BYTES, valid_document

BASE_EVENT = json.loads(
    (Path(__file__).resolve().parents[1] / "events" / "apigw_rest_post_upload.json").read_text(
        encoding="utf-8"
    )
)


class FakeS3:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def put_object(self, **params: Any) -> dict[str, Any]:
        self.bodies.append(params["Body"])
        return {"VersionId": "fake-version"}


class FakeDynamoDB:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, **params: Any) -> dict[str, Any]:
        self.items.append(params["Item"])
        return {}


class FakeContext:
    function_name = "upload"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:upload"
    aws_request_id = "fake-request"


def test_handler_uses_an_injected_store_with_fake_clients(monkeypatch):
    # GIVEN the handler's store replaced by one over fake S3 and DynamoDB clients
    s3, dynamodb = FakeS3(), FakeDynamoDB()
    fake_store = UploadStore(s3_client=s3, dynamodb_client=dynamodb, bucket_name="b", table_name="t")
    monkeypatch.setattr(handler, "store", fake_store)
    event = copy.deepcopy(BASE_EVENT)
    event["body"] = json.dumps(valid_document())
    # WHEN an upload arrives
    response = handler.lambda_handler(event, FakeContext())
    # THEN it is stored through the fakes, and no real AWS client was used
    assert response["statusCode"] == 201
    assert s3.bodies == [FILE_BYTES]
    assert [item["productId"] for item in dynamodb.items] == [{"S": "p-1"}]
    assert json.loads(response["body"])["file"]["versionId"] == "fake-version"
