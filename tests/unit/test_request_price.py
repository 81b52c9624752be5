"""price: a JSON number, 0..1e9, at most 2 decimals, kept exactly as sent (a Decimal, never a float)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from upload_api.request import parse_upload

from tests.bodies import raw_price_body


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("0", Decimal(0), id="zero"),
        pytest.param("0.01", Decimal("0.01"), id="one-cent"),
        pytest.param("29.99", Decimal("29.99"), id="two-decimals"),
        pytest.param("999999999.99", Decimal("999999999.99"), id="largest-fraction"),
        pytest.param("1000000000", Decimal(1000000000), id="maximum"),
        pytest.param("1000000000.00", Decimal(1000000000), id="maximum-with-zeros"),
        pytest.param("1E+2", Decimal(100), id="exponent"),
        pytest.param("2.5e1", Decimal(25), id="fraction-exponent"),
        pytest.param("29.990", Decimal("29.99"), id="trailing-zero"),
        pytest.param("-0", Decimal(0), id="negative-zero"),
    ],
)
def test_price_within_rules_is_accepted_with_its_exact_value(document, raw, expected):
    # GIVEN a body whose price is written as `raw`
    body = raw_price_body(document, raw)
    # WHEN the body is parsed
    request = parse_upload(body)
    # THEN the price is a Decimal equal to what was written
    assert isinstance(request.price, Decimal)
    assert request.price == expected


def test_price_keeps_the_digits_that_were_sent(document):
    # GIVEN the contract's example price 29.99, which no binary float holds exactly
    body = raw_price_body(document, "29.99")
    # WHEN the body is parsed
    request = parse_upload(body)
    # THEN the stored value is the decimal 29.99, digit for digit, not 29.989999...
    assert request.price.as_tuple() == Decimal("29.99").as_tuple()
    assert str(request.price) == "29.99"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("1000000000.01", id="over-maximum"),
        pytest.param("1e10", id="far-over-maximum"),
        pytest.param("-0.01", id="negative"),
        pytest.param("29.999", id="three-decimals"),
        pytest.param("0.001", id="tenth-of-a-cent"),
        pytest.param("29.9900000000000001", id="beyond-double-precision"),
        pytest.param("1e-400", id="underflows-a-double"),
        pytest.param("1e400", id="overflows-a-double"),
        pytest.param('"29.99"', id="string"),
        pytest.param("true", id="boolean"),
        pytest.param("null", id="null"),
        pytest.param("[29.99]", id="array"),
        pytest.param('{"amount": 29.99}', id="object"),
    ],
)
def test_price_breaking_a_rule_is_a_400_naming_the_field(document, rejection, raw):
    # GIVEN a price out of range, too precise, or not a JSON number
    body = raw_price_body(document, raw)
    # WHEN the body is parsed
    error = rejection(body)
    # THEN it is a 400 whose errors name price
    assert error.status == 400
    assert any(entry.startswith("price") for entry in error.errors)


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity"])
def test_price_written_as_a_non_json_literal_is_invalid_json(document, rejection, raw):
    # GIVEN NaN or Infinity, which Python's json accepts but JSON does not
    body = raw_price_body(document, raw)
    # WHEN the body is parsed
    error = rejection(body)
    # THEN it is a 400 for invalid JSON, not a price that slipped through
    assert error.status == 400
    assert error.message == "Request body is not valid JSON"
