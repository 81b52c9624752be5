"""The direct path's proof (contract: "Large files: direct upload to S3"): one small direct upload
that becomes the item, and one PUT whose bytes do not match the announced SHA-256, which S3 (or
local mode's S3 front) must refuse.

Rows:
- upload/direct-202: a `fileSize` body gets 202 with a presigned PUT that expires within 15 minutes;
- upload/direct-put: the announced bytes, PUT with the 202's headers unchanged, are stored (200);
- upload/direct-item: the item then points at the new key with the announced size and SHA-256;
  read from the local server's emulated AWS (its outputs name AwsEndpointUrl); on a deployment it
  is "not checked": the verifier's role may not read the table;
- upload/direct-wrong-checksum-refused: other bytes of the same length get S3's 400 BadDigest.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from tools.pipeline_checks.verify.model import CheckResult
from tools.pipeline_checks.verify.probes import JSON, compact, valid_document

ACCEPTED_CHECK = "upload/direct-202"
PUT_CHECK = "upload/direct-put"
ITEM_CHECK = "upload/direct-item"
REFUSED_CHECK = "upload/direct-wrong-checksum-refused"
# Set by a target whose S3 cannot answer a presigned PUT as S3 does, to the reason (cli.py).
NOT_CHECKED_ENV = "VERIFY_DIRECT_NOT_CHECKED"
CHECKS = (ACCEPTED_CHECK, PUT_CHECK, ITEM_CHECK, REFUSED_CHECK)
DIRECT_FILE = b"post-deploy verifier, direct upload\n" * 64
MAX_URL_LIFETIME = timedelta(minutes=15)
ITEM_WAIT_S = 30.0
POLL_S = 0.5
# The local account's dummy credentials: they reach the emulated AWS and nothing else.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


@dataclass(frozen=True)
class Accepted:
    """A 202's file key and presigned upload, once its shape is the contract's."""

    key: str
    upload: Mapping[str, Any]


def request_direct(
    client: httpx.Client, endpoint: str, product_id: str
) -> tuple[CheckResult, Accepted | None]:
    """POST the metadata of DIRECT_FILE; the 202 judged."""
    document = valid_document(
        product_id, fileContent=None, fileSize=len(DIRECT_FILE), checksumSha256=sha256_b64(DIRECT_FILE)
    )
    response = client.post(endpoint, content=compact(document), headers={"Content-Type": JSON})
    problems = accepted_mismatches(response, datetime.now(UTC))
    if problems:
        summary = f"{'; '.join(problems)}: {response.status_code} {response.text[:160]}"
        return CheckResult.judge(ACCEPTED_CHECK, False, summary, status=response.status_code), None
    answer = response.json()
    accepted = Accepted(answer["file"]["key"], answer["upload"])
    summary = f"202, PUT to S3 for {accepted.key} until {accepted.upload['expiresAt']}"
    return CheckResult.judge(ACCEPTED_CHECK, True, summary, status=202), accepted


def accepted_mismatches(response: httpx.Response, now: datetime) -> list[str]:
    if response.status_code != 202:
        return [f"status {response.status_code}, expected 202"]
    try:
        answer = response.json()
        file, upload = answer["file"], answer["upload"]
        expires = datetime.strptime(upload["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (ValueError, KeyError, TypeError):
        return ["the 202 body is not the contract's JSON"]
    problems = []
    if (file.get("size"), file.get("sha256")) != (len(DIRECT_FILE), sha256_b64(DIRECT_FILE)):
        problems.append(
            f"file.size/sha256 are {file.get('size')!r}/{file.get('sha256')!r}, not what was sent"
        )
    if file.get("status") != "AWAITING_UPLOAD":
        problems.append(f"file.status is {file.get('status')!r}, expected AWAITING_UPLOAD")
    if upload.get("method") != "PUT" or not str(upload.get("url", "")).startswith(("https://", "http://")):
        problems.append("upload is not a PUT to a URL")
    if "X-Amz-Signature=" not in str(upload.get("url")):
        problems.append("upload.url is not presigned with SigV4")
    if not expires - now <= MAX_URL_LIFETIME + timedelta(seconds=60):
        problems.append(f"upload.expiresAt {upload['expiresAt']} is more than 15 minutes away")
    return problems


def put(accepted: Accepted, body: bytes, transport: httpx.BaseTransport | None = None) -> httpx.Response:
    """The PUT as a client sends it: the 202's headers unchanged, and no credentials of its own."""
    headers = {str(name): str(value) for name, value in accepted.upload.get("headers", {}).items()}
    with httpx.Client(timeout=60.0, transport=transport) as s3:
        return s3.request(
            str(accepted.upload["method"]), str(accepted.upload["url"]), content=body, headers=headers
        )


def s3_code(response: httpx.Response) -> str | None:
    found = re.search(r"<Code>([^<]*)</Code>", response.text)
    return found.group(1) if found else None


def judge_put(response: httpx.Response) -> CheckResult:
    ok = response.status_code == 200
    detail = f"S3 answered {response.status_code}" + (f" {s3_code(response)}" if s3_code(response) else "")
    return CheckResult.judge(
        PUT_CHECK, ok, detail if ok else f"{detail}, expected 200", status=response.status_code
    )


def judge_refusal(response: httpx.Response) -> CheckResult:
    code = s3_code(response)
    ok = response.status_code == 400 and code == "BadDigest"
    summary = f"S3 answered {response.status_code} {code or response.text[:120]}"
    return CheckResult.judge(
        REFUSED_CHECK,
        ok,
        summary if ok else f"{summary}, expected 400 BadDigest",
        status=response.status_code,
    )


ItemReader = Callable[[str, str], Mapping[str, Any] | None]


def local_item_reader(outputs: Mapping[str, str]) -> ItemReader:
    """Reads the table of a local server's emulated AWS (its outputs name AwsEndpointUrl)."""
    import boto3
    from boto3.dynamodb.types import TypeDeserializer

    session = boto3.Session(**LOCAL_CREDENTIALS, region_name="us-east-1")
    dynamodb = session.client("dynamodb", endpoint_url=outputs["AwsEndpointUrl"])
    deserialize = TypeDeserializer().deserialize

    def read(product_id: str, product_name: str) -> Mapping[str, Any] | None:
        key = {"productId": {"S": product_id}, "productName": {"S": product_name}}
        found = dynamodb.get_item(TableName=outputs["TableName"], Key=key, ConsistentRead=True)
        return (
            {name: deserialize(value) for name, value in found["Item"].items()} if "Item" in found else None
        )

    return read


def wait_for_item(
    read: ItemReader,
    product_id: str,
    key: str,
    wait_s: float = ITEM_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> CheckResult:
    """The item for the probe's product, polled until it points at `key` (at most `wait_s`)."""
    product_name = valid_document(product_id)["productName"]
    deadline = clock() + wait_s
    item = read(product_id, product_name)
    while (item or {}).get("file", {}).get("key") != key and clock() < deadline:
        sleep(POLL_S)
        item = read(product_id, product_name)
    file = (item or {}).get("file", {})
    if file.get("key") != key:
        return CheckResult.judge(ITEM_CHECK, False, f"no item pointed at {key} within {wait_s:g} s")
    expected = {"size": Decimal(len(DIRECT_FILE)), "sha256": sha256_b64(DIRECT_FILE)}
    problems = [
        f"file.{name} is {file.get(name)!r}" for name, want in expected.items() if file.get(name) != want
    ]
    if not file.get("versionId"):
        problems.append("no file.versionId")
    summary = f"the item points at {key} ({len(DIRECT_FILE)} bytes, version {file.get('versionId')})"
    return CheckResult.judge(ITEM_CHECK, not problems, "; ".join(problems) or summary)


def direct_checks(
    client: httpx.Client,
    endpoint: str,
    product_ids: tuple[str, str],
    reader: ItemReader | None,
    transport: httpx.BaseTransport | None = None,
) -> list[CheckResult]:
    """The four rows: the stored direct upload (the item read where `reader` can), then the refusal."""
    accepted_check, accepted = request_direct(client, endpoint, product_ids[0])
    if accepted is None:
        why = f"not checked: {ACCEPTED_CHECK} failed, so there is no presigned URL to send to"
        return [accepted_check, *(CheckResult.judge(name, False, why) for name in CHECKS[1:])]
    put_check = judge_put(put(accepted, DIRECT_FILE, transport))
    if put_check.failed:
        item_check = CheckResult.judge(ITEM_CHECK, False, f"not checked: {PUT_CHECK} failed")
    elif reader is None:
        item_check = CheckResult.skipped(
            ITEM_CHECK, "not checked: on a deployment the verifier's role may not read the table"
        )
    else:
        item_check = wait_for_item(reader, product_ids[0], accepted.key, ITEM_WAIT_S)
    refused_check, other = request_direct(client, endpoint, product_ids[1])
    if other is None:
        refusal = CheckResult.judge(
            REFUSED_CHECK, False, f"not checked: the second 202 failed: {refused_check.summary}"
        )
    else:
        tampered = bytes(reversed(DIRECT_FILE))  # same length, other SHA-256
        refusal = judge_refusal(put(other, tampered, transport))
    return [accepted_check, put_check, item_check, refusal]
