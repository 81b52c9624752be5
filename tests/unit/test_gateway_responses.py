"""API Gateway's own answers: the BAD_REQUEST_BODY mapping template emits valid JSON in plain words.

The template (stages/upload/gateway_responses.py) is rendered here by a Velocity engine with API
Gateway's `$util.escapeJavaScript` emulated (tools/dev/local/vtl.py), for validator messages full of
what breaks hand-written JSON: quotes, backslashes, control characters, non-ASCII, astral
characters, VTL and JSON syntax.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from upload_api import field_rules
from upload_api.errors import ApiError
from upload_api.request import parse_upload

from stages.upload import gateway_responses
from stages.upload.gateway_responses import (
    BODY_FAULT,
    FIELD_CHECKED_BY_HANDLER,
    SECURITY_HEADERS,
    TOO_LARGE_MESSAGE,
    bad_request_body_template,
    gateway_model,
    too_large_template,
)
from stages.upload.stack import request_schema
from tools.dev.local.gateway import BodyValidator, validation_error_string
from tools.dev.local.vtl import escape_javascript, render
from tools.pipeline_checks.verify.probes import GATEWAY_VALIDATOR_BODY, LOAD_BODY, is_gateway_validator_answer

SCHEMA = request_schema()
TEMPLATE = bad_request_body_template()
NASTY = [
    "it's",
    'say "hi"',
    "back\\slash",
    "\\'",
    "\\\\'",
    "'\\",
    "line\nbreak\r\n\ttab\b\f",
    "\x00\x01\x1f\x7f",
    "é ü 中文 \u2028 \u2029 \ufeff",
    "emoji 😀 𝄞",
    "</script><!--",
    '"]}, {"x": "',
    "$context #set($x = 1) ${y} ## comment",
    "a, b, c",
    "",
]


def rendered(validation_error: str, message: str = "Invalid request body") -> Any:
    text = render(TEMPLATE, {"error": {"message": message, "validationErrorString": validation_error}})
    return json.loads(text)  # the point: valid JSON, whatever the message


@pytest.mark.parametrize("text", NASTY)
def test_a_message_about_the_body_becomes_one_plain_entry(text):
    # GIVEN a validator message that echoes a nasty input string
    message = f'instance type (string) does not match any allowed primitive type "{text}"'
    # WHEN the template renders it, twice in one list
    document = rendered(f"[{message}, {message}]")
    # THEN the body is valid JSON with one plain entry for the body, the input never echoed
    assert document == {"message": "Invalid request body", "errors": [BODY_FAULT]}


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_any_message_renders_as_json(validation_error, message):
    # GIVEN any validator text and any message WHEN rendered THEN the result parses as JSON
    document = rendered(validation_error, message)
    # AND keeps the message exactly, with one string per entry
    assert document["message"] == message
    assert all(isinstance(error, str) for error in document["errors"])


def test_the_single_quote_fix_is_what_makes_it_json():
    # GIVEN the template without AWS's documented .replaceAll("\\'","'") after escapeJavaScript
    broken = TEMPLATE.replace(""".replaceAll("\\\\'","'")""", "")
    assert broken != TEMPLATE
    context = {"error": {"message": "it's invalid", "validationErrorString": "[it's]"}}
    # WHEN a message with a single quote is rendered THEN it is not JSON (\\' is no JSON escape)
    with pytest.raises(json.JSONDecodeError):
        json.loads(render(broken, context))
    # AND with the fix it is
    assert json.loads(render(TEMPLATE, context))["errors"] == [BODY_FAULT]


def test_one_entry_per_missing_or_unknown_property():
    # GIVEN three validator messages in one list, as API Gateway prints it
    error = (
        '[object has missing required properties (["fileName","price"]), '
        'object instance has properties which are not allowed by the schema: ["owner"], '
        'instance type (array) does not match any allowed primitive type (allowed: ["object"])]'
    )
    # WHEN rendered THEN each field has its own entry, in the handler's words
    assert rendered(error)["errors"] == [
        f"fileName: {field_rules.REQUIRED}",
        f"price: {field_rules.REQUIRED}",
        f"owner: {field_rules.UNKNOWN}",
        f"{field_rules.BODY_FIELD}: {field_rules.NOT_AN_OBJECT}",
    ]


def test_an_empty_validation_string_gives_an_empty_list():
    assert rendered("") == {"message": "Invalid request body", "errors": []}


def test_the_gateway_words_are_the_handler_s():
    # GIVEN the template's words and the handler's table THEN the same fault reads the same from either
    assert gateway_responses.REQUIRED_WORDS == field_rules.REQUIRED
    assert gateway_responses.UNKNOWN_WORDS == field_rules.UNKNOWN
    assert f"{field_rules.BODY_FIELD}: {field_rules.NOT_AN_OBJECT}" == BODY_FAULT


def test_the_model_keeps_the_top_level_and_leaves_field_rules_to_the_handler():
    # GIVEN the model derived from the one schema
    model = gateway_model(SCHEMA)
    # THEN it is the schema's top level, every property allowed by name and nothing said about its value
    assert {key: model[key] for key in ("type", "required", "additionalProperties")} == {
        "type": "object",
        "required": SCHEMA["required"],
        "additionalProperties": False,
    }
    assert model["properties"] == {
        name: {"description": FIELD_CHECKED_BY_HANDLER} for name in SCHEMA["properties"]
    }


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'"text"',
        b"{}",
        b'{"productId": 5, "price": "x", "owner": 1}',
        b'{"productId": "p", "productName": "n", "price": 1, "fileName": "../x", "fileContent": "", "a": 1}',
    ],
)
def test_what_the_model_refuses_is_said_in_plain_words(body):
    # GIVEN the validator's messages for a body the model refuses, worded as API Gateway's validator does
    messages = BodyValidator(gateway_model(SCHEMA)).messages(body)
    assert messages
    # WHEN the template renders them
    errors = rendered(validation_error_string(messages))["errors"]
    # THEN every entry is a field and the handler's plain words: no validator wording survives
    plain = {field_rules.REQUIRED, field_rules.UNKNOWN, field_rules.NOT_AN_OBJECT}
    assert errors
    assert all(error.split(": ", 1)[1] in plain for error in errors), errors


def test_the_413_names_the_limits_and_the_way_for_larger_files():
    # GIVEN the REQUEST_TOO_LARGE template WHEN rendered THEN JSON naming each limit and fileSize
    document = json.loads(render(too_large_template(), {"error": {"message": "Request Too Long"}}))
    assert document == {"message": TOO_LARGE_MESSAGE}
    for words in ("10 MiB", "6 MB", "4 MiB", "fileSize", "5 GiB"):
        assert words in TOO_LARGE_MESSAGE


@pytest.mark.parametrize(
    ("char", "escaped"),
    [
        ("'", "\\'"),
        ('"', '\\"'),
        ("\\", "\\\\"),
        ("/", "\\/"),
        ("\n", "\\n"),
        ("\t", "\\t"),
        ("\x01", "\\u0001"),
        ("\x7f", "\\u007F"),
        ("é", "\\u00E9"),
        ("\u2028", "\\u2028"),
        ("😀", "\\uD83D\\uDE00"),
        ("a", "a"),
    ],
)
def test_escape_javascript_is_commons_lang_s(char, escaped):
    # GIVEN one character WHEN escaped as API Gateway's $util.escapeJavaScript does THEN as documented
    assert escape_javascript(char) == escaped


def test_gateway_headers_are_the_handler_s():
    # GIVEN the handler's security headers WHEN compared with the gateway responses' THEN equal
    import upload_api.handler as handler

    assert SECURITY_HEADERS == handler._SECURITY_HEADERS


def test_the_handler_words_the_load_body_fault_differently():
    # GIVEN the verifier's load body, which the gateway answers with "<field>: is required" entries
    with pytest.raises(ApiError) as caught:
        parse_upload(LOAD_BODY.decode())
    # WHEN the handler refuses it instead THEN in the same words (and the file fields the gateway
    # leaves to it), under its own message: the verifier can tell
    body = caught.value.body()
    assert set(GATEWAY_VALIDATOR_BODY["errors"]) < set(body["errors"])
    assert not is_gateway_validator_answer(body)
    assert is_gateway_validator_answer(GATEWAY_VALIDATOR_BODY)
