"""API Gateway's own answers in the template: the handler's headers, and the 400 that names the field."""

from __future__ import annotations

import json

import pytest

from stages.upload.gateway_responses import SECURITY_HEADERS, TOO_LARGE_MESSAGE, bad_request_body_template
from tools.dev.local.aws import UploadTemplate
from tools.dev.local.vtl import render

pytestmark = pytest.mark.synth

# The answers API Gateway gives itself for this API (a proxy integration: 415 comes from the
# function, the UNSUPPORTED_MEDIA_TYPE response only covers content handling, kept in line anyway).
EXPECTED_TYPES = {
    "DEFAULT_4XX",
    "DEFAULT_5XX",
    "MISSING_AUTHENTICATION_TOKEN",
    "ACCESS_DENIED",
    "THROTTLED",
    "REQUEST_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "BAD_REQUEST_BODY",
}


def gateway_responses(dev) -> dict[str, dict]:
    return {
        resource["Properties"]["ResponseType"]: resource["Properties"]
        for resource in dev.of_type("AWS::ApiGateway::GatewayResponse").values()
    }


def test_every_gateway_answer_carries_the_handler_s_headers(dev):
    # GIVEN the dev stack WHEN its gateway responses are read
    responses = gateway_responses(dev)
    # THEN each customized type sends no-store, nosniff and JSON, as the handler does
    assert set(responses) == EXPECTED_TYPES
    expected = {f"gatewayresponse.header.{k}": f"'{v}'" for k, v in SECURITY_HEADERS.items()}
    expected["gatewayresponse.header.Content-Type"] = "'application/json'"
    for response_type, props in responses.items():
        assert props["ResponseParameters"] == expected, response_type
        assert set(props["ResponseTemplates"]) == {"application/json"}, response_type


def test_bad_request_body_template_is_the_plain_words_one(dev):
    # GIVEN the BAD_REQUEST_BODY response in the template
    props = gateway_responses(dev)["BAD_REQUEST_BODY"]
    # THEN it is a 400 whose template is the one that words the model's faults plainly
    assert props["StatusCode"] == "400"
    assert props["ResponseTemplates"]["application/json"] == bad_request_body_template()


def test_the_413_names_the_limits(dev):
    # GIVEN the REQUEST_TOO_LARGE response in the template WHEN rendered as API Gateway would
    props = gateway_responses(dev)["REQUEST_TOO_LARGE"]
    body = render(props["ResponseTemplates"]["application/json"], {"error": {"message": "Request Too Long"}})
    # THEN the limits and the way to send a larger file, not API Gateway's "Request Too Long"
    assert json.loads(body) == {"message": TOO_LARGE_MESSAGE}


def test_local_mode_reads_the_same_gateway_responses(dev):
    # GIVEN the template as local mode reads it (tools/dev/local/aws.py)
    responses = UploadTemplate(dev.template.to_json()).gateway_responses
    # WHEN the THROTTLED and BAD_REQUEST_BODY answers are rendered
    throttled = render(
        responses["THROTTLED"]["template"],
        {"error": {"messageString": json.dumps("Too Many Requests")}},
    )
    refused = render(
        responses["BAD_REQUEST_BODY"]["template"],
        {
            "error": {
                "message": "Invalid request body",
                "validationErrorString": '[object has missing required properties (["price"])]',
            }
        },
    )
    # THEN they are the contract's bodies, with the handler's headers
    assert json.loads(throttled) == {"message": "Too Many Requests"}
    assert json.loads(refused) == {"message": "Invalid request body", "errors": ["price: is required"]}
    assert responses["THROTTLED"]["headers"]["Cache-Control"] == "no-store"


def test_the_deployment_waits_for_the_gateway_responses(dev):
    # GIVEN the stage's deployment: gateway responses only take effect in a deployment made after them
    (deployment_id,) = dev.of_type("AWS::ApiGateway::Deployment")
    depends_on = set(dev.resources[deployment_id].get("DependsOn", []))
    # THEN it depends on every one (aws/aws-cdk#10963: once, a change did not redeploy)
    assert set(dev.of_type("AWS::ApiGateway::GatewayResponse")) <= depends_on
