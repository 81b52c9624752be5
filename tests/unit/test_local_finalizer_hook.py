"""Local mode hands each stored presigned PUT to upload_api.finalizer, imported at the first event."""

from __future__ import annotations

import logging
import sys
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tools.dev.local import __main__ as local_main
from tools.dev.local.gateway import FunctionInfo

EVENT = {"source": "aws.s3", "detail-type": "Object Created", "detail": {"object": {"key": "uploads/k"}}}


def test_the_event_reaches_the_finalizer_with_a_lambda_context(monkeypatch):
    # GIVEN a finalizer module that records what it is called with
    calls: list[tuple[dict[str, Any], Any]] = []
    finalizer = ModuleType("upload_api.finalizer")
    finalizer.lambda_handler = lambda event, context: calls.append((event, context))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "upload_api.finalizer", finalizer)
    # WHEN the hook delivers an event
    local_main.finalizer_hook(FunctionInfo("UploadFinalizer-local", timeout_seconds=60))(EVENT)
    # THEN the finalizer got it, with a context naming its function and a request id
    ((event, context),) = calls
    assert event is EVENT
    assert context.function_name == "UploadFinalizer-local"
    assert context.aws_request_id
    assert context.get_remaining_time_in_millis() > 50_000


def test_without_a_finalizer_module_the_object_stays_unrecorded_and_says_so(monkeypatch, caplog):
    def missing(name: str) -> ModuleType:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(local_main, "importlib", SimpleNamespace(import_module=missing))
    with caplog.at_level(logging.WARNING):
        local_main.finalizer_hook(FunctionInfo("UploadFinalizer-local"))(EVENT)
    assert "no upload_api.finalizer" in caplog.text


def test_a_finalizer_that_fails_to_import_for_another_reason_is_not_hidden(monkeypatch):
    def broken(name: str) -> ModuleType:
        raise ModuleNotFoundError("No module named 'some_dependency'", name="some_dependency")

    monkeypatch.setattr(local_main, "importlib", SimpleNamespace(import_module=broken))
    with pytest.raises(ModuleNotFoundError):
        local_main.finalizer_hook(FunctionInfo("UploadFinalizer-local"))(EVENT)
