"""Error bodies: {"message": ...} and optional field errors, never internals or the client's data."""

from __future__ import annotations

import json

import pytest
from upload_api.errors import (
    ApiError,
    BadRequest,
    MissingAuthenticationToken,
    PayloadTooLarge,
    StorageFailed,
    StorageUnavailable,
    UnsupportedMediaType,
)

from tests.bodies import b64, raw_price_body, valid_document

SECRET = "S3CR3T-D4T4"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (BadRequest("bad"), 400),
        (MissingAuthenticationToken(), 403),
        (PayloadTooLarge("big"), 413),
        (UnsupportedMediaType("json only"), 415),
        (StorageFailed("failed"), 500),
        (StorageUnavailable("later"), 503),
    ],
)
def test_each_error_has_its_status_and_a_message_only_body(error, status):
    # GIVEN one of the API's errors without field details
    # WHEN its body is built
    body = error.body()
    # THEN the status is the contract's and the body is just the message
    assert error.status == status
    assert body == {"message": error.message}


def test_field_errors_are_listed_under_errors():
    # GIVEN a 400 with field details
    error = BadRequest("Invalid request body", ["price: must be a number"])
    # WHEN its body is built
    body = error.body()
    # THEN they appear as a list of strings
    assert body == {"message": "Invalid request body", "errors": ["price: must be a number"]}


def test_missing_authentication_token_matches_api_gateway():
    # GIVEN the error for an unknown method or path
    # WHEN its body is built
    body = MissingAuthenticationToken().body()
    # THEN it is what API Gateway REST APIs answer
    assert body == {"message": "Missing Authentication Token"}


def _with(**changes: object) -> str:
    return json.dumps(valid_document(**changes))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_with(productId=f"-{SECRET}"), id="productId"),
        pytest.param(_with(productName=f"{SECRET}\n"), id="productName"),
        pytest.param(_with(fileName=f"{SECRET}/x"), id="fileName"),
        pytest.param(_with(contentType=f"{SECRET}"), id="contentType"),
        pytest.param(_with(fileContent=f"{SECRET}!"), id="fileContent-alphabet"),
        pytest.param(
            _with(fileContent=b64(SECRET.encode()), checksumSha256=b64(b"\x00" * 32)), id="checksum"
        ),
        pytest.param(_with(checksumSha256=SECRET), id="checksum-shape"),
        pytest.param(_with(price=f"{SECRET}"), id="price-string"),
        pytest.param(raw_price_body(valid_document(), "1" + "0" * 20), id="price-huge"),
        pytest.param("{" + f'"{SECRET}', id="invalid-json"),
    ],
)
def test_rejection_never_echoes_the_rejected_value_or_internals(rejection, body):
    # GIVEN a body whose bad value carries a marker
    # WHEN it is rejected
    error = rejection(body)
    rendered = json.dumps(error.body())
    # THEN the body is JSON with a message, and neither the value nor parser internals show
    assert isinstance(error, ApiError)
    assert isinstance(error.body()["message"], str)
    for leaked in (
        SECRET,
        b64(SECRET.encode()),
        "Traceback",
        "Exception",
        "fastjsonschema",
        "data.",
        "line 1",
    ):
        assert leaked not in rendered
