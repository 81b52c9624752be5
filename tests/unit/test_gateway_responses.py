"""API Gateway's own answers: the BAD_REQUEST_BODY mapping template emits valid JSON naming the field.

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
from upload_api.errors import ApiError
from upload_api.request import parse_upload

from stages.upload.gateway_responses import SECURITY_HEADERS, bad_request_body_template, field_marks
from stages.upload.stack import request_schema
from tools.dev.local.vtl import escape_javascript, render
from tools.pipeline_checks.verify.probes import GATEWAY_VALIDATOR_BODY, LOAD_BODY, is_gateway_validator_answer

SCHEMA = request_schema()
TEMPLATE = bad_request_body_template(SCHEMA)
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
def test_nasty_input_strings_come_back_exactly(text):
    # GIVEN a pattern message that echoes a nasty input string (as API Gateway's validator does)
    pattern = SCHEMA["properties"]["productId"]["pattern"]
    message = f'ECMA 262 regex "{pattern}" does not match input string "{text}"'
    # WHEN the template renders it
    document = rendered(f"[{message}]")
    # THEN the body is valid JSON, with the message intact and the field named
    assert document == {"message": "Invalid request body", "errors": [f"productId: {message}"]}


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
    context = {"error": {"message": "Invalid request body", "validationErrorString": "[it's]"}}
    # WHEN a message with a single quote is rendered THEN it is not JSON (\\' is no JSON escape)
    with pytest.raises(json.JSONDecodeError):
        json.loads(render(broken, context))
    # AND with the fix it is
    assert json.loads(render(TEMPLATE, context))["errors"] == ["body: it's"]


def test_one_entry_per_message_and_per_missing_or_unknown_property():
    # GIVEN three validator messages in one list, as API Gateway prints it
    error = (
        '[object has missing required properties (["fileName","price"]), '
        'object instance has properties which are not allowed by the schema: ["owner"], '
        "numeric instance is lower than the required minimum (minimum: 0, found: -1)]"
    )
    # WHEN rendered THEN each field has its own entry
    assert rendered(error)["errors"] == [
        "fileName: is required",
        "price: is required",
        "owner: is not a known field",
        "price: numeric instance is lower than the required minimum (minimum: 0, found: -1)",
    ]


def test_an_empty_validation_string_gives_an_empty_list():
    assert rendered("") == {"message": "Invalid request body", "errors": []}


def test_every_pattern_names_its_own_field():
    # GIVEN each property's pattern WHEN its message is rendered THEN exactly that field is named
    for name, rules in SCHEMA["properties"].items():
        if "pattern" in rules:
            message = f'ECMA 262 regex "{rules["pattern"]}" does not match input string "x"'
            assert rendered(f"[{message}]")["errors"] == [f"{name}: {message}"]


def test_shared_marks_name_every_field_that_has_them():
    # GIVEN the marks generated from the schema WHEN one is shared (a type, an equal bound)
    marks = dict(field_marks(SCHEMA))
    # THEN it names each of its fields, never fewer
    assert marks[('(allowed: ["number"])',)] == "price"
    strings = [name for name, rules in SCHEMA["properties"].items() if rules.get("type") == "string"]
    assert marks[('(allowed: ["string"])',)].split(" or ") == strings


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
    # WHEN the handler refuses it instead THEN its body is not the gateway's: the verifier can tell
    body = caught.value.body()
    assert not is_gateway_validator_answer(body)
    assert is_gateway_validator_answer(GATEWAY_VALIDATOR_BODY)
