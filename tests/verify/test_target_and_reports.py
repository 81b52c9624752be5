"""Where the verifier points, what limits it expects, how it signs, and what its reports say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import boto3
import httpx
import pytest
from botocore.credentials import Credentials
from botocore.stub import Stubber

from tests.local_server import REPO_ROOT
from tools.common.sigv4 import CachedSigner, SigV4, region_of
from tools.pipeline_checks.verify.model import CheckResult, Status
from tools.pipeline_checks.verify.report import Run, json_report, junit_xml, table
from tools.pipeline_checks.verify.target import (
    SetupError,
    Target,
    cdk_json_limits,
    read_stage_throttling,
    resolve_limits,
    target_from_env,
    target_from_outputs,
)

API_URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod/"
DEPLOYED = Target("Dev-UploadApi", API_URL, f"{API_URL}upload", {"ApiUrl": API_URL})
LOCAL = Target(
    "Dev-UploadApi",
    "http://127.0.0.1:3000/dev/",
    "http://127.0.0.1:3000/dev/upload",
    {"AwsEndpointUrl": "http://127.0.0.1:4000"},
)
CREDENTIALS = Credentials("AKIDEXAMPLE", "not-a-secret", "token")


# -- target ---------------------------------------------------------------------------------------


def test_the_pipeline_environment_names_the_target():
    # GIVEN what the verify step exports from the stack outputs
    environ = {"API_URL": API_URL, "UPLOAD_ENDPOINT": f"{API_URL}upload", "STACK_NAME": "Prod-UploadApi"}
    # WHEN the target is read from it
    target = target_from_env(environ)
    # THEN it is the deployed stage: not local, its REST API id, stage and region known
    assert (target.stack_name, target.upload_endpoint) == ("Prod-UploadApi", f"{API_URL}upload")
    assert not target.local
    assert (target.rest_api_id, target.stage_name, region_of(target.api_url)) == (
        "a1b2c3d4e5",
        "prod",
        "eu-west-1",
    )


def test_no_target_is_a_setup_error():
    # GIVEN neither an outputs file nor API_URL
    # WHEN the target is read THEN the error says what to pass
    with pytest.raises(SetupError, match="--outputs"):
        target_from_env({})


def test_an_outputs_file_with_two_stacks_needs_a_name(tmp_path):
    # GIVEN an outputs file with two upload stacks
    outputs = tmp_path / "outputs.json"
    stack = {"ApiUrl": API_URL, "UploadEndpoint": f"{API_URL}upload"}
    outputs.write_text(json.dumps({"Dev-UploadApi": stack, "Prod-UploadApi": stack}))
    # WHEN it is read without and with a stack name
    # THEN without a name it is refused, with one it picks that stack
    with pytest.raises(SetupError, match="--stack"):
        target_from_outputs(outputs)
    assert target_from_outputs(outputs, "Prod-UploadApi").stack_name == "Prod-UploadApi"


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:3000/dev/", True),
        ("http://localhost:3000/dev/", True),
        ("http://[::1]:3/p/", True),
        (API_URL, False),
        ("http://10.0.0.1/dev/", False),
    ],
)
def test_only_loopback_addresses_count_as_local(url, local):
    # GIVEN an API URL with no emulated AWS named WHEN asked if it is local THEN only loopback is
    assert Target("s", url, f"{url}upload", {}).local is local


# -- limits ---------------------------------------------------------------------------------------


def test_a_local_server_expects_cdk_json_unless_told_otherwise():
    # GIVEN a local server and no overrides
    # WHEN the limits are resolved
    limits, check = resolve_limits(LOCAL, "dev", {})
    # THEN they are cdk.json's dev numbers, and the stage-config check is skipped, saying why
    assert (limits.rate, limits.burst) == cdk_json_limits("dev") == (1000.0, 2000)
    assert check.status is Status.SKIPPED
    assert "no API Gateway API" in check.summary


def test_a_local_server_expects_the_limits_its_outputs_file_names(tmp_path):
    # GIVEN an outputs file in which a local server wrote the limits it enforces (THROTTLE_RATE=100)
    outputs = tmp_path / "local-outputs.json"
    stack = {"ApiUrl": LOCAL.api_url, "UploadEndpoint": LOCAL.upload_endpoint, **LOCAL.outputs}
    stack.update(ThrottlingRateLimit=100, ThrottlingBurstLimit=150)
    outputs.write_text(json.dumps({LOCAL.stack_name: stack}), encoding="utf-8")
    # WHEN the limits are resolved with no flags and no variables
    limits, check = resolve_limits(target_from_outputs(outputs), "dev", {})
    # THEN they are the server's, not cdk.json's, and the skipped stage check says so
    assert (limits.rate, limits.burst, limits.source) == (100.0, 150, "the outputs file")
    assert check.status is Status.SKIPPED
    assert "100 req/s, burst 150" in check.summary


def test_unreadable_limits_in_an_outputs_file_are_a_setup_error():
    # GIVEN a local target whose outputs name a rate that is not a number
    target = Target(
        LOCAL.stack_name,
        LOCAL.api_url,
        LOCAL.upload_endpoint,
        {**LOCAL.outputs, "ThrottlingRateLimit": "x", "ThrottlingBurstLimit": "1"},
    )
    # WHEN the limits are resolved THEN the verifier cannot start, naming the output
    with pytest.raises(SetupError, match="ThrottlingRateLimit"):
        resolve_limits(target, "dev", {})


def test_throttle_variables_override_the_stack():
    # GIVEN THROTTLE_RATE / THROTTLE_BURST, as `make local` was started with
    # WHEN the limits are resolved
    limits, _ = resolve_limits(LOCAL, "dev", {"THROTTLE_RATE": "50", "THROTTLE_BURST": "60"})
    # THEN those are the limits to expect
    assert (limits.rate, limits.burst, limits.source) == (50.0, 60, "THROTTLE_RATE and THROTTLE_BURST")


def test_a_deployed_stage_is_read_and_compared_with_cdk_json():
    # GIVEN a deployed stage configured as cdk.json says (1000 / 2000)
    # WHEN the limits are resolved
    limits, check = resolve_limits(DEPLOYED, "prod", {}, read_stage=lambda target: (1000.0, 2000))
    # THEN the stage's own numbers are expected, and the config check passes
    assert (limits.rate, limits.burst) == (1000.0, 2000)
    assert limits.source == "stage prod (GetStage)"
    assert check.status is Status.PASSED


def test_a_deployed_stage_with_other_limits_fails_the_config_check():
    # GIVEN a deployed stage throttled at 5000 / 5000, not cdk.json's 1000 / 2000
    # WHEN the limits are resolved
    limits, check = resolve_limits(DEPLOYED, "prod", {}, read_stage=lambda target: (5000.0, 5000))
    # THEN the config check fails naming both, and the flood would expect what the stage says
    assert check.status is Status.FAILED
    assert "5000 req/s, burst 5000; expected 1000 req/s, burst 2000" in check.summary
    assert (limits.rate, limits.burst) == (5000.0, 5000)


def test_an_unreadable_stage_fails_the_config_check_with_the_reason():
    # GIVEN a role that may not read the stage (e.g. the API is in another account)
    def denied(target: Target) -> tuple[float, int]:
        raise PermissionError("AccessDeniedException: not authorized to perform apigateway:GET")

    # WHEN the limits are resolved
    limits, check = resolve_limits(DEPLOYED, "dev", {}, read_stage=denied)
    # THEN the check fails with the reason, and cdk.json's numbers stand in for the flood
    assert check.status is Status.FAILED
    assert "AccessDeniedException" in check.summary
    assert (limits.rate, limits.burst) == (1000.0, 2000)


def test_get_stage_stage_wide_method_settings_are_the_throttling():
    # GIVEN API Gateway's GetStage answer for a stage throttled stage-wide (method settings */*)
    client = boto3.client("apigateway", region_name="eu-west-1")
    stub = Stubber(client)
    answer = {"methodSettings": {"*/*": {"throttlingRateLimit": 1000.0, "throttlingBurstLimit": 2000}}}
    stub.add_response("get_stage", answer, {"restApiId": "a1b2c3d4e5", "stageName": "prod"})
    stub.add_response("get_stage", {"methodSettings": {}}, {"restApiId": "a1b2c3d4e5", "stageName": "prod"})
    with stub:
        # WHEN it is read THEN rate and burst come from */*
        assert read_stage_throttling(DEPLOYED, client) == (1000.0, 2000)
        # AND a stage without stage-wide throttling is an error, not the account's defaults
        with pytest.raises(SetupError, match="no stage-wide"):
            read_stage_throttling(DEPLOYED, client)


# -- signing --------------------------------------------------------------------------------------


def test_sigv4_signs_host_and_content_type_for_execute_api():
    # GIVEN an httpx request to a deployed API
    request = httpx.Request(
        "POST", f"{API_URL}upload", content=b"{}", headers={"Content-Type": "application/json"}
    )
    # WHEN SigV4 signs it
    signed = next(SigV4(CREDENTIALS, "eu-west-1").auth_flow(request))
    # THEN it carries an execute-api signature over host and content-type, and the session token
    authorization = signed.headers["Authorization"]
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token" in authorization
    assert signed.headers["X-Amz-Security-Token"] == "token"


def test_the_load_signer_signs_once_per_second():
    # GIVEN a cached signer on a clock that moves within a second, then past it
    now = [1_800_000_000.1]
    signer = CachedSigner(
        CREDENTIALS, "eu-west-1", "POST", f"{API_URL}upload", b"{}", {}, clock=lambda: now[0]
    )
    # WHEN headers are asked for 1000 times in one second, then once in the next
    first = [signer.headers() for _ in range(1000)]
    now[0] += 1.0
    later = signer.headers()
    # THEN botocore signed twice: the same headers all through the first second, new ones after
    assert signer.signatures == 2
    assert all(headers is first[0] for headers in first)
    assert "Authorization" in later
    assert later is not first[0]


# -- reports --------------------------------------------------------------------------------------


RUN = Run(
    "dev",
    {"target": {"api_url": API_URL}},
    [
        CheckResult.judge("validation/not-json", True, "400 ok"),
        CheckResult.judge(
            "throttling/flood-gets-429", False, "no 429 in 200 requests", latency_ms={"p99": float("nan")}
        ),
        CheckResult.skipped("upload/valid-201", "prod mode writes nothing"),
    ],
    "2026-11-23T00:00:00+00:00",
    1.5,
)


def test_junit_has_one_testcase_per_check_with_failures_and_skips():
    # GIVEN a run with a pass, a failure and a skip
    # WHEN its JUnit XML is read
    suite = ET.fromstring(junit_xml(RUN)).find("testsuite")
    # THEN three testcases; the failure carries its reason as the message; the skip is marked
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    failure = cases["throttling/flood-gets-429"].find("failure")
    assert failure is not None
    assert failure.get("message") == "no 429 in 200 requests"
    assert cases["upload/valid-201"].find("skipped") is not None
    assert cases["validation/not-json"].find("failure") is None


def test_json_report_is_strict_json_and_the_table_names_failures():
    # GIVEN the same run
    # WHEN the JSON report and the table are made
    text = json.dumps(json_report(RUN), allow_nan=False)  # raises on NaN
    lines = table(RUN).splitlines()
    # THEN the report says not verified, NaN became null, and the table's last line names the failure
    assert json.loads(text)["verified"] is False
    assert json.loads(text)["checks"][1]["details"]["latency_ms"]["p99"] is None
    assert (
        lines[-1] == "NOT VERIFIED: 1 passed, 1 failed, 1 skipped in 1.5 s; failed: throttling/flood-gets-429"
    )


# -- the command ----------------------------------------------------------------------------------


def run_verifier(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "THROTTLE", "API_URL", "UPLOAD_", "STACK_"))
    }
    environment.update(env)
    command = [
        sys.executable,
        "-m",
        "tools.pipeline_checks.verify",
        "--junit",
        str(tmp_path / "j.xml"),
        "--json",
        str(tmp_path / "r.json"),
    ]
    return subprocess.run(
        [*command, *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_a_target_it_exits_2_and_still_writes_reports(tmp_path):
    # GIVEN no outputs file and no API_URL
    # WHEN the verifier runs
    result = run_verifier(tmp_path, "--mode", "dev")
    # THEN it exits 2, says why, and the reports hold one failed "setup" check (the report group shows it)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--outputs" in result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(check["name"], check["status"]) for check in report["checks"]] == [("setup", "failed")]
    assert ET.parse(tmp_path / "j.xml").getroot().find("testsuite/testcase/failure") is not None


def test_a_deployed_api_is_signed_so_credentials_are_required(tmp_path):
    # GIVEN a deployed API's URL and no AWS credentials anywhere (nothing is contacted: it stops first)
    empty = tmp_path / "none"
    env = {
        "API_URL": API_URL,
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    # WHEN the verifier runs
    result = run_verifier(tmp_path, "--mode", "prod", **env)
    # THEN it refuses to send unsigned requests to an IAM-authorized API
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no AWS credentials" in result.stderr
