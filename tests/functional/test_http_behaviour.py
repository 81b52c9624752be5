"""What the handler answers besides 201: routing, media type, bodies (stored in memory, no AWS)."""

from __future__ import annotations

import json

import pytest

from tests.bodies import b64, valid_document

from .support import call_handler, make_event

CONTENT = b"lamp"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/upload"), ("PUT", "/upload"), ("DELETE", "/upload"), ("POST", "/uploads"), ("POST", "/")],
)
def test_other_method_or_path_is_403_missing_authentication_token(post, method, path):
    # GIVEN a request for a method or path the API does not have
    # WHEN it reaches the handler
    response = post(valid_document(CONTENT), method=method, path=path)
    # THEN the answer is what API Gateway gives: 403 Missing Authentication Token
    assert response.status == 403
    assert response.json == {"message": "Missing Authentication Token"}


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("text/plain", id="text-plain"),
        pytest.param("application/jsonx", id="jsonx"),
        pytest.param("application/x-www-form-urlencoded", id="form"),
        pytest.param(None, id="missing"),
    ],
)
def test_non_json_content_type_is_415(post, content_type):
    # GIVEN a valid body sent with a non-JSON Content-Type (or none)
    # WHEN it reaches the handler
    response = post(valid_document(CONTENT), content_type=content_type)
    # THEN it is a 415 with a JSON message
    assert response.status == 415
    assert set(response.json) == {"message"}


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "APPLICATION/JSON"])
def test_json_content_type_variants_are_accepted(post, content_type):
    # GIVEN a valid body with a JSON Content-Type variant
    # WHEN it reaches the handler
    response = post(valid_document(CONTENT), content_type=content_type)
    # THEN it is created
    assert response.status == 201


def test_lower_case_header_name_is_honoured(in_memory_store):
    # GIVEN an event whose header names are lower-case (HTTP/2 clients send them so)
    event = make_event(json.dumps(valid_document(CONTENT)))
    event["headers"] = {name.lower(): value for name, value in event["headers"].items()}
    event["multiValueHeaders"] = {name.lower(): value for name, value in event["multiValueHeaders"].items()}
    # WHEN it reaches the handler
    response = call_handler(event)
    # THEN the Content-Type is found and the upload created
    assert response.status == 201


def test_event_without_headers_is_415(in_memory_store):
    # GIVEN an event with no headers at all (API Gateway sends null then)
    event = make_event(json.dumps(valid_document(CONTENT)))
    event["headers"] = None
    event["multiValueHeaders"] = None
    # WHEN it reaches the handler
    response = call_handler(event)
    # THEN it is a 415, not a crash
    assert response.status == 415


def test_invalid_json_is_400(post):
    # GIVEN a body that is not JSON
    # WHEN it reaches the handler
    response = post('{"productId": ')
    # THEN it is a 400 with a JSON message
    assert response.status == 400
    assert response.json == {
        "message": "Request body is not valid JSON",
        "errors": ["body: must be a JSON object"],
    }


def test_missing_body_is_400(in_memory_store):
    # GIVEN a POST with no body (API Gateway sends null)
    event = make_event(None)
    # WHEN it reaches the handler
    response = call_handler(event)
    # THEN it is a 400
    assert response.status == 400


def test_rule_violation_lists_the_field_under_errors(post):
    # GIVEN a body whose price is a string
    document = valid_document(CONTENT, price="29.99")
    # WHEN it reaches the handler
    response = post(document)
    # THEN it is a 400 with the field in errors, in plain words
    assert response.status == 400
    assert response.json == {
        "message": "Invalid request fields",
        "errors": ["price: must be a JSON number such as 29.99 (not a string or null)"],
    }


def test_oversize_file_is_413(post):
    # GIVEN a file one byte over 4 MiB
    document = valid_document(b"\x00" * (4 * 1024 * 1024 + 1))
    # WHEN it reaches the handler
    response = post(document)
    # THEN it is a 413 whose message names the limit and the way to send a larger file
    assert response.status == 413
    assert response.json == {
        "message": "fileContent: the file is larger than the 4 MiB (4,194,304 bytes) an upload can carry "
        "inline; send a larger file, up to 5 GiB, with fileSize instead of fileContent "
        "(a direct upload to S3)",
        "errors": ["fileContent: must decode to at most 4 MiB (4,194,304 bytes)"],
    }


def test_base64_encoded_event_body_is_decoded_first(in_memory_store):
    # GIVEN an event whose body API Gateway delivered base64-encoded
    text = json.dumps(valid_document(CONTENT))
    event = make_event(b64(text.encode("utf-8")))
    event["isBase64Encoded"] = True
    # WHEN it reaches the handler
    response = call_handler(event)
    # THEN the JSON inside is what is parsed
    assert response.status == 201


def test_error_responses_are_json_and_not_cacheable(post):
    # GIVEN a rejected request
    response = post("[]")
    # WHEN its headers are read
    headers = response.headers
    # THEN they are the same as a success's
    assert response.status == 400
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"


@pytest.mark.parametrize("body", ["[]", '{"productId": 1}', "{"], ids=["not-object", "schema", "invalid"])
def test_client_error_logs_nothing_at_error_level(post, caplog, body):
    # GIVEN a request refused as the client's fault
    caplog.set_level("WARNING")
    # WHEN it reaches the handler
    response = post(body)
    # THEN no logger (Powertools' own included, which Lambda ships via the root logger) reports an error
    assert response.status == 400
    assert [
        record.getMessage() for record in caplog.records if record.levelname in {"ERROR", "CRITICAL"}
    ] == []
