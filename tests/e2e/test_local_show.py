"""The commands `make local` prints for looking at what it stored run, as printed, and show the upload."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.local_server import LOCAL_KNOBS, OUTPUTS_ENV, REPO_ROOT, LocalServer

pytestmark = pytest.mark.e2e


def printed_show_commands(server: LocalServer) -> list[str]:
    """The lines of the banner under "See what it stored", up to "Ctrl-C stops it."."""
    # The whole log: the banner comes first, and a shared server's request lines follow it.
    lines = server.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("See what it stored"))
    end = next(i for i, line in enumerate(lines) if line.startswith("Ctrl-C"))
    return [line.strip() for line in lines[start + 1 : end]]


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> LocalServer:
    if os.environ.get(OUTPUTS_ENV):
        pytest.skip("reads a local server's banner and its emulated AWS")
    return request.getfixturevalue("local_api_server")


def run_printed(command: str) -> str:
    """One printed command, run as printed in a shell at the repository root; its stdout."""
    env = {k: v for k, v in os.environ.items() if k not in (*LOCAL_KNOBS, "MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    done = subprocess.run(
        ["bash", "-c", command], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def uploaded(server, api) -> dict[str, str]:
    """One upload to the local server: its productId and the stored key."""
    product_id = f"show-{uuid.uuid4().hex[:8]}"
    body = {
        "productId": product_id,
        "productName": "Desk lamp",
        "price": 29.99,
        "fileName": "lamp.txt",
        "contentType": "text/plain",
        "fileContent": base64.b64encode(b"hello").decode(),
    }
    answer = api.post(server.deployment.upload_endpoint, json=body)
    assert answer.status_code == 201, answer.text
    return {"productId": product_id, "key": answer.json()["file"]["key"]}


def test_make_local_show_as_printed_shows_the_stored_object_and_item(server, uploaded):
    # GIVEN one upload; WHEN the `make local-show` line the banner printed runs as printed
    (make_line,) = [c for c in printed_show_commands(server) if c.startswith("make ")]
    assert make_line == f"make local-show OUTPUTS={server.outputs_path}"
    records = [json.loads(line) for line in run_printed(make_line).splitlines()]
    # THEN it prints the object (encrypted with KMS) and the item, one JSON object a line
    (stored,) = [r for r in records if r.get("key") == uploaded["key"]]
    assert stored["size"] == 5
    assert stored["encryption"] == "aws:kms"
    (item,) = [r["item"] for r in records if r.get("item", {}).get("productId") == uploaded["productId"]]
    assert item["productName"] == "Desk lamp"


def test_the_printed_aws_cli_commands_show_the_same(server, uploaded):
    if shutil.which("aws") is None:
        pytest.skip("no AWS CLI on PATH to run the printed aws commands with")
    # GIVEN one upload; WHEN the two AWS CLI lines the banner printed run as printed
    aws_lines = [c for c in printed_show_commands(server) if " aws --endpoint-url " in c]
    assert [line.split()[6] for line in aws_lines] == ["s3api", "dynamodb"], aws_lines
    # THEN the first lists the stored object's key, the second the item
    assert uploaded["key"] in run_printed(aws_lines[0])
    assert uploaded["productId"] in run_printed(aws_lines[1])
