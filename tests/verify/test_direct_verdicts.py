"""The direct-path rows of `make verify` on made-up answers: where each turns from pass to fail or skip.

The API and S3 are one httpx.MockTransport; the item reader is a dict. A store that keeps any
bytes, an item that never appears, a 202 without a URL: each fails its row by name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tools.pipeline_checks.verify import direct
from tools.pipeline_checks.verify.model import Status

ENDPOINT = "https://api.example/dev/upload"
S3_URL = "https://bucket.s3.amazonaws.com/uploads/{pid}/u/verify-probe.bin?X-Amz-Signature=abc"
IDS = ("verify-dev-1-direct", "verify-dev-1-direct-refused")


class FakeStage:
    """The API's 202, and an S3 that checks the checksum header unless `checks_digest` is off."""

    def __init__(self, checks_digest: bool = True, writes_item: bool = True, answer_202: bool = True) -> None:
        self.checks_digest = checks_digest
        self.writes_item = writes_item
        self.answer_202 = answer_202
        self.items: dict[str, dict[str, Any]] = {}
        self.puts: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            sent = json.loads(request.content)
            if not self.answer_202:
                return httpx.Response(400, json={"message": "fileContent: is required"})
            pid = sent["productId"]
            expires = (datetime.now(UTC) + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
            return httpx.Response(
                202,
                json={
                    "file": {
                        "key": f"uploads/{pid}/u/verify-probe.bin",
                        "size": sent["fileSize"],
                        "sha256": sent["checksumSha256"],
                        "status": "AWAITING_UPLOAD",
                    },
                    "upload": {
                        "method": "PUT",
                        "url": S3_URL.format(pid=pid),
                        "headers": {"x-amz-checksum-sha256": sent["checksumSha256"]},
                        "expiresAt": expires,
                    },
                },
            )
        self.puts.append(request)
        body = request.read()
        if self.checks_digest and direct.sha256_b64(body) != request.headers["x-amz-checksum-sha256"]:
            return httpx.Response(400, text="<Error><Code>BadDigest</Code><Message>no</Message></Error>")
        pid = request.url.path.split("/")[2]
        if self.writes_item:
            file = {"key": request.url.path.lstrip("/"), "size": Decimal(len(body)), "versionId": "v1"}
            self.items[pid] = {"file": {**file, "sha256": direct.sha256_b64(body)}}
        return httpx.Response(200, headers={"x-amz-version-id": "v1"})

    def read(self, product_id: str, product_name: str) -> Mapping[str, Any] | None:
        return self.items.get(product_id)


def rows(stage: FakeStage, reader: direct.ItemReader | None) -> dict[str, tuple[Status, str]]:
    transport = httpx.MockTransport(stage)
    with httpx.Client(transport=transport) as client:
        checks = direct.direct_checks(client, ENDPOINT, IDS, reader, transport)
    return {check.name: (check.status, check.summary) for check in checks}


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(direct, "ITEM_WAIT_S", 0.0)


def test_a_correct_stage_passes_every_row():
    stage = FakeStage()
    result = rows(stage, stage.read)
    assert {name: status for name, (status, _) in result.items()} == dict.fromkeys(
        direct.CHECKS, Status.PASSED
    )
    # AND the refused PUT carried the 202's headers unchanged and no credentials
    refused = stage.puts[1]
    assert "Authorization" not in refused.headers
    assert hashlib.sha256(refused.content).digest() != hashlib.sha256(direct.DIRECT_FILE).digest()
    assert len(refused.content) == len(direct.DIRECT_FILE)


def test_a_store_that_keeps_any_bytes_fails_the_refusal_row():
    stage = FakeStage(checks_digest=False)
    result = rows(stage, stage.read)
    assert result[direct.REFUSED_CHECK][0] is Status.FAILED
    assert "expected 400 BadDigest" in result[direct.REFUSED_CHECK][1]


def test_an_item_that_never_appears_fails_the_item_row():
    stage = FakeStage(writes_item=False)
    result = rows(stage, stage.read)
    assert result[direct.ITEM_CHECK][0] is Status.FAILED
    assert result[direct.PUT_CHECK][0] is Status.PASSED


def test_on_a_deployment_the_item_is_not_checked_and_says_why():
    result = rows(FakeStage(), None)
    status, summary = result[direct.ITEM_CHECK]
    assert status is Status.SKIPPED
    assert summary.startswith("not checked: ")
    assert result[direct.PUT_CHECK][0] is Status.PASSED


def test_no_202_fails_every_row_and_none_passes():
    result = rows(FakeStage(answer_202=False), None)
    assert {status for status, _ in result.values()} == {Status.FAILED}
    assert "status 400, expected 202" in result[direct.ACCEPTED_CHECK][1]


def test_a_url_that_lives_longer_than_15_minutes_fails_the_202_row():
    now = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    answer = {
        "file": {
            "size": len(direct.DIRECT_FILE),
            "sha256": direct.sha256_b64(direct.DIRECT_FILE),
            "status": "AWAITING_UPLOAD",
        },
        "upload": {"method": "PUT", "url": S3_URL, "headers": {}, "expiresAt": "2026-12-06T11:00:00Z"},
    }
    problems = direct.accepted_mismatches(httpx.Response(202, json=answer), now)
    assert problems == ["upload.expiresAt 2026-12-06T11:00:00Z is more than 15 minutes away"]


def test_a_target_that_cannot_answer_a_presigned_put_gets_not_checked_rows_never_passes(monkeypatch):
    # GIVEN a target whose S3 says it cannot answer a presigned PUT as S3 does (the rehearsal's)
    from tools.pipeline_checks.verify.cli import direct_upload_checks

    monkeypatch.setenv(direct.NOT_CHECKED_ENV, "the emulator cannot")
    # WHEN the direct path's rows are made (no client, no target: nothing may be sent)
    rows = direct_upload_checks(None, None, "p-1")  # type: ignore[arg-type]
    # THEN every row is NOT CHECKED with the reason, none passed, none failed
    assert [row.name for row in rows] == list(direct.CHECKS)
    assert {row.status for row in rows} == {Status.SKIPPED}
    assert all(row.summary == "not checked: the emulator cannot" for row in rows)
