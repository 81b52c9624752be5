"""The verifier against local servers: it passes a correct one and fails, naming the check, each broken one.

A verifier that cannot fail is worthless: the three servers with one fault each are the point.
"""

from __future__ import annotations

import boto3
import pytest

from tests.verify.support import RATE, Verifier

pytestmark = pytest.mark.e2e

VALIDATION_CHECKS = {
    "validation/not-json",
    "validation/json-array",
    "validation/wrong-content-type",
    "validation/missing-productId",
    "validation/missing-productName",
    "validation/missing-price",
    "validation/missing-fileName",
    "validation/missing-fileContent",
    "validation/price-as-string",
    "validation/unknown-field",
    "validation/bad-base64",
    "validation/oversize-file",
    "validation/get-upload",
}
THROTTLING_CHECKS = {
    "throttling/load-body-refused-by-gateway",
    "throttling/below-limit-no-429",
    "throttling/flood-offered",
    "throttling/flood-gets-429",
    "throttling/flood-accepted-rate",
    "throttling/non-429-are-gateway-400",
}
DIRECT_CHECKS = {
    "upload/direct-202",
    "upload/direct-put",
    "upload/direct-item",
    "upload/direct-wrong-checksum-refused",
}


def stored_objects(outputs: dict[str, str]) -> int:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    s3 = session.client("s3", endpoint_url=outputs["AwsEndpointUrl"])
    return len(s3.list_object_versions(Bucket=outputs["BucketName"]).get("Versions", []))


def test_passes_against_a_correct_local_server(verifier_runs):
    # GIVEN a local server throttled at 50 req/s, burst 50, validating bodies, without faults
    run = verifier_runs["correct"]
    # WHEN the verifier ran against it in dev mode (fixture)
    # THEN it exits 0 with every check passed, the stage-config check skipped (no API Gateway API here)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.failed == set()
    assert run.statuses["stage-throttling-config"] == "skipped"
    assert {name for name, status in run.statuses.items() if status == "passed"} == (
        VALIDATION_CHECKS | THROTTLING_CHECKS | DIRECT_CHECKS | {"upload/valid-201"}
    )
    assert "VERIFIED: 24 passed, 0 failed, 1 skipped" in run.stdout


def test_correct_run_writes_junit_and_json_reports(verifier_runs):
    # GIVEN the passing run
    run = verifier_runs["correct"]
    # WHEN its reports are read
    suite = run.junit().find("testsuite")
    report = run.report
    flood = run.check("throttling/flood-offered")["details"]
    # THEN JUnit has one testcase per check and no failure; JSON has the per-second counts of the flood
    assert suite is not None
    assert len(suite.findall("testcase")) == len(report["checks"]) == 25
    assert suite.get("failures") == "0"
    assert suite.findall("testcase/failure") == []
    assert report["verified"] is True
    # (the verifier was given no limits: `make verify` with no flags reads the server's from its outputs file)
    assert report["limits"] == {"rate": RATE, "burst": 50, "source": "the outputs file"}
    seconds = flood["per_second"]
    assert [row["second"] for row in seconds] == [0, 1]
    assert sum(row["sent"] for row in seconds) == flood["sent"] == 200
    assert sum(row["429"] for row in seconds) == flood["outcomes"]["429"] > 0
    assert all(row["sent"] == row["429"] + row["400"] + row["other"] for row in seconds)


def test_correct_run_measures_the_configured_rate(verifier_runs):
    # GIVEN the passing run's flood: 100 req/s offered for 2 s against 50 req/s, burst 50
    details = verifier_runs["correct"].check("throttling/flood-accepted-rate")["details"]
    # WHEN the accepted rate after the burst is read
    # THEN the local token bucket is exact, so it is within 10% of 50, well inside the 25% tolerance
    assert abs(details["measured_rate"] - RATE) <= 0.1 * RATE, details


def test_fails_against_a_stage_without_throttling(verifier_runs):
    # GIVEN a local server with THROTTLE=off, the verifier expecting 50 req/s, burst 50
    run = verifier_runs["throttle-off"]
    # WHEN the verifier ran against it
    # THEN it exits 1 and names the throttling checks; the validation checks still pass
    assert run.returncode == 1, run.stdout + run.stderr
    assert {"throttling/flood-gets-429", "throttling/flood-accepted-rate"} <= run.failed
    assert not run.failed & VALIDATION_CHECKS
    assert run.table_line("throttling/flood-gets-429").startswith("FAIL")
    assert "no 429 in 200 requests" in run.check("throttling/flood-gets-429")["summary"]
    verdict = next(line for line in run.stdout.splitlines() if line.startswith("NOT VERIFIED"))
    assert "throttling/flood-gets-429" in verdict.split("failed: ")[1]


def test_fails_against_a_gateway_that_does_not_validate(verifier_runs):
    # GIVEN a local server whose gateway does not validate bodies (they reach the handler, which also
    # answers 400, but with its own body)
    run = verifier_runs["validation-off"]
    # WHEN the verifier ran against it
    # THEN it exits 1: the load's body is not refused by the gateway, so the load ran the function
    assert run.returncode == 1, run.stdout + run.stderr
    assert {"throttling/load-body-refused-by-gateway", "throttling/non-429-are-gateway-400"} <= run.failed
    assert "not enforced" in run.check("throttling/load-body-refused-by-gateway")["summary"]
    # AND the throttle itself was still found working: the failure is the validator, not the limit
    assert run.statuses["throttling/flood-gets-429"] == "passed"


def test_fails_against_a_server_that_answers_500(verifier_runs):
    # GIVEN a local server where every request past the throttle fails with 500
    run = verifier_runs["fault-500"]
    # WHEN the verifier ran against it
    # THEN it exits 1 and every POST probe fails with the 500 it got
    assert run.returncode == 1, run.stdout + run.stderr
    assert VALIDATION_CHECKS - {"validation/get-upload"} <= run.failed
    assert "status 500, expected 400" in run.check("validation/not-json")["summary"]
    assert {"upload/valid-201", "throttling/non-429-are-gateway-400"} <= run.failed
    failures = run.junit().findall("testsuite/testcase/failure")
    assert len(failures) == len(run.failed)


def test_prod_mode_writes_nothing_and_does_not_flood(correct_server, verifier_runs, tmp_path):
    # GIVEN the correct server, after the dev run (which uploaded one file)
    server = correct_server
    before = stored_objects(server.deployment.outputs)
    # WHEN the verifier runs in prod mode with its defaults
    run = Verifier(tmp_path, server.outputs_path, "prod").result()
    # THEN it passes without uploading or flooding: nothing new is stored
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.statuses["upload/valid-201"] == "skipped"
    assert {run.statuses[name] for name in DIRECT_CHECKS} == {"skipped"}
    assert run.check("upload/direct-put")["summary"].startswith("not checked: prod mode writes nothing")
    assert {run.statuses[name] for name in run.statuses if name.startswith("throttling/flood")} == {"skipped"}
    assert run.statuses["throttling/below-limit-no-429"] == "passed"
    assert stored_objects(server.deployment.outputs) == before
