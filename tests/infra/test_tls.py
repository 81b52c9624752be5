"""TLS on the API's default endpoint: the strictest security policy a regional REST API takes.

Without `SecurityPolicy` a regional REST API accepts TLS 1.0 (API Gateway Developer Guide,
"Supported security policies": the default for regional APIs is TLS_1_0). The access log
records what each client negotiated, so tightening the policy further can be judged first.
"""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Capture

from stages.settings import API_SECURITY_POLICIES, SettingsError, load_stage_settings

from .conftest import cdk_json_setting, context_with

pytestmark = pytest.mark.synth


def _rest_api(stage):
    (api,) = stage.of_type("AWS::ApiGateway::RestApi").values()
    return api["Properties"]


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_api_accepts_only_tls_1_3_on_its_default_endpoint(synth, name):
    # GIVEN cdk.json, which leaves apiSecurityPolicy at its default
    assert cdk_json_setting(name, "apiSecurityPolicy") == "SecurityPolicy_TLS13_1_3_2025_09"
    # WHEN the stage is synthesized
    api = _rest_api(synth(name))
    # THEN the REST API takes TLS 1.3 only, on its regional endpoint, in strict endpoint access mode
    assert api["SecurityPolicy"] == "SecurityPolicy_TLS13_1_3_2025_09"
    assert api["EndpointAccessMode"] == "STRICT"
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}


def test_the_strictest_policy_is_the_default_and_first_in_the_list():
    # GIVEN the policies the setting accepts, strictest first
    # THEN TLS 1.3 only comes first, TLS 1.0 is not among them, and the default is the first
    assert API_SECURITY_POLICIES[0] == "SecurityPolicy_TLS13_1_3_2025_09"
    assert "TLS_1_0" not in API_SECURITY_POLICIES
    settings = load_stage_settings(context_with("dev")["uploadApi"], "dev")
    assert settings.api_security_policy == API_SECURITY_POLICIES[0]


def test_a_legacy_policy_has_no_endpoint_access_mode(synth):
    # GIVEN a stage that must still serve TLS 1.2 clients
    api = _rest_api(synth("dev", apiSecurityPolicy="TLS_1_2"))
    # THEN the legacy policy is set and no access mode (only enhanced policies take one)
    assert api["SecurityPolicy"] == "TLS_1_2"
    assert "EndpointAccessMode" not in api


@pytest.mark.parametrize("value", ["TLS_1_0", "tls_1_2", "SecurityPolicy_TLS13_2025_EDGE", None, 13])
def test_a_policy_a_regional_api_does_not_take_is_refused_naming_the_setting(value):
    upload_api = context_with("prod", apiSecurityPolicy=value)["uploadApi"]
    with pytest.raises(SettingsError, match=re.escape("uploadApi.stages.prod.apiSecurityPolicy")):
        load_stage_settings(upload_api, "prod")


def test_the_access_log_records_the_tls_version_and_cipher_suite(template):
    # GIVEN the stage's JSON access log format
    log_format = Capture()
    template.has_resource_properties("AWS::ApiGateway::Stage", {"AccessLogSetting": {"Format": log_format}})
    fields = json.loads(log_format.as_string())
    # THEN each line says which TLS version and cipher the client negotiated
    assert fields["tlsVersion"] == "$context.tlsVersion"
    assert fields["cipherSuite"] == "$context.cipherSuite"
