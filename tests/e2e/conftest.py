"""End-to-end fixtures: the API over HTTP, served locally or by a real deployment.

By default a local server (`python -m tools.dev.local`) runs as a subprocess for the
session. With UPLOAD_API_OUTPUTS=<file written by `cdk deploy --outputs-file`> the same
tests run against that deployment instead, with SigV4-signed requests; the assertions
that read S3 or DynamoDB directly are skipped there (the bucket denies all but the
function's role), and so are the tests that need a server of their own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.local_server import OUTPUTS_ENV, Deployment, LocalServer, read_outputs
from tools.common.sigv4 import SigV4, region_of

FAKE_SECRET = "testing"  # the local moto account's credentials; never a real one


def deployment_credentials() -> Any:
    """The default credential chain (tests/conftest.py leaves it alone when UPLOAD_API_OUTPUTS is set)."""
    credentials = boto3.Session().get_credentials()
    if credentials is None:
        pytest.fail("UPLOAD_API_OUTPUTS is set but no AWS credentials were found to sign requests with")
    return credentials


@pytest.fixture(scope="module")
def start_local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LocalServer]]:
    """Start a local server subprocess with extra environment; all are stopped at the module's end.

    Per module, not per session: under `--dist loadfile` a worker runs one file after another, and
    servers kept to the session's end piled up (11 at once, 1.9 GiB, at `make unit`'s peak); a
    start takes about 3 s."""
    servers: list[LocalServer] = []

    def start(name: str, **env: str) -> LocalServer:
        server = LocalServer(tmp_path_factory.mktemp(name), env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def local_api_server(start_local_server: Callable[..., LocalServer]) -> LocalServer:
    """The module's default local server (its log holds the banner `make local` prints)."""
    return start_local_server("local-api")


@pytest.fixture(scope="module")
def deployment(request: pytest.FixtureRequest) -> Deployment:
    outputs_file = os.environ.get(OUTPUTS_ENV)
    if outputs_file:
        return read_outputs(Path(outputs_file))
    return request.getfixturevalue("local_api_server").deployment


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> Iterator[httpx.Client]:
    """An HTTP client for the API: plain locally, SigV4-signed against a deployment."""
    auth = None
    if not deployment.local:
        region = region_of(deployment.api_url) or boto3.Session().region_name or "us-east-1"
        auth = SigV4(deployment_credentials(), region)
    with httpx.Client(auth=auth, timeout=60.0) as client:
        yield client


@pytest.fixture(scope="module")
def aws(deployment: Deployment) -> boto3.Session:
    """A session on the emulated AWS behind a local server; skips against a real deployment."""
    if deployment.aws_endpoint_url is None:
        pytest.skip("reads S3/DynamoDB directly: only the local server's emulated AWS allows that")
    return boto3.Session(
        aws_access_key_id=FAKE_SECRET, aws_secret_access_key=FAKE_SECRET, region_name="us-east-1"
    )


@pytest.fixture(scope="module")
def s3(aws: boto3.Session, deployment: Deployment) -> Any:
    return aws.client("s3", endpoint_url=deployment.aws_endpoint_url)


@pytest.fixture(scope="module")
def dynamodb(aws: boto3.Session, deployment: Deployment) -> Any:
    return aws.client("dynamodb", endpoint_url=deployment.aws_endpoint_url)


@pytest.fixture(scope="session")
def local_only() -> None:
    if os.environ.get(OUTPUTS_ENV):
        pytest.skip("needs a local server of its own; UPLOAD_API_OUTPUTS points the suite at an existing API")
