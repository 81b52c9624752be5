"""The local gateway: every rule the request model enforces is refused before the handler, naming the field.

The gateway here is built as `make local` builds it, with the stack's BAD_REQUEST_BODY template
and headers (stages/upload/gateway_responses.py) but without a synth, and a handler that fails the test
if it is ever called: a refusal must never reach the function.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stages.upload.gateway_responses import JSON_MEDIA_TYPE, SECURITY_HEADERS, bad_request_body_template
from stages.upload.stack import request_schema
from tests.bodies import valid_document
from tools.dev.local.gateway import (
    MAX_PAYLOAD_BYTES,
    FunctionInfo,
    GatewayRequest,
    LocalGateway,
    ResponseSpec,
    TokenBucket,
)

SCHEMA = request_schema()
HEADERS = {**SECURITY_HEADERS, "Content-Type": JSON_MEDIA_TYPE}
RESPONSES = {
    "DEFAULT_4XX": ResponseSpec(None, HEADERS, '{"message":$context.error.messageString}'),
    "DEFAULT_5XX": ResponseSpec(None, HEADERS, '{"message":$context.error.messageString}'),
    "BAD_REQUEST_BODY": ResponseSpec(400, HEADERS, bad_request_body_template(SCHEMA)),
}
REMOVE = object()

# (case, field at fault, change to a valid body): every rule of the contract the model enforces.
RULES: list[tuple[str, str, dict[str, Any]]] = [
    ("productId-missing", "productId", {"productId": REMOVE}),
    ("productId-empty", "productId", {"productId": ""}),
    ("productId-129-chars", "productId", {"productId": "p" * 129}),
    ("productId-slash", "productId", {"productId": "p/1"}),
    ("productId-leading-dot", "productId", {"productId": ".p"}),
    ("productId-not-a-string", "productId", {"productId": 5}),
    ("productName-missing", "productName", {"productName": REMOVE}),
    ("productName-empty", "productName", {"productName": ""}),
    ("productName-257-chars", "productName", {"productName": "n" * 257}),
    ("productName-control-char", "productName", {"productName": "lamp\x07"}),
    ("productName-not-a-string", "productName", {"productName": ["lamp"]}),
    ("price-missing", "price", {"price": REMOVE}),
    ("price-as-string", "price", {"price": "29.99"}),
    ("price-negative", "price", {"price": -0.01}),
    ("price-over-max", "price", {"price": 1000000000.01}),
    ("price-three-decimals", "price", {"price": 29.999}),
    ("price-null", "price", {"price": None}),
    ("fileName-missing", "fileName", {"fileName": REMOVE}),
    ("fileName-empty", "fileName", {"fileName": ""}),
    ("fileName-256-chars", "fileName", {"fileName": "f" * 256}),
    ("fileName-slash", "fileName", {"fileName": "a/b.png"}),
    ("fileName-backslash", "fileName", {"fileName": "a\\b.png"}),
    ("fileName-dot", "fileName", {"fileName": "."}),
    ("fileName-dot-dot", "fileName", {"fileName": ".."}),
    ("fileName-control-char", "fileName", {"fileName": "a\nb"}),
    ("contentType-not-a-mime-type", "contentType", {"contentType": "png"}),
    ("contentType-256-chars", "contentType", {"contentType": "a/" + "b" * 254}),
    ("contentType-not-a-string", "contentType", {"contentType": 1}),
    ("fileContent-missing", "fileContent", {"fileContent": REMOVE, "checksumSha256": REMOVE}),
    ("fileContent-empty", "fileContent", {"fileContent": "", "checksumSha256": REMOVE}),
    ("fileContent-not-a-string", "fileContent", {"fileContent": 1234, "checksumSha256": REMOVE}),
    ("checksumSha256-not-base64-sha256", "checksumSha256", {"checksumSha256": "abc"}),
    ("unknown-field", "owner", {"owner": "someone-else"}),
]


def never_called(event: Any, context: Any) -> dict[str, Any]:
    raise AssertionError("the handler ran for a request the gateway must refuse")


def gateway(**options: Any) -> LocalGateway:
    return LocalGateway("dev", never_called, FunctionInfo("test"), SCHEMA, responses=RESPONSES, **options)


def post(gw: LocalGateway, body: bytes, path: str = "/dev/upload", method: str = "POST") -> Any:
    request = GatewayRequest(method, path, [("Content-Type", "application/json")], body, "127.0.0.1")
    return gw.handle(request)


def body_with(change: dict[str, Any]) -> bytes:
    document = valid_document()
    for name, value in change.items():
        if value is REMOVE:
            document.pop(name, None)
        else:
            document[name] = value
    return json.dumps(document).encode()


def fields_named(error: str) -> list[str]:
    """The fields an entry names: "a: ..." or, where the validator cannot tell, "a or b: ..."."""
    return error.split(": ", 1)[0].split(" or ")


@pytest.mark.parametrize(("case", "field", "change"), RULES, ids=[rule[0] for rule in RULES])
def test_every_rule_is_a_400_naming_the_field(case, field, change):
    # GIVEN a valid body broken in one rule
    body = body_with(change)
    # WHEN it reaches the local gateway
    response = post(gateway(), body)
    # THEN API Gateway's 400, before the handler, with an errors entry naming the field
    assert response.status == 400, case
    document = json.loads(response.body)
    assert document["message"] == "Invalid request body"
    assert any(field in fields_named(error) for error in document["errors"]), document
    assert dict(response.headers)["Cache-Control"] == "no-store"
    assert dict(response.headers)["X-Content-Type-Options"] == "nosniff"


# API Gateway's validator does not say which field a message is about; its message for these
# carries nothing only one field has: a wrong type (every string field shares "string"), and the
# 255-character bound that fileName and contentType share. Their entries name every candidate.
AMBIGUOUS = {case for case, _, _ in RULES if case.endswith("-not-a-string")} | {
    "fileName-256-chars",
    "contentType-256-chars",
}
SPECIFIC = [rule for rule in RULES if rule[0] not in AMBIGUOUS]


@pytest.mark.parametrize(("case", "field", "change"), SPECIFIC, ids=[rule[0] for rule in SPECIFIC])
def test_rules_with_a_mark_of_their_own_name_only_that_field(case, field, change):
    # GIVEN a rule whose validator message carries something only that field has (not a bare type)
    response = post(gateway(), body_with(change))
    # WHEN the 400's entries are read THEN one of them names that field alone
    assert [field] in [fields_named(error) for error in json.loads(response.body)["errors"]], case


def test_a_valid_body_reaches_the_handler():
    # GIVEN a handler that answers 201
    def created(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    gw = LocalGateway("dev", created, FunctionInfo("test"), SCHEMA, responses=RESPONSES)
    # WHEN a valid body is posted THEN the function ran and its answer is the response
    assert post(gw, body_with({})).status == 201


@pytest.mark.parametrize(
    ("label", "kwargs", "status", "message"),
    [
        ("unknown path", {"path": "/dev/other"}, 403, "Missing Authentication Token"),
        ("other method", {"method": "GET"}, 403, "Missing Authentication Token"),
        ("over 10 MiB", {"body": b"x" * (MAX_PAYLOAD_BYTES + 1)}, 413, "Request Too Long"),
    ],
)
def test_gateway_answers_carry_the_handler_s_headers(label, kwargs, status, message):
    # GIVEN a request API Gateway refuses itself
    body = kwargs.pop("body", b"{}")
    # WHEN it arrives
    response = post(gateway(), body, **kwargs)
    # THEN its answer, JSON, with no-store and nosniff, without the handler
    assert (response.status, json.loads(response.body)) == (status, {"message": message}), label
    headers = dict(response.headers)
    assert {name: headers[name] for name in HEADERS} == HEADERS


def test_throttled_requests_get_429_without_the_handler():
    # GIVEN a stage with a burst of 1 and no refill
    gw = gateway(throttle=TokenBucket(rate=0, burst=1))
    # WHEN two bodies arrive THEN the first is judged by the model, the second throttled
    assert post(gw, b"{}").status == 400
    second = post(gw, b"{}")
    assert (second.status, json.loads(second.body)) == (429, {"message": "Too Many Requests"})
    assert dict(second.headers)["Cache-Control"] == "no-store"


def test_a_repeated_body_is_judged_once():
    # GIVEN the gateway WHEN one small refused body arrives twice THEN the verdict is reused (a flood)
    gw = gateway()
    first, second = post(gw, b'{"productId":"x"}'), post(gw, b'{"productId":"x"}')
    assert first.body == second.body
    assert gw._model_verdict.cache_info().hits == 1
