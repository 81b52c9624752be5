"""API Gateway's own answers (gateway responses): the handler's headers, and 400s that name the field.

API Gateway answers some requests itself, before the function runs: an unknown method or path
(403), the stage throttle (429), a body over its limit (413), a body the method's model refuses
(400, BAD_REQUEST_BODY). Its defaults carry none of the handler's security headers and, for the
400, only `{"message": "Invalid request body"}`. Customized here:

- every such answer carries the handler's headers (no-store, nosniff, JSON);
- the 400 carries `errors`: one string per validator message, naming the field at fault.

The model's validator reports its messages in `$context.error.validationErrorString`, a Java
list rendered as text (`[msg1, msg2]`). Its messages do not say which field they are about, but
most carry something only one field's rule has (the regex, a length bound, the missing or unknown
property names). The mapping template is therefore generated from the request schema: it splits
the list, finds each message's field by those marks, and writes each entry JSON-escaped.

JSON-escaping in a mapping template: `$util.escapeJavaScript` escapes `'` as `\\'`, which is not
valid JSON; AWS's own reference gives the fix, `.replaceAll("\\\\'","'")`, used on every string.
tests/unit/test_gateway_responses.py renders this template with a Velocity engine and parses
the result for messages full of quotes, backslashes, control and non-ASCII characters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
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
MESSAGE_STARTS = (
    "object ",
    "instance ",
    'string "',
    "ECMA 262 regex ",
    "numeric instance ",
    "remainder of division ",
    "array ",
)
SPLIT_REGEX = ", (?=" + "|".join(MESSAGE_STARTS) + ")"
REQUIRED_MESSAGE = "object has missing required properties"
UNKNOWN_MESSAGE = "object instance has properties which are not allowed by the schema"
BODY_FIELD = "body"  # what a message is about when no field's mark is in it


def _escaped(expression: str) -> str:
    """VTL for `expression` as the inside of a JSON string (the documented single-quote fix)."""
    return f'$util.escapeJavaScript({expression}).replaceAll("\\\\\'","\'")'


def _vtl_literal(text: str) -> str:
    """A single-quoted VTL string literal: no interpolation; a quote is written twice."""
    return "'" + text.replace("'", "''") + "'"


def _patterns(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        if isinstance(schema.get("pattern"), str):
            yield schema["pattern"]
        for value in schema.values():
            yield from _patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _patterns(item)


def field_marks(schema: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """(substrings that must all be in a message, the field(s) it is about), most specific first.

    A mark several fields share (two strings' type, an equal length bound) names them all,
    joined by " or ": the validator's message cannot tell them apart.
    """
    properties: Mapping[str, Any] = schema.get("properties", {})
    specific: list[tuple[tuple[str, ...], str]] = []
    shared: dict[tuple[str, ...], list[str]] = {}
    for name, rules in properties.items():
        for pattern in _patterns(rules):
            specific.append(((f'regex "{pattern}"',), name))
            quoted = json.dumps(pattern)[1:-1]
            if quoted != pattern:  # in case the validator prints the regex JSON-escaped
                specific.append(((f'regex "{quoted}"',), name))
        if "minLength" in rules:
            shared.setdefault(("is too short", f"required minimum: {rules['minLength']})"), []).append(name)
        if "maxLength" in rules:
            shared.setdefault(("is too long", f"required maximum: {rules['maxLength']})"), []).append(name)
        kind = rules.get("type")
        if kind in ("number", "integer"):
            for start in ("numeric instance ", "remainder of division "):
                shared.setdefault((start,), []).append(name)
        if isinstance(kind, str):
            shared.setdefault((f'(allowed: ["{kind}"])',), []).append(name)
    ordered = sorted(shared.items(), key=lambda item: len(item[1]))  # one field before several
    return specific + [(mark, " or ".join(names)) for mark, names in ordered]


def bad_request_body_template(schema: Mapping[str, Any]) -> str:
    """The BAD_REQUEST_BODY mapping template: `{"message": ..., "errors": ["field: message", ...]}`."""
    lines = [
        "#set($errors = [])",
        '#set($text = "$!context.error.validationErrorString")',
        '#if($text.startsWith("[") && $text.endsWith("]"))',
        "#set($end = $text.length() - 1)",
        "#set($text = $text.substring(1, $end))",
        "#end",
        f"#foreach($entry in $text.split({_vtl_literal(SPLIT_REGEX)}))",
        f"#if($entry.startsWith({_vtl_literal(REQUIRED_MESSAGE)}) || "
        f"$entry.startsWith({_vtl_literal(UNKNOWN_MESSAGE)}))",
        f"#if($entry.startsWith({_vtl_literal(REQUIRED_MESSAGE)}))"
        '#set($says = "is required")#else#set($says = "is not a known field")#end',
        # The names are the message's JSON array: `... ([\"a\",\"b\"])` or `...: [\"a\"]`.
        "#set($names = $entry.replaceAll('^[^\\[]*\\[', '').replaceAll('\\][^\\]]*$', ''))",
        "#foreach($name in $names.split(','))",
        "#set($name = $name.replaceAll('^\"|\"$', ''))",
        '#set($ignored = $errors.add("$name: $says"))',
        "#end",
        "#elseif($entry != '')",
        f"#set($field = {_vtl_literal(BODY_FIELD)})",
    ]
    for index, (mark, field) in enumerate(field_marks(schema)):
        condition = " && ".join(f"$entry.contains({_vtl_literal(part)})" for part in mark)
        keyword = "#if" if index == 0 else "#elseif"
        lines.append(f"{keyword}({condition})#set($field = {_vtl_literal(field)})")
    if field_marks(schema):
        lines.append("#end")
    lines += [
        '#set($ignored = $errors.add("$field: $entry"))',
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


def add_gateway_responses(api: apigw.RestApi, schema: Mapping[str, Any]) -> None:
    """Customize API Gateway's own answers of `api`: the handler's headers; 400s that name the field."""
    for response_type in CUSTOMIZED:
        api.add_gateway_response(
            f"Response{response_type.response_type}",
            type=response_type,
            response_headers=_header_parameters(),
            templates={JSON_MEDIA_TYPE: DEFAULT_TEMPLATE},
        )
    api.add_gateway_response(
        "ResponseBAD_REQUEST_BODY",
        type=apigw.ResponseType.BAD_REQUEST_BODY,
        status_code="400",
        response_headers=_header_parameters(),
        templates={JSON_MEDIA_TYPE: bad_request_body_template(schema)},
    )
