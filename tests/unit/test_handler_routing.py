"""The handler's one route and its proxy results: what Powertools' APIGatewayRestResolver gave.

The handler routes POST /upload itself (importing Powertools' event handler package cost about
half of the function's cold start on top of boto3). These tests pin what the resolver did, so the
answers stay the same: the route (method in any case, trailing slashes), headers in any case,
base64 bodies, and the proxy result's shape.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from upload_api import handler
from upload_api.storage import UploadStore

from tests.bodies import valid_document
from tests.unit.test_handler_store_injection import BASE_EVENT, FakeContext, FakeDynamoDB, FakeS3

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "lambda"
HEADERS = {
    "Cache-Control": ["no-store"],
    "X-Content-Type-Options": ["nosniff"],
    "Content-Type": ["application/json"],
}


@pytest.fixture(autouse=True)
def fake_store(monkeypatch):
    store = UploadStore(s3_client=FakeS3(), dynamodb_client=FakeDynamoDB(), bucket_name="b", table_name="t")
    monkeypatch.setattr(handler, "store", store)


def answer(**changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(BASE_EVENT)
    event["body"] = json.dumps(valid_document())
    event.update(changes)
    return handler.lambda_handler(event, FakeContext())


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/upload", 201),
        ("post", "/upload", 201),
        ("POST", "/upload/", 201),
        ("POST", "/upload//", 201),
        ("GET", "/upload", 403),
        ("PUT", "/upload", 403),
        ("POST", "/upload/x", 403),
        ("POST", "/uploads", 403),
        ("POST", "/", 403),
    ],
)
def test_only_post_upload_is_routed(method, path, status):
    # GIVEN a method and path WHEN they reach the handler THEN only POST /upload runs the upload
    response = answer(httpMethod=method, path=path)
    assert response["statusCode"] == status
    if status == 403:
        assert json.loads(response["body"]) == {"message": "Missing Authentication Token"}


def test_the_proxy_result_has_the_resolver_s_shape():
    # GIVEN any answer WHEN returned THEN status, JSON body, no base64, headers as multiValueHeaders
    response = answer(httpMethod="GET")
    assert response == {
        "statusCode": 403,
        "body": '{"message":"Missing Authentication Token"}',
        "isBase64Encoded": False,
        "multiValueHeaders": HEADERS,
    }


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"CONTENT-TYPE": "application/json"}, 201),
        ({"content-type": "application/json; charset=utf-8"}, 201),
        ({"Content-Type": "text/plain", "content-type": "application/json"}, 201),  # the last one wins
        ({"Content-Type": "application/json", "content-type": "text/plain"}, 415),
        (None, 415),
    ],
)
def test_the_content_type_header_is_read_in_any_letter_case(headers, status):
    assert answer(headers=headers)["statusCode"] == status


def test_a_base64_body_is_decoded_and_a_non_utf8_one_refused():
    text = json.dumps(valid_document())
    assert answer(body=base64.b64encode(text.encode()).decode(), isBase64Encoded=True)["statusCode"] == 201
    refused = answer(body=base64.b64encode(b"\xff{}").decode(), isBase64Encoded=True)
    assert (refused["statusCode"], json.loads(refused["body"])["errors"]) == (
        400,
        ["body: must be JSON text in UTF-8"],
    )


def test_an_unexpected_fault_is_a_generic_500(monkeypatch):
    # GIVEN a store that fails in a way nobody planned for
    def broken(request: Any) -> Any:
        raise RuntimeError("bucket-name-xyz exploded")

    monkeypatch.setattr(handler.store, "save", broken)
    # WHEN an upload arrives THEN a generic 500, nothing of the fault in it
    response = answer()
    assert (response["statusCode"], response["body"]) == (500, '{"message":"Internal server error"}')


def test_importing_the_handler_loads_no_event_handler_package():
    # GIVEN a fresh interpreter with the function's environment
    env = {**os.environ, "PYTHONPATH": str(LAMBDA_DIR), "BUCKET_NAME": "b", "TABLE_NAME": "t"}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    code = (
        "import sys, upload_api.handler; "
        "print(sorted(m for m in sys.modules if m.startswith(('aws_lambda_powertools.event_handler', "
        "'aws_lambda_powertools.utilities.data_classes'))))"
    )
    # WHEN the handler is imported
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    # THEN none of Powertools' resolvers or event data classes came with it (a cold-start cost)
    assert result.stdout.strip() == "[]"
