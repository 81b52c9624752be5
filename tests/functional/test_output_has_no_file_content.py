"""Logs and metrics (stdout) never carry the file: neither its base64 text nor its bytes."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from tests.bodies import b64, sha256_b64, valid_document

MARKER = "TOP-SECRET-FILE-BYTES"
CONTENT = (MARKER + " ").encode("ascii") * 200 + bytes(range(256))
ENCODED = b64(CONTENT)


def assert_no_file_content(output: str) -> None:
    assert MARKER not in output
    assert ENCODED[:64] not in output
    assert ENCODED[len(ENCODED) // 2 : len(ENCODED) // 2 + 64] not in output
    assert repr(CONTENT[:64])[2:-1] not in output


def test_success_output_has_no_file_content(upload, captured_stdout):
    # GIVEN a successful upload
    response = upload(valid_document(CONTENT))
    assert response.status == 201
    # WHEN the handler's stdout (logs and EMF metrics) is read
    output = captured_stdout()
    # THEN it shows the upload was logged, but not the file
    assert "Upload stored" in output
    assert_no_file_content(output)


@pytest.mark.parametrize("operation", ["put_object", "put_item"])
def test_failure_output_has_no_file_content(moto_clients, upload, captured_stdout, operation):
    # GIVEN S3 or DynamoDB failing the write
    s3, dynamodb = moto_clients
    stubber = Stubber(s3 if operation == "put_object" else dynamodb)
    stubber.add_client_error(operation, service_error_code="InternalError", http_status_code=500)
    stubber.activate()
    # WHEN an upload fails and the handler's stdout is read
    response = upload(valid_document(CONTENT))
    output = captured_stdout()
    # THEN the failure is logged, but not the file
    assert response.status >= 500
    assert "Upload not stored" in output
    assert_no_file_content(output)


def test_unexpected_failure_output_has_no_file_content(moto_clients, upload, captured_stdout, monkeypatch):
    # GIVEN an unexpected exception during the S3 write (its traceback is logged)
    s3, _ = moto_clients

    def broken(**_):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(s3, "put_object", broken)
    # WHEN an upload fails and the handler's stdout is read
    upload(valid_document(CONTENT))
    output = captured_stdout()
    # THEN the traceback is there, but not the file
    assert "Unhandled error" in output
    assert_no_file_content(output)


def test_rejection_output_has_no_file_content(upload, captured_stdout):
    # GIVEN an upload rejected for its checksum
    document = valid_document(CONTENT, checksumSha256=sha256_b64(b"x"))
    # WHEN it is posted and the handler's stdout is read
    response = upload(document)
    output = captured_stdout()
    # THEN the rejection is counted, but the file is not in the output
    assert response.status == 400
    assert "Rejections" in output
    assert_no_file_content(output)


PRIVATE_FILE_NAME = "Jane Doe - medical report.pdf"


def test_logs_name_the_upload_but_not_the_file(upload, captured_stdout):
    # GIVEN an upload whose file name is a person's private text
    response = upload(valid_document(CONTENT, fileName=PRIVATE_FILE_NAME, contentType="application/pdf"))
    assert response.status == 201
    # WHEN the handler's stdout (logs and EMF metrics) is read
    output = captured_stdout()
    # THEN the log line finds the upload by its key up to the upload id, and never names the file
    assert "Upload stored" in output
    assert '"key":"uploads/p-1/' in output.replace(" ", "")
    assert PRIVATE_FILE_NAME not in output
    assert "Jane" not in output
