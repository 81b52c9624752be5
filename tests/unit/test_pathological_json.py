"""Bodies built to break parsers: every one is a 400 with a clear message, never an exception.

Finding 5 of issue 11: 100,000 `[` used to raise RecursionError out of the handler (a 500).
"""

from __future__ import annotations

import json

import pytest
from upload_api.errors import ApiError
from upload_api.request import parse_upload

from tests.bodies import raw_price_body, valid_document


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 100_000, id="100k-open-arrays"),
        pytest.param('{"a":' * 100_000, id="100k-open-objects"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="100k-closed-arrays"),
        pytest.param('{"productName":' + "[" * 50_000 + "]" * 50_000 + "}", id="deep-field-value"),
    ],
)
def test_deeply_nested_body_is_a_400_saying_so(rejection, body):
    # GIVEN JSON nested far deeper than any parser's stack
    # WHEN it is parsed
    error = rejection(body)
    # THEN it is a 400 that says the nesting is the problem
    assert error.status == 400
    assert error.message == "Request body is nested too deeply"


def test_nesting_a_parser_can_take_is_judged_by_the_schema(rejection):
    # GIVEN a nested value (depth 200) where a string belongs
    body = json.dumps(valid_document(productName=json.loads("[" * 200 + "]" * 200)))
    # WHEN it is parsed
    error = rejection(body)
    # THEN the schema names the field
    assert error.status == 400
    assert any(entry.startswith("productName") for entry in error.errors)


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        pytest.param("1e999999", "must be at most 1000000000 (one billion)", id="1e999999"),
        pytest.param("-1e999999", "must be 0 or more", id="minus-1e999999"),
        pytest.param("9" * 5000, "must be at most 1000000000 (one billion)", id="5000-digit-integer"),
        pytest.param("1e-999999", "at most 2 decimal places", id="1e-999999"),
    ],
)
def test_huge_and_tiny_numbers_are_a_400_naming_the_broken_bound(rejection, raw, rule):
    # GIVEN a price no double can hold, or an integer longer than int() parses by default
    body = raw_price_body(valid_document(), raw)
    # WHEN it is parsed
    error = rejection(body)
    # THEN the 400 names the price and the bound it breaks (not "not valid JSON")
    assert error.status == 400
    assert error.errors == [f"price: {rule}"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param('{"productId": "p-1", "productId": "p-2"}', id="top-level"),
        pytest.param(json.dumps(valid_document())[:-1] + ', "price": 0}', id="price-twice"),
    ],
)
def test_duplicate_member_names_are_a_400(rejection, body):
    # GIVEN an object naming a member twice (a validator may keep one value, the handler another)
    # WHEN it is parsed
    error = rejection(body)
    # THEN it is refused outright
    assert error.status == 400
    assert error.message == "Request body names a field more than once"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(json.dumps(valid_document())[:-1] + ', "\\ud800": 1}', id="lone-surrogate-key"),
        pytest.param(json.dumps(valid_document(fileName="\udbff.png")), id="lone-surrogate-value"),
        pytest.param("\x00", id="nul"),
        pytest.param("\ufffe{}", id="noncharacter"),
    ],
)
def test_odd_unicode_is_a_400(rejection, body):
    # GIVEN text that is JSON-escaped nonsense or not JSON at all
    # WHEN it is parsed
    error = rejection(body)
    # THEN it is a 400, with a body that can itself be sent as UTF-8
    assert error.status == 400
    json.dumps(error.body(), ensure_ascii=False).encode("utf-8")


def test_no_pathological_body_escapes_as_an_exception_other_than_api_error():
    # GIVEN a handful of the worst bodies at once
    bodies = ["[" * 1_000_000, "{" * 10, '"' * 3, "1" * 100_000, "-", "[1e999999]"]
    # THEN each fails only with an ApiError (a 4xx), never RecursionError or ValueError
    for body in bodies:
        with pytest.raises(ApiError) as caught:
            parse_upload(body)
        assert caught.value.status == 400
