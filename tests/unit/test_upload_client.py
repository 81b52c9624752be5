"""The upload client (tools/dev/upload): the body it builds, when and how it signs, what it prints and exits.

HTTP is captured with httpx.MockTransport; no network. The e2e suite runs it against a local server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from decimal import Decimal
from pathlib import Path

import botocore.auth
import httpx
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tools.dev.upload import cli
from tools.dev.upload.request import RequestError, Upload, body, check_price

CONTENT = bytes(range(256))
AWS_URL = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/dev/upload"
LOCAL_URL = "http://127.0.0.1:3000/dev/upload"
KEY_ID, SECRET, TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-example"
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/eu-west-1/execute-api/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)
CREATED = {"productId": "p-1", "price": 29.99, "file": {"key": "uploads/p-1/x/lamp.png"}}


@pytest.fixture
def lamp(tmp_path: Path) -> Path:
    path = tmp_path / "lamp.png"
    path.write_bytes(CONTENT)
    return path


@pytest.fixture
def env_credentials(monkeypatch, tmp_path):
    """The default credential chain finds exactly these, from environment variables."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)


def capture(status: int = 201, answer: object = CREATED) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=answer)

    return seen, httpx.MockTransport(handler)


def args(path: Path, *extra: str, price: str = "29.99") -> list[str]:
    return [str(path), "--product-id", "p-1", "--product-name", "Desk lamp", "--price", price, *extra]


# -- The body ------------------------------------------------------------------------------------


@pytest.mark.parametrize("price", ["29.99", "0", "1000000000", "0.5", "29.990", "1E+2", "-1"])
def test_price_goes_on_the_wire_as_typed(lamp, price):
    # GIVEN a price as the user typed it
    # WHEN the body is built
    sent = body(Upload(lamp, "p-1", "Desk lamp", price)).decode()
    # THEN the JSON text holds that exact number text (the API judges range and decimals), never a float's
    assert f'"price":{price},' in sent
    assert json.loads(sent, parse_float=Decimal)["price"] == Decimal(price)


@pytest.mark.parametrize(
    "price", ["29,99", '"29.99"', "abc", "NaN", "Infinity", "", "01", "1.", ".5", "0x10"]
)
def test_a_price_that_is_not_a_json_number_is_refused_before_sending(price):
    with pytest.raises(RequestError, match="--price must be a number"):
        check_price(price)


def test_body_carries_the_file_its_checksum_and_its_name(lamp):
    document = json.loads(body(Upload(lamp, "p-1", "Desk lamp", "29.99", content_type="image/png")))
    assert base64.b64decode(document["fileContent"], validate=True) == CONTENT
    assert document["checksumSha256"] == base64.b64encode(hashlib.sha256(CONTENT).digest()).decode()
    assert document["fileName"] == "lamp.png"
    assert document["contentType"] == "image/png"
    assert set(document) == {
        "productId", "productName", "price", "fileName", "fileContent", "checksumSha256", "contentType"
    }  # fmt: skip


def test_no_content_type_given_sends_none_and_a_file_name_overrides(lamp):
    document = json.loads(body(Upload(lamp, "p-1", "Desk lamp", "1", file_name="desk lamp.png")))
    assert "contentType" not in document
    assert document["fileName"] == "desk lamp.png"


# -- Signing -------------------------------------------------------------------------------------


def test_an_aws_target_is_signed_with_the_default_chain_and_the_signature_verifies(lamp, env_credentials):
    # GIVEN credentials in the environment and an execute-api URL
    seen, transport = capture()
    # WHEN the client uploads
    status = cli.main([*args(lamp), "--url", AWS_URL], transport=transport)
    # THEN the request carries a SigV4 Authorization for execute-api in the URL's region
    assert status == 0
    (request,) = seen
    match = AUTHORIZATION.match(request.headers["Authorization"])
    assert match, request.headers["Authorization"]
    signed = match["signed"].split(";")
    assert {"host", "x-amz-date", "x-amz-security-token", "content-type"} <= set(signed)
    assert request.headers["X-Amz-Security-Token"] == TOKEN
    # AND botocore, recomputing from what was sent with the same key, gets the same signature
    recomputed = AWSRequest(
        method=request.method,
        url=str(request.url),
        data=request.content,
        headers={name: request.headers[name] for name in signed},
    )
    recomputed.context["timestamp"] = request.headers["X-Amz-Date"]
    signer = botocore.auth.SigV4Auth(Credentials(KEY_ID, SECRET, TOKEN), "execute-api", "eu-west-1")
    expected = signer.signature(
        signer.string_to_sign(recomputed, signer.canonical_request(recomputed)), recomputed
    )
    assert match["signature"] == expected


def test_a_changed_body_would_not_verify(lamp, env_credentials):
    # The check above can fail: the same recomputation over a different body gives another signature.
    seen, transport = capture()
    cli.main([*args(lamp), "--url", AWS_URL], transport=transport)
    (request,) = seen
    match = AUTHORIZATION.match(request.headers["Authorization"])
    assert match
    tampered = AWSRequest(
        method="POST",
        url=str(request.url),
        data=request.content.replace(b"29.99", b"0.01"),
        headers={name: request.headers[name] for name in match["signed"].split(";")},
    )
    tampered.context["timestamp"] = request.headers["X-Amz-Date"]
    signer = botocore.auth.SigV4Auth(Credentials(KEY_ID, SECRET, TOKEN), "execute-api", "eu-west-1")
    assert (
        signer.signature(signer.string_to_sign(tampered, signer.canonical_request(tampered)), tampered)
        != match["signature"]
    )


def test_the_local_server_is_not_signed(lamp, env_credentials):
    seen, transport = capture()
    assert cli.main([*args(lamp), "--url", LOCAL_URL], transport=transport) == 0
    assert "Authorization" not in seen[0].headers


def test_no_sign_sends_no_signature_to_aws(lamp, env_credentials):
    seen, transport = capture()
    assert cli.main([*args(lamp), "--url", AWS_URL, "--no-sign"], transport=transport) == 0
    assert "Authorization" not in seen[0].headers


def test_no_credentials_for_an_aws_target_is_a_setup_error(lamp, monkeypatch, tmp_path, capsys):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    seen, transport = capture()
    assert cli.main([*args(lamp), "--url", AWS_URL], transport=transport) == 2
    assert seen == []
    assert "no AWS credentials" in capsys.readouterr().err


# -- Target, answer, exit status -----------------------------------------------------------------


def test_the_target_is_the_outputs_files_upload_endpoint(lamp, tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps({"Dev-UploadApi": {"ApiUrl": "http://127.0.0.1:9/dev/", "UploadEndpoint": LOCAL_URL}})
    )
    seen, transport = capture()
    assert cli.main([*args(lamp), "--outputs", str(outputs)], transport=transport) == 0
    assert str(seen[0].url) == LOCAL_URL
    assert seen[0].headers["Content-Type"] == "application/json"


def test_a_stage_url_ending_in_a_slash_targets_its_upload_endpoint(lamp):
    seen, transport = capture()
    assert cli.main([*args(lamp), "--url", "http://127.0.0.1:3000/dev/"], transport=transport) == 0
    assert str(seen[0].url) == LOCAL_URL


def test_201_prints_the_body(lamp, capsys):
    _, transport = capture()
    assert cli.main([*args(lamp), "--url", LOCAL_URL], transport=transport) == 0
    assert json.loads(capsys.readouterr().out) == CREATED


def test_an_error_prints_status_message_and_each_field_then_exits_1(lamp, capsys):
    answer = {"message": "Invalid request body", "errors": ["productId: must match ^[A-Za-z0-9]..."]}
    _, transport = capture(400, answer)
    assert cli.main([*args(lamp), "--url", LOCAL_URL], transport=transport) == 1
    err = capsys.readouterr().err
    assert "upload failed: HTTP 400: Invalid request body" in err
    assert "  - productId: must match" in err


def test_no_outputs_file_exits_2_before_sending(lamp, tmp_path, capsys, monkeypatch):
    # GIVEN no --url and no local-outputs.json in the working directory (no `make local` running)
    monkeypatch.chdir(tmp_path)
    seen, transport = capture()
    # THEN nothing is sent, exit 2, and the message says what to do
    assert cli.main(args(lamp), transport=transport) == 2
    assert seen == []
    err = capsys.readouterr().err
    assert "cannot read the outputs file local-outputs.json" in err
    assert "make local" in err


def test_a_missing_file_exits_2(tmp_path, capsys):
    seen, transport = capture()
    assert cli.main([*args(tmp_path / "nope.png"), "--url", LOCAL_URL], transport=transport) == 2
    assert seen == []
    assert "cannot read" in capsys.readouterr().err


def test_no_answer_exits_2(lamp, capsys):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    assert cli.main([*args(lamp), "--url", LOCAL_URL], transport=httpx.MockTransport(refuse)) == 2
    assert "no answer from" in capsys.readouterr().err
