"""The saved Logs Insights queries (stages/upload/observability.py) find what the handler really writes.

Each query's filter is applied here, in Python, to the handler's stdout (its JSON log
lines and EMF metric lines, which is what Lambda ships to the function's log group).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber

from stages.upload.observability import FAILED_UPLOADS_BY_REASON, STORAGE_FAILURES_BY_CAUSE
from tests.bodies import valid_document


def _json_lines(output: str) -> list[dict[str, Any]]:
    lines = []
    for line in output.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


def _failed_uploads_by_reason(lines: list[dict[str, Any]]) -> dict[str, int]:
    """`filter ispresent(reason) | stats count(*) by reason`, as the saved query runs it."""
    assert "filter ispresent(reason)" in FAILED_UPLOADS_BY_REASON.to_string()
    counts: dict[str, int] = {}
    for line in lines:
        if "reason" in line:
            counts[line["reason"]] = counts.get(line["reason"], 0) + 1
    return counts


def _storage_failures_by_cause(lines: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """`filter message = "Upload not stored" | stats count(*) by stage, code`."""
    assert 'filter message = "Upload not stored"' in STORAGE_FAILURES_BY_CAUSE.to_string()
    counts: dict[tuple[str, str], int] = {}
    for line in lines:
        if line.get("message") == "Upload not stored":
            cause = (line["stage"], line["code"])
            counts[cause] = counts.get(cause, 0) + 1
    return counts


def test_a_stored_upload_is_not_a_failed_upload(upload, captured_stdout):
    # GIVEN a successful upload
    assert upload(valid_document(b"hello")).status == 201
    # WHEN the saved queries run over the handler's output
    lines = _json_lines(captured_stdout())
    # THEN neither finds anything
    assert _failed_uploads_by_reason(lines) == {}
    assert _storage_failures_by_cause(lines) == {}


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        pytest.param("{not json", "invalid_json", id="not JSON"),
        pytest.param(valid_document(b"x", productId=""), "schema", id="empty productId"),
    ],
)
def test_a_rejected_upload_is_counted_once_under_its_reason(upload, captured_stdout, document, reason):
    # GIVEN a request the handler rejects
    assert upload(document).status == 400
    # WHEN "failed uploads by reason" runs over the handler's output
    output = captured_stdout()
    assert "Logging error" not in output
    lines = _json_lines(output)
    # THEN it counts one request under the rejection's reason (only the EMF line carries `reason`)
    assert _failed_uploads_by_reason(lines) == {reason: 1}
    (metric_line,) = [line for line in lines if "reason" in line]
    assert "Rejections" in metric_line


def test_a_storage_failure_is_found_by_both_queries(moto_clients, upload, captured_stdout):
    # GIVEN DynamoDB failing the item write
    _, dynamodb = moto_clients
    stubber = Stubber(dynamodb)
    stubber.add_client_error("put_item", service_error_code="InternalServerError", http_status_code=500)
    stubber.activate()
    # WHEN an upload fails and the saved queries run over the handler's output
    assert upload(valid_document(b"hello")).status >= 500
    output = captured_stdout()
    assert "Logging error" not in output
    lines = _json_lines(output)
    # THEN "failed uploads by reason" counts it once, and "storage failures by cause" names the call
    ((reason, count),) = _failed_uploads_by_reason(lines).items()
    assert count == 1
    assert reason.startswith("storage_")
    assert _storage_failures_by_cause(lines) == {("dynamodb.put_item", "InternalServerError"): 1}
