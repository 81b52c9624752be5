"""API Gateway's own answers (gateway responses) and the model it checks bodies with.

API Gateway answers some requests itself, before the function runs: an unknown method or path
(403), the stage throttle (429), a body over its limit (413), a body the method's model refuses
(400, BAD_REQUEST_BODY). Its defaults carry none of the handler's security headers, only
`{"message": "Invalid request body"}` for the 400 and `Request Too Long` for the 413. Customized here:

- every such answer carries the handler's headers (no-store, nosniff, JSON);
- the 413 names the limits, and the way to send a larger file (`fileSize`);
- the 400 carries `errors`: one plain-words string per fault, naming the field.

The model is `gateway_model(schema)`: the request schema's top level only (an object, the
required fields, no others). API Gateway's validator words every other rule as a regular
expression or validator jargon and does not say which field it is about, so those rules are
left to the handler, which checks the whole schema and says each fault in plain words
(lambda/upload_api/field_rules.py). What the model keeps, its validator says in a form the
BAD_REQUEST_BODY template turns into plain words: the missing and unknown names it lists, and
`body: must be a JSON object` for anything else (not JSON, not an object).

The validator reports its messages in `$context.error.validationErrorString`, a Java list
rendered as text (`[msg1, msg2]`). JSON-escaping in a mapping template: `$util.escapeJavaScript`
escapes `'` as `\\'`, which is not valid JSON; AWS's own reference gives the fix,
`.replaceAll("\\\\'","'")`, used on every string. tests/unit/test_gateway_responses.py renders
this template with a Velocity engine and parses the result for messages full of quotes,
backslashes, control and non-ASCII characters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_cdk import aws_apigateway as apigw

# The handler's own (lambda/upload_api/handler.py); a test keeps the two equal.
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
JSON_MEDIA_TYPE = "application/json"
# API Gateway's default body for its answers; $context.error.messageString is already quoted.
DEFAULT_TEMPLATE = '{"message":$context.error.messageString}'
# The answers API Gateway gives itself for this API; the DEFAULT_* two cover every other type.
CUSTOMIZED = (
    apigw.ResponseType.DEFAULT_4_XX,
    apigw.ResponseType.DEFAULT_5_XX,
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
    apigw.ResponseType.ACCESS_DENIED,
    apigw.ResponseType.THROTTLED,
    apigw.ResponseType.REQUEST_TOO_LARGE,
    apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE,
)
# Where one message of the validator list starts (the validator's message texts, see
# tools/dev/local/gateway.py for each keyword's): the list is split before each.
MESSAGE_STARTS = ("object ", "instance ")
SPLIT_REGEX = ", (?=" + "|".join(MESSAGE_STARTS) + ")"
REQUIRED_MESSAGE = "object has missing required properties"
UNKNOWN_MESSAGE = "object instance has properties which are not allowed by the schema"
# The handler's words for the same faults (lambda/upload_api/field_rules.py); a test keeps them equal.
REQUIRED_WORDS = "is required"
UNKNOWN_WORDS = "is not a known field"
BODY_FAULT = "body: must be a JSON object"
FIELD_CHECKED_BY_HANDLER = "Checked by the function against lambda/upload_api/request_schema.json."
# The schema keywords the model keeps: those of the body as a whole.
MODEL_KEYWORDS = ("$schema", "title", "description", "type", "additionalProperties", "required")
# The 413: API Gateway's 10 MiB, Lambda's 6 MB event (local mode answers it the same way), the
# inline file's 4 MiB, and what to send instead. Static text: no VTL or JSON syntax to escape.
TOO_LARGE_MESSAGE = (
    "Request body too large: API Gateway accepts at most 10 MiB (10,485,760 bytes) and the function "
    "at most 6 MB (6,291,456 bytes) of request, and a file sent inline in fileContent may be at most "
    "4 MiB (4,194,304 bytes). Send a larger file, up to 5 GiB, with fileSize instead of fileContent: "
    "the answer carries a URL to upload it to S3 directly."
)


def gateway_model(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The method model: `schema`'s top level; each property allowed by name, its rules the handler's."""
    model = {key: schema[key] for key in MODEL_KEYWORDS if key in schema}
    # Not `{}`: CDK drops empty objects from a template, and with no properties left every field
    # would be unknown. A description constrains nothing.
    model["properties"] = {
        name: {"description": FIELD_CHECKED_BY_HANDLER} for name in schema.get("properties", {})
    }
    return model


def _escaped(expression: str) -> str:
    """VTL for `expression` as the inside of a JSON string (the documented single-quote fix)."""
    return f'$util.escapeJavaScript({expression}).replaceAll("\\\\\'","\'")'


def _vtl_literal(text: str) -> str:
    """A single-quoted VTL string literal: no interpolation; a quote is written twice."""
    return "'" + text.replace("'", "''") + "'"


def bad_request_body_template() -> str:
    """The BAD_REQUEST_BODY mapping template: `{"message": ..., "errors": ["field: plain words", ...]}`."""
    lines = [
        "#set($errors = [])",
        "#set($bodyNamed = false)",
        '#set($text = "$!context.error.validationErrorString")',
        '#if($text.startsWith("[") && $text.endsWith("]"))',
        "#set($end = $text.length() - 1)",
        "#set($text = $text.substring(1, $end))",
        "#end",
        f"#foreach($entry in $text.split({_vtl_literal(SPLIT_REGEX)}))",
        f"#if($entry.startsWith({_vtl_literal(REQUIRED_MESSAGE)}) || "
        f"$entry.startsWith({_vtl_literal(UNKNOWN_MESSAGE)}))",
        f"#if($entry.startsWith({_vtl_literal(REQUIRED_MESSAGE)}))"
        f"#set($says = {_vtl_literal(REQUIRED_WORDS)})#else#set($says = {_vtl_literal(UNKNOWN_WORDS)})#end",
        # The names are the message's JSON array: `... ([\"a\",\"b\"])` or `...: [\"a\"]`.
        "#set($names = $entry.replaceAll('^[^\\[]*\\[', '').replaceAll('\\][^\\]]*$', ''))",
        "#foreach($name in $names.split(','))",
        "#set($name = $name.replaceAll('^\"|\"$', ''))",
        '#set($ignored = $errors.add("$name: $says"))',
        "#end",
        # Any other message is about the body as a whole: the model has no other rule.
        "#elseif($entry != '' && !$bodyNamed)",
        "#set($bodyNamed = true)",
        f"#set($ignored = $errors.add({_vtl_literal(BODY_FAULT)}))",
        "#end",
        "#end",
        '{"message":"' + _escaped("$context.error.message") + '","errors":['
        '#foreach($error in $errors)"' + _escaped("$error") + '"#if($foreach.hasNext),#end#end]}',
    ]
    return "\n".join(lines)


def _header_parameters() -> dict[str, str]:
    """Gateway response headers are static values: quoted, as API Gateway wants them."""
    headers = {**SECURITY_HEADERS, "Content-Type": JSON_MEDIA_TYPE}
    return {name: f"'{value}'" for name, value in headers.items()}


def add_gateway_responses(api: apigw.RestApi) -> None:
    """Customize API Gateway's own answers of `api`: the handler's headers; 400s and 413s in plain words."""
    for response_type in CUSTOMIZED:
        api.add_gateway_response(
            f"Response{response_type.response_type}",
            type=response_type,
            response_headers=_header_parameters(),
            templates={JSON_MEDIA_TYPE: _template_of(response_type)},
        )
    api.add_gateway_response(
        "ResponseBAD_REQUEST_BODY",
        type=apigw.ResponseType.BAD_REQUEST_BODY,
        status_code="400",
        response_headers=_header_parameters(),
        templates={JSON_MEDIA_TYPE: bad_request_body_template()},
    )


def _template_of(response_type: apigw.ResponseType) -> str:
    too_large = response_type.response_type == apigw.ResponseType.REQUEST_TOO_LARGE.response_type
    return too_large_template() if too_large else DEFAULT_TEMPLATE


def too_large_template() -> str:
    """The REQUEST_TOO_LARGE template: a fixed JSON body naming the limits."""
    return json.dumps({"message": TOO_LARGE_MESSAGE}, separators=(",", ":"))
