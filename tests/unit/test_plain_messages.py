"""Every bad input of the table (tests/bad_inputs.py) gets the exact field and plain words from the handler.

Contract v3: a message says in plain words what the field must be: never a regular expression,
validator wording or a list of candidate fields. The same table runs over HTTP in tests/e2e.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from upload_api.errors import ApiError
from upload_api.request import parse_upload

from tests.bad_inputs import BAD_INPUTS, TOO_LARGE, BadInput, plainness_faults
from tests.bodies import valid_document


def refused(body: bytes) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_upload(body.decode("utf-8", "surrogatepass"))
    return caught.value


def test_the_table_covers_what_the_issue_names():
    # GIVEN the table WHEN counted THEN at least the 37 inputs of the report, every field among them
    assert len(BAD_INPUTS) + len(TOO_LARGE) >= 37
    assert len({case.name for case in BAD_INPUTS}) == len(BAD_INPUTS)
    named = {case.field for case in BAD_INPUTS}
    assert {
        "productId",
        "productName",
        "price",
        "fileName",
        "contentType",
        "fileContent",
        "checksumSha256",
    } <= named


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.name for case in BAD_INPUTS])
def test_each_bad_input_gets_its_field_and_plain_words(case: BadInput):
    # GIVEN a bad body WHEN the handler parses it
    error = refused(case.body())
    # THEN a 400 whose only entry is the table's, exactly, and plain
    assert error.status == case.status
    assert error.errors == [case.error]
    assert plainness_faults(case.error) == []


@pytest.mark.parametrize("case", TOO_LARGE, ids=[case.name for case in TOO_LARGE])
def test_a_file_over_the_inline_cap_gets_the_limit_and_the_way_for_larger_files(case: BadInput):
    # GIVEN a file over 4 MiB inline WHEN the handler parses it
    error = refused(case.body())
    # THEN 413 naming the limit in bytes and fileSize, the way to send a larger file
    assert error.status == 413
    for words in ("4 MiB", "4,194,304 bytes", "fileSize", "5 GiB"):
        assert words in error.message
    assert error.errors == ["fileContent: must decode to at most 4 MiB (4,194,304 bytes)"]


def test_several_missing_and_unknown_fields_are_each_named():
    # GIVEN a body missing two fields and carrying two unknown ones
    document = valid_document(owner="me", extra=1)
    del document["price"], document["fileName"]
    # WHEN parsed THEN one entry each, missing first, each sorted: as API Gateway's model lists them
    assert refused(json.dumps(document).encode()).errors == [
        "fileName: is required",
        "price: is required",
        "extra: is not a known field",
        "owner: is not a known field",
    ]


# Any value of any type in any field: whatever is refused is refused in plain words.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=5,
)
FIELD_NAMES = st.sampled_from(
    ["productId", "productName", "price", "fileName", "contentType", "checksumSha256"]
)


@settings(max_examples=400, deadline=None)
@given(FIELD_NAMES, JSON_VALUES | st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_any_value_in_any_field_is_refused_in_plain_words(field_name, value):
    # GIVEN a valid body with one field set to anything
    body = json.dumps(valid_document(**{field_name: value}))
    # WHEN parsed
    error = refusal_or_none(body)
    # THEN if refused, a 400 naming that field alone, in plain words
    if error is not None:
        assert error.status == 400
        assert [entry.split(": ", 1)[0] for entry in error.errors] == [field_name], error.errors
        assert all(plainness_faults(entry) == [] for entry in error.errors), error.errors


def refusal_or_none(body: str) -> ApiError | None:
    try:
        parse_upload(body)
    except ApiError as error:
        return error
    return None
