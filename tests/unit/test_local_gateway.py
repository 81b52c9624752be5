"""The local gateway: what the request model enforces is refused before the handler, naming the field.

The gateway here is built as `make local` builds it, with the stack's model, BAD_REQUEST_BODY and
REQUEST_TOO_LARGE templates and headers (stages/upload/gateway_responses.py) but without a synth,
and a handler that fails the test if it is ever called: a refusal must never reach the function.
Every other field rule is the handler's (tests/unit/test_plain_messages.py): such bodies pass.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from upload_api import field_rules

from stages.upload.gateway_responses import (
    JSON_MEDIA_TYPE,
    SECURITY_HEADERS,
    TOO_LARGE_MESSAGE,
    bad_request_body_template,
    gateway_model,
    too_large_template,
)
from stages.upload.stack import request_schema
from tests.bad_inputs import BAD_INPUTS
from tests.bodies import valid_document
from tools.dev.local.gateway import (
    MAX_PAYLOAD_BYTES,
    FunctionInfo,
    GatewayRequest,
    LocalGateway,
    ResponseSpec,
    TokenBucket,
)

SCHEMA = gateway_model(request_schema())  # the stack's model, as make local reads it from the template
HEADERS = {**SECURITY_HEADERS, "Content-Type": JSON_MEDIA_TYPE}
RESPONSES = {
    "DEFAULT_4XX": ResponseSpec(None, HEADERS, '{"message":$context.error.messageString}'),
    "DEFAULT_5XX": ResponseSpec(None, HEADERS, '{"message":$context.error.messageString}'),
    "BAD_REQUEST_BODY": ResponseSpec(400, HEADERS, bad_request_body_template()),
    "REQUEST_TOO_LARGE": ResponseSpec(None, HEADERS, too_large_template()),
}
REMOVE = object()

# (case, field at fault, change to a valid body): every rule the model enforces.
RULES: list[tuple[str, str, dict[str, Any]]] = [
    ("productId-missing", "productId", {"productId": REMOVE}),
    ("productName-missing", "productName", {"productName": REMOVE}),
    ("price-missing", "price", {"price": REMOVE}),
    ("fileName-missing", "fileName", {"fileName": REMOVE}),
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


@pytest.mark.parametrize(("case", "field", "change"), RULES, ids=[rule[0] for rule in RULES])
def test_every_model_rule_is_a_400_naming_the_field_in_plain_words(case, field, change):
    # GIVEN a valid body broken in one rule the model enforces
    body = body_with(change)
    # WHEN it reaches the local gateway
    response = post(gateway(), body)
    # THEN API Gateway's 400, before the handler, with an entry naming that field alone, plainly
    assert response.status == 400, case
    document = json.loads(response.body)
    assert document["message"] == "Invalid request body"
    says = field_rules.UNKNOWN if field == "owner" else field_rules.REQUIRED
    assert document["errors"] == [f"{field}: {says}"]
    assert dict(response.headers)["Cache-Control"] == "no-store"
    assert dict(response.headers)["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("body", [b"{", b"[]", b"null", b'"text"', b"\xff"])
def test_a_body_that_is_no_json_object_is_refused_by_the_model(body):
    # GIVEN a body that is not JSON, or JSON but not an object WHEN it reaches the gateway
    response = post(gateway(), body)
    # THEN one plain entry about the body
    assert (response.status, json.loads(response.body)["errors"]) == (400, ["body: must be a JSON object"])


FIELD_RULES = [case for case in BAD_INPUTS if case.at_gateway is False]


@pytest.mark.parametrize("case", FIELD_RULES, ids=[case.name for case in FIELD_RULES])
def test_field_rules_pass_the_model_to_the_handler(case):
    # GIVEN a body whose fields are all there, but one breaks a rule of its own
    seen: list[dict[str, Any]] = []

    def handler(event: Any, context: Any) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 400, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    gw = LocalGateway("dev", handler, FunctionInfo("test"), SCHEMA, responses=RESPONSES)
    # WHEN it reaches the local gateway THEN the handler judges it (and words it plainly)
    post(gw, case.body())
    assert len(seen) == 1, case.name


@pytest.mark.parametrize(
    "change",
    [
        {"fileContent": REMOVE, "checksumSha256": REMOVE},
        {"fileSize": 3},
        {"fileContent": REMOVE, "fileSize": 3},
    ],
    ids=["neither-file-field", "both-file-fields", "direct-upload"],
)
def test_which_file_field_is_sent_is_the_handler_s_to_judge(change):
    # GIVEN a body with fileContent, fileSize, both or neither: exactly one is a rule the model
    # cannot word plainly, so it is not the model's
    seen: list[dict[str, Any]] = []

    def handler(event: Any, context: Any) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 400, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    gw = LocalGateway("dev", handler, FunctionInfo("test"), SCHEMA, responses=RESPONSES)
    # WHEN it reaches the local gateway THEN the handler judges it
    post(gw, body_with(change))
    assert len(seen) == 1


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
        ("over 10 MiB", {"body": b"x" * (MAX_PAYLOAD_BYTES + 1)}, 413, TOO_LARGE_MESSAGE),
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
