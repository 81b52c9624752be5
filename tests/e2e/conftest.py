"""End-to-end fixtures: the API over HTTP, served locally or by a real deployment.

By default a local server (`python -m tools.local_api`) runs as a subprocess for the
session. With UPLOAD_API_OUTPUTS=<file written by `cdk deploy --outputs-file`> the same
tests run against that deployment instead, with SigV4-signed requests; the assertions
that read S3 or DynamoDB directly are skipped there (the bucket denies all but the
function's role), and so are the tests that need a server of their own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import httpx
import pytest
from botocore.awsrequest import AWSRequest

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUTS_ENV = "UPLOAD_API_OUTPUTS"
STARTUP_TIMEOUT_S = 180  # a cold synth (node + jsii) plus moto start-up on a slow box
STOP_TIMEOUT_S = 30
# Knobs of the local server that the default server must not inherit from the caller's shell.
LOCAL_KNOBS = ("THROTTLE", "THROTTLE_RATE", "THROTTLE_BURST", "LOCAL_GATEWAY_VALIDATION", "LOCAL_FAULT")
FAKE_SECRET = "testing"  # the local moto account's credentials; never a real one


@dataclass(frozen=True)
class Deployment:
    """One stack's outputs, and whether a local server stands behind them."""

    stack_name: str
    outputs: dict[str, str]

    @property
    def upload_endpoint(self) -> str:
        return self.outputs["UploadEndpoint"]

    @property
    def api_url(self) -> str:
        return self.outputs["ApiUrl"]

    @property
    def aws_endpoint_url(self) -> str | None:
        return self.outputs.get("AwsEndpointUrl")

    @property
    def local(self) -> bool:
        return self.aws_endpoint_url is not None


def read_outputs(path: Path) -> Deployment:
    """The one stack in an outputs file that has an UploadEndpoint."""
    stacks = json.loads(path.read_text(encoding="utf-8"))
    matches = [(name, outputs) for name, outputs in stacks.items() if "UploadEndpoint" in outputs]
    if len(matches) != 1:
        raise pytest.UsageError(
            f"{path}: expected one stack with an UploadEndpoint output, found {len(matches)}"
        )
    name, outputs = matches[0]
    return Deployment(name, outputs)


class LocalServer:
    """`python -m tools.local_api` as a subprocess, ready once it has written its outputs file."""

    def __init__(self, workdir: Path, env_overrides: dict[str, str]) -> None:
        self.outputs_path = workdir / "outputs.json"
        self.log_path = workdir / "server.log"
        env = {k: v for k, v in os.environ.items() if k not in (*LOCAL_KNOBS, OUTPUTS_ENV)}
        node_bin = REPO_ROOT / "node_modules" / ".bin"
        env["PATH"] = os.pathsep.join([str(node_bin), env.get("PATH", "")])
        env["PYTHONUNBUFFERED"] = "1"
        env.update(env_overrides)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tools.local_api", "--port", "0", "--outputs", str(self.outputs_path)],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.deployment = self._wait_until_ready()

    def _wait_until_ready(self) -> Deployment:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.outputs_path.exists():
                return read_outputs(self.outputs_path)
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the local server did not start; its log:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def stop(self) -> int:
        """SIGTERM, as `make local`'s Ctrl-C or a supervisor would; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class SigV4(httpx.Auth):
    """Sign each request for API Gateway's IAM authorization (service execute-api)."""

    requires_request_body = True

    def __init__(self, credentials: Any, region: str) -> None:
        self._signer = botocore.auth.SigV4Auth(credentials, "execute-api", region)

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        headers = {"Host": request.url.netloc.decode("ascii")}
        if "Content-Type" in request.headers:
            headers["Content-Type"] = request.headers["Content-Type"]
        aws_request = AWSRequest(
            method=request.method, url=str(request.url), data=request.content, headers=headers
        )
        self._signer.add_auth(aws_request)
        for name, value in aws_request.headers.items():
            request.headers[name] = value
        yield request


def region_of(url: str) -> str | None:
    match = re.search(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com", url)
    return match.group(1) if match else None


def deployment_credentials() -> Any:
    """The default credential chain (tests/conftest.py leaves it alone when UPLOAD_API_OUTPUTS is set)."""
    credentials = boto3.Session().get_credentials()
    if credentials is None:
        pytest.fail("UPLOAD_API_OUTPUTS is set but no AWS credentials were found to sign requests with")
    return credentials


@pytest.fixture(scope="session")
def start_local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LocalServer]]:
    """Start a local server subprocess with extra environment; all are stopped at session end."""
    servers: list[LocalServer] = []

    def start(name: str, **env: str) -> LocalServer:
        server = LocalServer(tmp_path_factory.mktemp(name), env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def deployment(start_local_server: Callable[..., LocalServer]) -> Deployment:
    outputs_file = os.environ.get(OUTPUTS_ENV)
    if outputs_file:
        return read_outputs(Path(outputs_file))
    return start_local_server("local-api").deployment


@pytest.fixture(scope="session")
def api(deployment: Deployment) -> Iterator[httpx.Client]:
    """An HTTP client for the API: plain locally, SigV4-signed against a deployment."""
    auth = None
    if not deployment.local:
        region = region_of(deployment.api_url) or boto3.Session().region_name or "us-east-1"
        auth = SigV4(deployment_credentials(), region)
    with httpx.Client(auth=auth, timeout=60.0) as client:
        yield client


@pytest.fixture(scope="session")
def aws(deployment: Deployment) -> boto3.Session:
    """A session on the emulated AWS behind a local server; skips against a real deployment."""
    if deployment.aws_endpoint_url is None:
        pytest.skip("reads S3/DynamoDB directly: only the local server's emulated AWS allows that")
    return boto3.Session(
        aws_access_key_id=FAKE_SECRET, aws_secret_access_key=FAKE_SECRET, region_name="us-east-1"
    )


@pytest.fixture(scope="session")
def s3(aws: boto3.Session, deployment: Deployment) -> Any:
    return aws.client("s3", endpoint_url=deployment.aws_endpoint_url)


@pytest.fixture(scope="session")
def dynamodb(aws: boto3.Session, deployment: Deployment) -> Any:
    return aws.client("dynamodb", endpoint_url=deployment.aws_endpoint_url)


@pytest.fixture(scope="session")
def local_only() -> None:
    if os.environ.get(OUTPUTS_ENV):
        pytest.skip("needs a local server of its own; UPLOAD_API_OUTPUTS points the suite at an existing API")
