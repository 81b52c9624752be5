"""Contract v2 through the handler on moto: what S3 holds, what is refused, what X-Ray keeps."""

from __future__ import annotations

import base64
import json
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

import pytest
from upload_api import handler

from tests.bodies import valid_document

from .support import call_handler, make_event


def test_the_stored_object_is_an_attachment_named_by_rfc_6266(account, upload):
    # GIVEN a file name with a space and a non-ASCII letter
    response = upload(valid_document(fileName="Lampe grün.png"))
    assert response.status == 201, response.text
    file = response.json["file"]
    # WHEN the object is read back from S3
    head = account.client("s3").head_object(
        Bucket=account.resources.bucket_name, Key=file["key"], VersionId=file["versionId"]
    )
    # THEN it is served as an attachment; filename* carries the exact name, filename an ASCII stand-in
    disposition = head["ContentDisposition"]
    assert disposition == "attachment; filename=\"Lampe gr_n.png\"; filename*=UTF-8''Lampe%20gr%C3%BCn.png"
    assert unquote(disposition.split("''", 1)[1]) == "Lampe grün.png"
    assert head["ContentType"] == "image/png"


@pytest.mark.parametrize("content_type", ["text/html", "IMAGE/SVG+XML", "application/javascript"])
def test_active_content_is_a_400_and_nothing_is_stored(account, upload, content_type):
    # GIVEN an upload declared as a type a browser runs
    # WHEN it is sent (dev does not allow active content)
    response = upload(valid_document(contentType=content_type))
    # THEN it is a 400 naming contentType, and neither an object nor an item was written
    assert response.status == 400
    assert response.json["errors"][0].startswith("contentType")
    assert account.object_versions() == []
    assert account.items() == []


def test_a_stage_that_allows_active_content_stores_it(account, upload, monkeypatch):
    # GIVEN the handler's settings with allowActiveContent true
    monkeypatch.setattr(
        handler, "settings", handler.Settings(**{**vars(handler.settings), "allow_active_content": True})
    )
    # WHEN an HTML file is uploaded
    response = upload(valid_document(contentType="text/html"))
    # THEN it is stored as sent, still as an attachment
    assert response.status == 201, response.text
    (version,) = account.object_versions()
    head = account.client("s3").head_object(Bucket=account.resources.bucket_name, Key=version["Key"])
    assert head["ContentType"] == "text/html"
    assert head["ContentDisposition"].startswith("attachment;")


@pytest.mark.parametrize("file_name", ["lamp\u202egnp.exe", "a\u2215b.png", "\u200b.png", ". ."])
def test_dangerous_file_names_are_a_400_and_nothing_is_stored(account, upload, file_name):
    # GIVEN a right-to-left override, a division slash, a zero-width space or only dots and spaces
    # WHEN the upload is sent
    response = upload(valid_document(fileName=file_name))
    # THEN it is a 400 naming fileName, and nothing was written
    assert response.status == 400
    assert response.json["errors"][0].startswith("fileName")
    assert account.object_versions() == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 100_000, id="100k-arrays"),
        pytest.param('{"a":' * 100_000, id="100k-objects"),
        pytest.param(json.dumps(valid_document())[:-1] + ', "price": 1e999999}', id="huge-number"),
        pytest.param('{"productId": "p-1", "productId": "p-2"}', id="duplicate-keys"),
        pytest.param(json.dumps(valid_document())[:-1] + ', "\\udfff": 1}', id="lone-surrogate-key"),
    ],
)
def test_pathological_json_is_a_400_from_the_handler(post, body):
    # GIVEN a body built to break parsers
    # WHEN the handler answers
    response = post(body)
    # THEN it is a 400 with a JSON message, never a 500
    assert response.status == 400, response.text
    assert isinstance(response.json["message"], str)


def test_a_base64_body_that_is_not_utf8_is_a_400(in_memory_store):
    # GIVEN a proxy event whose base64 body decodes to bytes that are not UTF-8
    event = make_event(None)
    event.update(body=base64.b64encode(b"\xff\xfe{\x00").decode(), isBase64Encoded=True)
    # WHEN the handler answers
    response = call_handler(event)
    # THEN it is a 400 saying the body must be UTF-8 JSON
    assert response.status == 400, response.text
    assert response.json["message"] == "Request body must be UTF-8 JSON"


class _RecordingSubsegment:
    def __init__(self) -> None:
        self.metadata: list[tuple[str, Any]] = []

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.metadata.append((key, value))

    def put_annotation(self, key: str, value: Any) -> None:
        pass


class _RecordingProvider:
    def __init__(self) -> None:
        self.subsegment = _RecordingSubsegment()

    @contextmanager
    def in_subsegment(self, name: str, **_: Any) -> Any:
        yield self.subsegment


def test_x_ray_never_records_the_response(post, monkeypatch):
    # GIVEN the handler's tracer writing to a recording X-Ray provider
    provider = _RecordingProvider()
    monkeypatch.setattr(handler.tracer, "provider", provider)
    # WHEN an upload is created (its response holds the product and the file name)
    response = post(json.dumps(valid_document(productName="Secret lamp", fileName="secret-plan.png")))
    assert response.status == 201
    # THEN no subsegment metadata holds the response or anything from it
    recorded = json.dumps(provider.subsegment.metadata, default=str)
    assert "Secret lamp" not in recorded
    assert "secret-plan.png" not in recorded
    assert not [key for key, _ in provider.subsegment.metadata if key.endswith("response")]
