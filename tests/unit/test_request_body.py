"""The body as a whole (JSON, an object) and the request's Content-Type."""

from __future__ import annotations

import pytest
from upload_api.errors import UnsupportedMediaType
from upload_api.request import require_json_content_type


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("{", id="truncated"),
        pytest.param("{'productId': 'p-1'}", id="single-quotes"),
        pytest.param('{"productId": "p-1",}', id="trailing-comma"),
        pytest.param('{"productId": "p-1"} {}', id="two-documents"),
        pytest.param("productId=p-1&price=1", id="form-encoded"),
        pytest.param('{"price": NaN}', id="nan-literal"),
        pytest.param("\ufeff{}", id="byte-order-mark"),
    ],
)
def test_body_that_is_not_json_is_a_400(rejection, body):
    # GIVEN a body that is not valid JSON text
    # WHEN it is parsed
    error = rejection(body)
    # THEN it is a 400 that says so
    assert error.status == 400
    assert error.message == "Request body is not valid JSON"


@pytest.mark.parametrize("body", ["[]", '"text"', "42", "null", "true", "[{}]"])
def test_body_that_is_json_but_not_an_object_is_a_400(rejection, body):
    # GIVEN valid JSON that is not an object
    # WHEN it is parsed
    error = rejection(body)
    # THEN it is a 400 that asks for an object
    assert error.status == 400
    assert error.message == "Request body must be a JSON object"


@pytest.mark.parametrize("body", [None, ""], ids=["missing", "empty"])
def test_missing_or_empty_body_is_a_400(rejection, body):
    # GIVEN no body at all
    # WHEN it is parsed
    error = rejection(body)
    # THEN it is a 400
    assert error.status == 400


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'application/json; charset="utf-8"',
        "Application/JSON",
    ],
)
def test_json_content_type_is_accepted(content_type):
    # GIVEN a JSON media type, with or without the UTF-8 charset parameter
    # WHEN it is checked
    result = require_json_content_type(content_type)
    # THEN nothing is raised
    assert result is None


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("text/plain", id="text-plain"),
        pytest.param("application/jsonx", id="jsonx"),
        pytest.param("application/json-patch+json", id="json-patch"),
        pytest.param("application/x-www-form-urlencoded", id="form"),
        pytest.param("multipart/form-data; boundary=x", id="multipart"),
        pytest.param("application/json; charset=latin-1", id="other-charset"),
        pytest.param("application/json; foo=bar", id="other-parameter"),
        pytest.param("text/json", id="text-json"),
    ],
)
def test_other_content_type_is_a_415(content_type):
    # GIVEN a Content-Type that is not application/json
    # WHEN it is checked
    with pytest.raises(UnsupportedMediaType) as caught:
        require_json_content_type(content_type)
    # THEN it is a 415
    assert caught.value.status == 415
