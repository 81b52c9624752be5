"""What only a local server of our own can show: stage throttling at a low limit, and a clean stop.

The tests here share one throttled server and run in file order: the last one stops it.
"""

from __future__ import annotations

import time

import boto3
import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("local_only")]

RATE, BURST = 5, 5
REQUESTS = 30
# Fails the gateway's model (required fields missing): answered 400 before the handler, nothing stored.
SCHEMA_INVALID = b'{"productId":"throttle-test"}'


def stored_objects_and_items(outputs) -> tuple[int, int]:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    s3 = session.client("s3", endpoint_url=outputs["AwsEndpointUrl"])
    dynamodb = session.client("dynamodb", endpoint_url=outputs["AwsEndpointUrl"])
    versions = s3.list_object_versions(Bucket=outputs["BucketName"]).get("Versions", [])
    items = dynamodb.scan(TableName=outputs["TableName"], Select="COUNT")["Count"]
    return len(versions), items


@pytest.fixture(scope="module")
def throttled(start_local_server):
    return start_local_server("throttled", THROTTLE_RATE=str(RATE), THROTTLE_BURST=str(BURST))


def test_requests_over_the_stage_limit_get_429(throttled):
    # GIVEN a stage throttled to 5 requests/s with a burst of 5, untouched so far
    endpoint = throttled.deployment.upload_endpoint
    statuses, bodies = [], []
    # WHEN 30 schema-invalid requests go out back to back on one keep-alive connection
    started = time.monotonic()
    with httpx.Client(timeout=10.0) as client:
        for _ in range(REQUESTS):
            response = client.post(
                endpoint, content=SCHEMA_INVALID, headers={"Content-Type": "application/json"}
            )
            statuses.append(response.status_code)
            bodies.append(response.json())
    elapsed = time.monotonic() - started
    # THEN the burst passes (to the validator's 400), the rest beyond the rate get API Gateway's 429
    assert statuses[:BURST] == [400] * BURST, statuses
    assert 429 in statuses, statuses
    assert set(statuses) == {400, 429}, statuses
    assert statuses.count(400) <= BURST + RATE * elapsed + 1, (statuses, elapsed)
    throttled_bodies = [body for status, body in zip(statuses, bodies, strict=True) if status == 429]
    assert all(body == {"message": "Too Many Requests"} for body in throttled_bodies), throttled_bodies
    # AND nothing reached storage
    assert stored_objects_and_items(throttled.deployment.outputs) == (0, 0)


def test_outputs_name_the_limits_the_server_enforces(throttled):
    # GIVEN the server started with THROTTLE_RATE=5, THROTTLE_BURST=5
    # WHEN its outputs file is read
    outputs = throttled.deployment.outputs
    # THEN it names those limits, so a verifier needs no variables (docs/api.md, "Outputs file")
    assert (outputs["ThrottlingRateLimit"], outputs["ThrottlingBurstLimit"]) == (RATE, BURST)


def test_sigterm_stops_the_server_and_removes_its_outputs(throttled):
    # GIVEN a running server that has written its outputs file
    assert throttled.process.poll() is None
    assert throttled.outputs_path.exists()
    endpoint = throttled.deployment.upload_endpoint
    # WHEN it gets SIGTERM
    exit_code = throttled.stop()
    # THEN it exits 0, leaves no outputs file behind, and no longer answers
    assert exit_code == 0, throttled.log_tail()
    assert not throttled.outputs_path.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.post(endpoint, content=SCHEMA_INVALID, timeout=5.0)
