"""A Decimal price becomes a JSON number with the same digits: 29.99 stays 29.99."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from upload_api.handler import decimal_to_json_number


@pytest.mark.parametrize(
    ("price", "text"),
    [
        (Decimal("29.99"), "29.99"),
        (Decimal("0.01"), "0.01"),
        (Decimal("0.10"), "0.1"),
        (Decimal("0"), "0"),
        (Decimal("-0.0"), "0"),
        (Decimal("100"), "100"),
        (Decimal("1E+2"), "100"),
        (Decimal("29.990"), "29.99"),
        (Decimal("999999999.99"), "999999999.99"),
        (Decimal("1000000000"), "1000000000"),
        (Decimal("1000000000.00"), "1000000000"),
    ],
)
def test_price_renders_as_the_json_number_that_was_sent(price, text):
    # GIVEN a price the request parser accepted
    # WHEN it is rendered into a JSON body
    rendered = json.dumps(decimal_to_json_number(price))
    # THEN the number text is the decimal, not a binary approximation or a string
    assert rendered == text


def test_rendered_price_is_a_number_not_a_string():
    # GIVEN the contract's example price
    # WHEN it is rendered inside a body
    body = json.dumps({"price": decimal_to_json_number(Decimal("29.99"))})
    # THEN it is a bare JSON number
    assert body == '{"price": 29.99}'


@given(cents=st.integers(min_value=0, max_value=100_000_000_000))
def test_every_valid_price_round_trips_exactly(cents):
    # GIVEN any price from 0.00 to 1000000000.00 in cents
    price = Decimal(cents) / 100
    # WHEN it is rendered and read back as a decimal
    read_back = json.loads(json.dumps(decimal_to_json_number(price)), parse_float=Decimal)
    # THEN it is the same number
    assert read_back == price
