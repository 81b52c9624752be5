"""Logs and traces name an upload by its key without the file name (lambda/upload_api/tracing.py)."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
from aws_xray_sdk.ext import boto_utils
from upload_api import tracing
from upload_api.tracing import log_key

KEY = "uploads/p-1/6f1c2c1e-0b1a-4c47-9a37-2d9c1f0e5b11/Jane Doe - medical report.pdf"


def test_the_logged_key_stops_before_the_file_name():
    # GIVEN an object key WHEN it is written to a log THEN the upload's prefix is kept, the name is not
    assert log_key(KEY) == "uploads/p-1/6f1c2c1e-0b1a-4c47-9a37-2d9c1f0e5b11/"
    assert log_key("uploads/p-1/u/a/b") == "uploads/p-1/u/a/"  # a name never holds "/", but if it did


@pytest.fixture
def whitelist(monkeypatch) -> dict[str, Any]:
    """The X-Ray SDK's parameter list, restored after the test (the scrub edits it in place)."""
    original = copy.deepcopy(boto_utils.whitelist)
    yield boto_utils.whitelist
    boto_utils.whitelist.clear()
    boto_utils.whitelist.update(original)


def _recorded_aws_metadata(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """What the X-Ray SDK's own botocore processor records for one S3 call (its oracle)."""
    recorded: dict[str, Any] = {}
    subsegment = SimpleNamespace(name="s3", set_aws=recorded.update, put_http_meta=lambda *_: None)
    instance = SimpleNamespace(meta=SimpleNamespace(region_name="eu-west-1"))
    boto_utils.aws_meta_processor(None, instance, (operation, params), {}, {}, None, subsegment, None)
    return recorded


def test_traces_of_s3_calls_carry_no_object_key(whitelist, monkeypatch):
    # GIVEN the SDK records an S3 PutObject's Key as it ships
    params = {"Bucket": "b", "Key": KEY, "Body": b"x"}
    assert _recorded_aws_metadata("PutObject", params).get("key") == KEY
    # WHEN a function builds its tracer with tracing on (as deployed; Powertools keeps one tracer
    # configuration per process, so it stands in here for one built inside Lambda)
    monkeypatch.setattr(tracing, "Tracer", lambda **_: SimpleNamespace(disabled=False))
    tracing.traces_without_file_names()
    # THEN the same call is recorded without any key, for every S3 operation
    assert "key" not in _recorded_aws_metadata("PutObject", params)
    assert "key" not in _recorded_aws_metadata("GetObject", params)
    for operation in whitelist["services"]["s3"]["operations"].values():
        assert not {"Key", "CopySource", "Prefix"} & set(operation.get("request_parameters", []))


def test_with_tracing_off_nothing_is_changed(whitelist, monkeypatch):
    # GIVEN tracing off (tests, local mode) WHEN the tracer is built THEN the SDK's list is as shipped
    before = copy.deepcopy(whitelist)
    monkeypatch.setattr(tracing, "Tracer", lambda **_: SimpleNamespace(disabled=True))
    tracing.traces_without_file_names()
    assert whitelist == before
