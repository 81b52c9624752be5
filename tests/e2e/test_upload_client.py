"""The upload client (`make upload`) against the API: local server or deployment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.bodies import sha256_b64
from tests.local_server import OUTPUTS_ENV, REPO_ROOT

pytestmark = pytest.mark.e2e

CONTENT = b"\x89PNG\r\n\x1a\n a lamp, uploaded by the client \x00\xff"


@pytest.fixture(scope="module")
def outputs_file(deployment, tmp_path_factory) -> Path:
    """The outputs file the client reads: the deployment's own, or the local server's outputs re-written."""
    if os.environ.get(OUTPUTS_ENV):
        return Path(os.environ[OUTPUTS_ENV])
    path = tmp_path_factory.mktemp("client") / "outputs.json"
    path.write_text(json.dumps({deployment.stack_name: deployment.outputs}), encoding="utf-8")
    return path


@pytest.fixture
def lamp(tmp_path) -> Path:
    path = tmp_path / "lamp.png"
    path.write_bytes(CONTENT)
    return path


def run_client(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.dev.upload", *argv],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_client_uploads_and_prints_the_201_body(outputs_file, lamp, deployment, dynamodb):
    product_id = f"client-{os.urandom(6).hex()}"
    # WHEN the client uploads a file with a price typed as 29.99
    done = run_client(
        str(lamp), "--product-id", product_id, "--product-name", "Desk lamp", "--price", "29.99",
        "--content-type", "image/png", "--outputs", str(outputs_file),
    )  # fmt: skip
    # THEN it exits 0 and prints the 201 body, whose file is ours byte for byte (the checksum was sent)
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["productId"] == product_id
    assert created["price"] == 29.99
    assert created["file"]["sha256"] == sha256_b64(CONTENT)
    assert created["file"]["key"].startswith(f"uploads/{product_id}/")
    # AND the table holds the price exactly as typed
    item = dynamodb.get_item(
        TableName=deployment.outputs["TableName"],
        Key={"productId": {"S": product_id}, "productName": {"S": "Desk lamp"}},
    )["Item"]
    assert Decimal(item["price"]["N"]) == Decimal("29.99")


def test_client_prints_the_field_errors_and_exits_1(outputs_file, lamp):
    # WHEN the API refuses the request (a productId the contract's pattern refuses)
    done = run_client(
        str(lamp), "--product-id", "-bad id", "--product-name", "Desk lamp", "--price", "29.99",
        "--outputs", str(outputs_file),
    )  # fmt: skip
    # THEN exit 1, the status and the message on stderr, nothing on stdout
    assert done.returncode == 1
    assert done.stdout == ""
    assert "upload failed: HTTP 400" in done.stderr


def test_make_upload_wraps_the_client(outputs_file, lamp):
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
    done = subprocess.run(
        ["make", "--no-print-directory", "upload", f"FILE={lamp}", "PRODUCT_ID=make-upload-1",
         "PRODUCT_NAME=Desk lamp", "PRICE=0.5", f"OUTPUTS={outputs_file}"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = done.stdout[done.stdout.index("{") :]
    assert json.loads(body)["price"] == 0.5


def test_client_sends_a_large_file_straight_to_s3(outputs_file, deployment, tmp_path):
    # GIVEN a file over the 4 MiB inline limit
    manual = tmp_path / "manual.pdf"
    content = bytes(range(256)) * (4 * 1024 * 4) + b"and a little more"
    manual.write_bytes(content)
    product_id = f"client-direct-{os.urandom(6).hex()}"
    # WHEN the client uploads it (stderr is not a terminal here: no progress line)
    done = run_client(
        str(manual), "--product-id", product_id, "--product-name", "Manual", "--price", "12.5",
        "--content-type", "application/pdf", "--outputs", str(outputs_file), "--wait", "30",
    )  # fmt: skip
    # THEN it exits 0 without a progress line
    assert done.returncode == 0, done.stderr
    assert "MiB (" not in done.stderr
    printed = json.loads(done.stdout)
    assert printed["file"]["sha256"] == sha256_b64(content)
    assert printed["file"]["key"].startswith(f"uploads/{product_id}/")
    if deployment.local:
        # AND against a local server it printed the item, once the object became it
        assert printed["file"]["size"] == len(content)
        assert printed["file"]["versionId"]
        assert printed["price"] == 12.5
    else:
        # AND against a deployment it printed the 202 and named the key
        assert printed["file"]["status"] == "AWAITING_UPLOAD"
        assert printed["file"]["key"] in done.stderr
