"""The API contract (/work/shared/api-contract.md), over HTTP, against a local server or a deployment."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from boto3.dynamodb.types import TypeDeserializer

from tests.bad_inputs import BAD_INPUTS, BadInput, plainness_faults
from tests.bodies import REMOVE, sha256_b64, valid_document

pytestmark = pytest.mark.e2e

MAX_FILE_BYTES = 4 * 1024 * 1024
# Every byte value, so an encoding slip anywhere (text vs binary) changes the stored bytes.
FILE_BYTES = bytes(range(256)) * 4
UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
ANY_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
EXCEPTION_NAME = re.compile(r"\b[A-Z][A-Za-z0-9]*(?:Error|Exception)\b")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def new_product_id() -> str:
    """Unique per test run, so reruns against a deployment never collide."""
    return f"e2e-{uuid.uuid4().hex[:12]}"


def upload_body(content: bytes = FILE_BYTES, **overrides: Any) -> dict[str, Any]:
    """A valid request body with a productId of its own; an override of REMOVE drops the field."""
    overrides.setdefault("productId", new_product_id())
    return valid_document(content, **overrides)


def to_json(body: Any) -> str:
    # A float's repr is the shortest text that round-trips: 29.99 is written 29.99.
    return json.dumps(body, separators=(",", ":"))


def post(api: httpx.Client, url: str, body: Any, content_type: str = "application/json") -> httpx.Response:
    content = body if isinstance(body, str | bytes) else to_json(body)
    return api.post(url, content=content, headers={"Content-Type": content_type})


def assert_clean_error(response: httpx.Response, deployment: Any) -> dict[str, Any]:
    """A JSON {"message": ...} body that gives nothing of the server away."""
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert isinstance(document, dict)
    assert set(document) <= {"message", "errors"}
    assert isinstance(document["message"], str)
    assert document["message"].strip()
    assert all(isinstance(error, str) for error in document.get("errors", []))
    text = response.text
    assert "Traceback" not in text
    assert 'File "' not in text
    assert not EXCEPTION_NAME.search(text), text
    assert not ANY_UUID.search(text), text  # request ids (API Gateway's, Lambda's) are UUIDs
    for secret in (deployment.outputs.get("BucketName"), deployment.outputs.get("TableName"), "arn:aws"):
        assert not secret or secret not in text, text
    for header in ("x-amzn-requestid", "x-amz-apigw-id", "x-amzn-trace-id"):
        value = response.headers.get(header)
        assert not value or value not in text
    return document


@pytest.fixture(scope="module")
def created(api, deployment) -> tuple[dict[str, Any], httpx.Response]:
    body = upload_body()
    return body, post(api, deployment.upload_endpoint, body)


@pytest.fixture(scope="module")
def replaced(api, deployment) -> tuple[bytes, dict[str, Any], bytes, dict[str, Any]]:
    """Two uploads for the same (productId, productName): first and second file, each with its response."""
    product_id = new_product_id()
    first_bytes, second_bytes = b"first version", b"second version, longer"
    first = post(api, deployment.upload_endpoint, upload_body(first_bytes, productId=product_id, price=1))
    second = post(api, deployment.upload_endpoint, upload_body(second_bytes, productId=product_id, price=2.5))
    assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
    return first_bytes, first.json(), second_bytes, second.json()


def get_item(dynamodb, deployment, product_id: str, product_name: str) -> dict[str, Any]:
    response = dynamodb.get_item(
        TableName=deployment.outputs["TableName"],
        Key={"productId": {"S": product_id}, "productName": {"S": product_name}},
        ConsistentRead=True,
    )
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in response["Item"].items()}


# -- 201 ------------------------------------------------------------------------------------------


def test_upload_answers_201_with_what_was_sent(created):
    # GIVEN a valid upload
    body, response = created
    # WHEN it was posted (fixture)
    # THEN 201 echoes the product and describes the stored file
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json(parse_float=Decimal)
    assert document["productId"] == body["productId"]
    assert document["productName"] == body["productName"]
    assert document["price"] == Decimal("29.99")
    assert document["file"]["size"] == len(FILE_BYTES)
    assert document["file"]["contentType"] == "image/png"
    assert document["file"]["sha256"] == sha256_b64(FILE_BYTES)
    assert document["file"]["versionId"]
    assert TIMESTAMP.match(document["uploadedAt"]), document["uploadedAt"]


def test_price_is_returned_exactly_as_sent(created):
    # GIVEN an upload priced 29.99
    _, response = created
    # WHEN the raw response text is read
    # THEN the number is written 29.99, not a binary-float neighbour
    assert re.search(r'"price"\s*:\s*29\.99\s*[,}]', response.text), response.text


def test_key_is_server_chosen_under_the_product(created):
    # GIVEN an upload for a product
    body, response = created
    # WHEN the key is read from the answer
    key = response.json()["file"]["key"]
    # THEN it is uploads/{productId}/{uuid4}/{fileName}
    assert re.fullmatch(rf"uploads/{re.escape(body['productId'])}/{UUID4}/{re.escape(body['fileName'])}", key)


def test_object_holds_exactly_the_bytes_encrypted_with_kms(created, s3, deployment):
    # GIVEN a 201 for an upload
    _, response = created
    file = response.json()["file"]
    # WHEN the object is read at the answered key and version
    stored = s3.get_object(
        Bucket=deployment.outputs["BucketName"], Key=file["key"], VersionId=file["versionId"]
    )
    # THEN it holds exactly the decoded bytes, under SSE-KMS
    assert stored["Body"].read() == FILE_BYTES
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert stored["ContentType"] == "image/png"
    # AND (contract v2) a browser is told to download it, never to render it
    assert stored["ContentDisposition"] == "attachment; filename=\"lamp.png\"; filename*=UTF-8''lamp.png"


def test_item_holds_price_and_file_metadata(created, dynamodb, deployment):
    # GIVEN a 201 for an upload
    body, response = created
    document = response.json(parse_float=Decimal)
    # WHEN the item is read by (productId, productName)
    item = get_item(dynamodb, deployment, body["productId"], body["productName"])
    # THEN it holds the exact price and the same file metadata
    assert item["price"] == Decimal("29.99")
    assert str(item["price"]) == "29.99"
    # (where the stage scans uploads, GuardDuty's verdict may already have replaced PENDING)
    scan_fields = {"scanStatus", "scannedAt"}
    assert {k: v for k, v in item["file"].items() if k not in scan_fields} == {
        k: v for k, v in document["file"].items() if k not in scan_fields
    }
    if "scanStatus" in document["file"]:
        assert document["file"]["scanStatus"] == "PENDING"
        assert item["file"]["scanStatus"]
    assert item["uploadedAt"] == document["uploadedAt"]


def test_reupload_gets_a_new_key(replaced):
    # GIVEN two uploads for the same product key pair
    _, first, _, second = replaced
    # WHEN their answers are compared
    # THEN each file has its own key: nothing was overwritten
    assert first["file"]["key"] != second["file"]["key"]
    assert second["price"] == 2.5


def test_reupload_replaces_the_item_and_keeps_the_earlier_object(replaced, s3, dynamodb, deployment):
    # GIVEN two uploads for the same (productId, productName)
    first_bytes, first, _, second = replaced
    # WHEN the item and the first upload's object are read
    item = get_item(dynamodb, deployment, second["productId"], second["productName"])
    earlier = s3.get_object(
        Bucket=deployment.outputs["BucketName"],
        Key=first["file"]["key"],
        VersionId=first["file"]["versionId"],
    )
    # THEN the item describes the second upload, and the first object is still there, unchanged
    assert item["file"]["key"] == second["file"]["key"]
    assert item["price"] == Decimal("2.5")
    assert earlier["Body"].read() == first_bytes


def test_json_with_utf8_charset_is_accepted(api, deployment):
    # GIVEN a valid body labelled application/json; charset=utf-8
    body = upload_body()
    # WHEN it is posted
    response = post(api, deployment.upload_endpoint, body, content_type="application/json; charset=utf-8")
    # THEN it is stored
    assert response.status_code == 201, response.text


def test_file_of_exactly_4_mib_is_accepted(api, deployment):
    # GIVEN a file at the size limit
    content = bytes(range(256)) * (MAX_FILE_BYTES // 256)
    # WHEN it is uploaded
    response = post(api, deployment.upload_endpoint, upload_body(content))
    # THEN it is stored whole
    assert response.status_code == 201, response.text
    assert response.json()["file"]["size"] == MAX_FILE_BYTES


# -- errors ---------------------------------------------------------------------------------------


def assert_names_the_limits(document: dict[str, Any], *limits: str) -> None:
    """A 413 says how large a body or file may be, and that larger files use fileSize (contract v3)."""
    for words in (*limits, "fileSize", "5 GiB"):
        assert words in document["message"], document


def test_file_over_4_mib_is_413(api, deployment):
    # GIVEN a file one byte over the limit
    content = b"\x00" * (MAX_FILE_BYTES + 1)
    # WHEN it is uploaded
    response = post(api, deployment.upload_endpoint, upload_body(content))
    # THEN 413 with a clean JSON error naming the limit
    assert response.status_code == 413, response.text
    assert_names_the_limits(assert_clean_error(response, deployment), "4 MiB")


def test_text_plain_is_415(api, deployment):
    # GIVEN a valid JSON body labelled text/plain
    body = to_json(upload_body())
    # WHEN it is posted
    response = post(api, deployment.upload_endpoint, body, content_type="text/plain")
    # THEN 415 with a clean JSON error
    assert response.status_code == 415, response.text
    assert_clean_error(response, deployment)


# Bodies the method's model refuses: API Gateway answers them itself, before Lambda runs, naming
# the field at fault ("body" where the body as a whole is wrong). The model is the schema's top
# level (stages/upload/gateway_responses.py); every other rule is the handler's (BAD_INPUTS).
SCHEMA_VIOLATIONS = {
    "not-json": ("body", lambda: '{"productId": "p-1", '),
    "json-array": ("body", lambda: "[]"),
    "json-string": ("body", lambda: '"upload"'),
    "missing-productId": ("productId", lambda: upload_body(productId=REMOVE)),
    "missing-productName": ("productName", lambda: upload_body(productName=REMOVE)),
    "missing-price": ("price", lambda: upload_body(price=REMOVE)),
    "missing-fileName": ("fileName", lambda: upload_body(fileName=REMOVE)),
    "unknown-field": ("owner", lambda: upload_body(owner="someone-else")),
}
# Bodies only the handler can refuse (or, for the newline, either of them).
HANDLER_REJECTIONS = {
    "productId-trailing-newline": lambda: upload_body(productId="p-1\n"),
    "bad-base64": lambda: upload_body(fileContent="!!!!", checksumSha256=REMOVE),
    "unpadded-base64": lambda: upload_body(fileContent="aGVsbG8", checksumSha256=REMOVE),
    "checksum-mismatch": lambda: upload_body(checksumSha256=sha256_b64(b"other bytes")),
    # contract v2: active content depends on the stage's allowActiveContent, so the handler decides
    "contentType-html": lambda: upload_body(contentType="text/html"),
    "contentType-svg-upper-case": lambda: upload_body(contentType="IMAGE/SVG+XML"),
    "contentType-javascript": lambda: upload_body(contentType="application/javascript"),
}
# Bodies built to break parsers (contract: never a 5xx for a request body, however malformed).
PATHOLOGICAL_BODIES = {
    "100k-open-arrays": lambda: "[" * 100_000,
    "100k-nested-objects": lambda: '{"a":' * 100_000 + "1" + "}" * 100_000,
    "deep-array-in-a-field": lambda: (
        to_json(upload_body())[:-1] + ',"x":' + "[" * 50_000 + "]" * 50_000 + "}"
    ),
    "huge-number": lambda: to_json(upload_body())[:-1].replace('"price":29.99', '"price":1e999999') + "}",
    "duplicate-keys": lambda: to_json(upload_body())[:-1] + ',"productId":"p-2"}',
    "lone-surrogate": lambda: to_json(upload_body())[:-1] + ',"\\udfff":1}',
}


@pytest.mark.parametrize(("field", "make_body"), SCHEMA_VIOLATIONS.values(), ids=SCHEMA_VIOLATIONS.keys())
def test_schema_violation_is_400_from_the_gateway_naming_the_field(api, deployment, field, make_body):
    # GIVEN a body the request model refuses
    body = make_body()
    # WHEN it is posted as JSON
    response = post(api, deployment.upload_endpoint, body)
    # THEN API Gateway's own 400, before the function runs, with an entry that names the field alone
    assert response.status_code == 400, response.text
    document = assert_clean_error(response, deployment)
    assert document["message"] == "Invalid request body"
    assert field in [error.split(": ", 1)[0] for error in document["errors"]], document
    assert all(plainness_faults(error) == [] for error in document["errors"]), document
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.name for case in BAD_INPUTS])
def test_each_bad_input_gets_its_field_and_plain_words(api, deployment, case: BadInput):
    # GIVEN a bad body from the table the handler-level tests also read (tests/bad_inputs.py)
    # WHEN it is posted as JSON
    response = post(api, deployment.upload_endpoint, case.body())
    # THEN a 400 from whoever the table says (gateway or handler), naming the field in the table's words
    assert response.status_code == case.status, response.text
    document = assert_clean_error(response, deployment)
    assert (document["message"] == "Invalid request body") == case.at_gateway, document  # API Gateway's words
    assert document["errors"] == [case.error], document
    assert plainness_faults(case.error) == []


@pytest.mark.parametrize("make_body", HANDLER_REJECTIONS.values(), ids=HANDLER_REJECTIONS.keys())
def test_bad_file_or_checksum_is_400(api, deployment, make_body):
    # GIVEN a body that passes the model but breaks the contract
    body = make_body()
    # WHEN it is posted as JSON
    response = post(api, deployment.upload_endpoint, body)
    # THEN 400 with a clean JSON error
    assert response.status_code == 400, response.text
    assert_clean_error(response, deployment)


def test_a_body_with_neither_file_field_is_400_naming_both(api, deployment):
    # GIVEN a body with neither fileContent nor fileSize (v3: exactly one is required, which the
    # handler says in plain words rather than the model's "one of")
    body = upload_body(fileContent=REMOVE, checksumSha256=REMOVE)
    # WHEN it is posted as JSON
    response = post(api, deployment.upload_endpoint, body)
    # THEN 400, each of the two fields named, in plain words
    assert response.status_code == 400, response.text
    document = assert_clean_error(response, deployment)
    assert sorted(error.split(": ", 1)[0] for error in document["errors"]) == ["fileContent", "fileSize"]
    assert all(plainness_faults(error) == [] for error in document["errors"]), document


@pytest.mark.parametrize("make_body", PATHOLOGICAL_BODIES.values(), ids=PATHOLOGICAL_BODIES.keys())
def test_pathological_json_is_a_clean_400(api, deployment, make_body):
    # GIVEN a body built to break a JSON parser (deep nesting, huge numbers, duplicate keys...)
    body = make_body()
    # WHEN it is posted as JSON
    response = post(api, deployment.upload_endpoint, body)
    # THEN a 400 with a clean JSON error, from the gateway or the handler, never a 5xx
    assert response.status_code == 400, response.text[:500]
    assert_clean_error(response, deployment)


def test_body_over_the_lambda_invoke_limit_is_413(api, deployment):
    # GIVEN a 5 MiB file: about 7 MB of base64, over Lambda's 6 MB invoke payload
    content = b"\x01" * (5 * 1024 * 1024)
    # WHEN it is uploaded
    response = post(api, deployment.upload_endpoint, upload_body(content))
    # THEN 413 with a clean JSON error naming the limits
    assert response.status_code == 413, response.text
    assert_names_the_limits(assert_clean_error(response, deployment), "6 MB", "4 MiB")


def test_body_over_10_mib_is_413(api, deployment):
    # GIVEN a body one byte over API Gateway's 10 MiB payload limit
    body = upload_body(b"x")
    text = to_json(body)
    text = text[:-1] + ',"pad":"' + "p" * (10 * 1024 * 1024 + 1 - len(text) - 9) + '"}'
    assert len(text.encode()) == 10 * 1024 * 1024 + 1
    # WHEN it is posted
    response = post(api, deployment.upload_endpoint, text)
    # THEN 413 with a clean JSON error naming the limits
    assert response.status_code == 413, response.text
    assert_names_the_limits(assert_clean_error(response, deployment), "10 MiB", "4 MiB")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "upload"), ("POST", "other"), ("PUT", "upload"), ("DELETE", "upload"), ("POST", "upload/x")],
)
def test_other_method_or_path_is_403(api, deployment, method, path):
    # GIVEN a method or path the API does not have
    url = f"{deployment.api_url}{path}"
    # WHEN it is requested
    response = api.request(method, url)
    # THEN API Gateway's answer: 403 Missing Authentication Token
    assert response.status_code == 403, response.text
    assert response.json() == {"message": "Missing Authentication Token"}
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
