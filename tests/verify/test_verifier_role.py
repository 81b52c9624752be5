"""The pipeline's verify step runs the whole verifier under the stage's VerifierRole (VERIFIER_ROLE_ARN).

That role (stages/upload/api.py) may call only this stage's POST /upload and read only this API
stage; the CodeBuild role that starts the verifier may do nothing but assume it. So signing and
apigateway:GetStage must both use the assumed role's credentials, never the CodeBuild role's.
STS runs on moto (in-process, no network).
"""

from __future__ import annotations

import os

import pytest
from moto import mock_aws

from tools.pipeline_checks.verify.cli import signing_identity
from tools.pipeline_checks.verify.target import (
    VERIFIER_ROLE_ENV,
    SetupError,
    Target,
    aws_session,
    read_stage_throttling,
)

API_URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/dev/"
TARGET = Target("Dev-UploadApi", API_URL, f"{API_URL}upload", {"ApiUrl": API_URL})
ROLE_ARN = "arn:aws:iam::123456789012:role/Dev-UploadApi-Verifier"


@pytest.fixture
def aws():
    """moto's STS; the default chain holds moto's static keys (the CodeBuild role's, in the pipeline)."""
    with mock_aws():
        yield


def test_with_a_verifier_role_the_verifier_signs_with_the_assumed_roles_credentials(aws):
    # GIVEN the verify step's environment naming the stage's VerifierRole
    environ = {VERIFIER_ROLE_ENV: ROLE_ARN}
    # WHEN the verifier's session and signing identity are built
    session = aws_session(environ, "eu-west-1")
    credentials, region = signing_identity(TARGET, session)
    # THEN requests are signed with temporary credentials of that role, not the CodeBuild role's keys
    frozen = credentials.get_frozen_credentials()
    assert frozen.access_key != os.environ["AWS_ACCESS_KEY_ID"]
    assert frozen.token
    caller = session.client("sts", region_name="eu-west-1").get_caller_identity()["Arn"]
    assert caller.startswith(
        "arn:aws:sts::123456789012:assumed-role/Dev-UploadApi-Verifier/upload-api-verifier"
    )
    assert region == "eu-west-1"


def test_with_a_verifier_role_the_stage_is_read_with_the_assumed_role(aws):
    # GIVEN the VerifierRole's session
    session = aws_session({VERIFIER_ROLE_ENV: ROLE_ARN}, "eu-west-1")
    seen = []

    class Recorder:
        def client(self, service, region_name=None):
            seen.append((service, region_name))
            return FakeApiGateway()

    class FakeApiGateway:
        def get_stage(self, restApiId, stageName):
            return {"methodSettings": {"*/*": {"throttlingRateLimit": 1000.0, "throttlingBurstLimit": 2000}}}

    assert session.client("sts").get_caller_identity()["Arn"].split("/")[1] == "Dev-UploadApi-Verifier"
    # WHEN the stage's throttling is read through that session
    limits = read_stage_throttling(TARGET, session=Recorder())
    # THEN GetStage goes through the session the verifier was given, in the API's region
    assert limits == (1000.0, 2000)
    assert seen == [("apigateway", "eu-west-1")]


def test_without_a_verifier_role_the_default_credential_chain_is_used(aws):
    # GIVEN no VERIFIER_ROLE_ARN (make verify against an outputs file, a developer's own credentials)
    # WHEN the session is built
    session = aws_session({}, "eu-west-1")
    # THEN it is the default chain's
    assert session.get_credentials().get_frozen_credentials().access_key == os.environ["AWS_ACCESS_KEY_ID"]


def test_a_role_that_cannot_be_assumed_is_a_setup_error(monkeypatch):
    # GIVEN no credentials at all to assume the role with
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # WHEN the session is built THEN the verifier cannot start, and says which role and why
    with pytest.raises(SetupError, match=f"cannot assume {VERIFIER_ROLE_ENV} {ROLE_ARN}"):
        aws_session({VERIFIER_ROLE_ENV: ROLE_ARN}, "eu-west-1")
