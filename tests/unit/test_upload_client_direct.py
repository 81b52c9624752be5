"""The upload client's direct path: chosen by size, the metadata POST, the streamed PUT, what it prints.

HTTP is captured with httpx.MockTransport (the API and S3 alike); no network. The e2e suite runs
the client against a local server, whose item it waits for.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tools.dev.upload import cli, direct

AWS_URL = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/dev/upload"
S3_URL = "https://bucket.s3.eu-west-1.amazonaws.com/uploads/p-1/u/big.bin?X-Amz-Signature=abc"
LIMIT = direct.INLINE_LIMIT_BYTES


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def accepted(size: int, sha256: str) -> dict[str, Any]:
    return {
        "productId": "p-1",
        "file": {"key": "uploads/p-1/u/big.bin", "size": size, "sha256": sha256, "status": "AWAITING_UPLOAD"},
        "upload": {
            "method": "PUT",
            "url": S3_URL,
            "headers": {"Content-Type": "application/octet-stream", "x-amz-checksum-sha256": sha256},
            "expiresAt": "2026-12-06T10:15:00Z",
        },
    }


class Recorder:
    """The API answers 201 or 202; S3 answers `s3_status`. Bodies are read as they arrive."""

    def __init__(self, s3_status: int = 200, s3_body: str = "") -> None:
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []
        self._s3 = (s3_status, s3_body)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "PUT":
            self.bodies.append(request.read())
            return httpx.Response(self._s3[0], text=self._s3[1])
        sent = json.loads(request.read())
        self.bodies.append(request.content)
        if "fileSize" in sent:
            return httpx.Response(202, json=accepted(sent["fileSize"], sent["checksumSha256"]))
        return httpx.Response(201, json={"file": {"key": "uploads/p-1/u/small.bin"}})


def run(path: Path, recorder: Recorder, *extra: str) -> int:
    argv = [str(path), "--product-id", "p-1", "--product-name", "Desk lamp", "--price", "29.99"]
    return cli.main([*argv, "--url", AWS_URL, "--no-sign", *extra], transport=httpx.MockTransport(recorder))


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(256)) * (LIMIT // 256) + b"one byte over")
    return path


def test_a_file_at_the_inline_limit_goes_inline(tmp_path: Path):
    path = tmp_path / "limit.bin"
    path.write_bytes(b"\x01" * LIMIT)
    recorder = Recorder()
    assert run(path, recorder) == 0
    (request,) = recorder.requests
    assert "fileContent" in json.loads(request.content)


def test_a_larger_file_posts_its_size_and_checksum_then_puts_its_bytes(big: Path, capsys, monkeypatch):
    # GIVEN a file just over 4 MiB, the chunks the PUT reads counted
    chunk_sizes: list[int] = []
    read_chunks = direct.file_chunks

    def counted(path: Path, progress: direct.Progress):
        for chunk in read_chunks(path, progress):
            chunk_sizes.append(len(chunk))
            yield chunk

    monkeypatch.setattr(direct, "file_chunks", counted)
    # WHEN uploaded
    recorder = Recorder()
    assert run(big, recorder) == 0
    _, put = recorder.requests
    content = big.read_bytes()
    # THEN the POST names the size and the SHA-256, with no file content
    sent = json.loads(recorder.bodies[0])
    assert sent["fileSize"] == len(content)
    assert sent["checksumSha256"] == sha256_b64(content)
    assert "fileContent" not in sent
    # AND the PUT goes to the 202's URL with its headers unchanged, an explicit length, no chunking
    assert (put.method, str(put.url)) == ("PUT", S3_URL)
    assert put.headers["x-amz-checksum-sha256"] == sha256_b64(content)
    assert put.headers["Content-Type"] == "application/octet-stream"
    assert put.headers["Content-Length"] == str(len(content))
    assert "Transfer-Encoding" not in put.headers
    assert recorder.bodies[1] == content
    # AND the body was streamed a chunk at a time, never one block of the whole file
    assert chunk_sizes == [direct.CHUNK_BYTES] * 4 + [len(content) - 4 * direct.CHUNK_BYTES]
    # AND against a deployment it prints the 202 and says the item comes once S3 reports the object
    out, err = capsys.readouterr()
    assert json.loads(out)["file"]["key"] == "uploads/p-1/u/big.bin"
    assert "uploads/p-1/u/big.bin" in err
    assert "MiB (" not in err  # no progress when stderr is not a terminal


def test_direct_sends_a_small_file_to_s3_too(tmp_path: Path):
    path = tmp_path / "small.txt"
    path.write_bytes(b"small")
    recorder = Recorder()
    assert run(path, recorder, "--direct") == 0
    assert json.loads(recorder.bodies[0])["fileSize"] == 5
    assert recorder.bodies[1] == b"small"


def test_the_put_carries_no_api_credentials(big: Path, monkeypatch, tmp_path: Path):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    recorder = Recorder()
    argv = [str(big), "--product-id", "p-1", "--product-name", "Desk lamp", "--price", "1", "--url", AWS_URL]
    assert cli.main(argv, transport=httpx.MockTransport(recorder)) == 0
    post, put = recorder.requests
    assert post.headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert "Authorization" not in put.headers


def test_s3_refusing_the_bytes_is_an_error_naming_s3s_code(big: Path, capsys):
    refusal = "<Error><Code>BadDigest</Code><Message>The SHA256 you specified did not match</Message></Error>"
    assert run(big, Recorder(400, refusal)) == 1
    assert "S3 refused the file: HTTP 400: BadDigest: The SHA256 you specified did not match" in (
        capsys.readouterr().err
    )


def test_file_digest_reads_in_chunks_and_matches_hashlib(big: Path):
    assert direct.file_digest(big) == (big.stat().st_size, sha256_b64(big.read_bytes()))


def test_progress_shows_bytes_and_percent_and_ends_the_line():
    stream = io.StringIO()
    progress = direct.Progress(4 * 1024 * 1024, stream, clock=iter(range(100)).__next__)
    progress.advance(1024 * 1024)
    progress.advance(3 * 1024 * 1024)
    progress.finish()
    assert stream.getvalue() == "\rsent 1.0 of 4.0 MiB (25%)\rsent 4.0 of 4.0 MiB (100%)\n"


def test_quiet_progress_writes_nothing():
    progress = direct.Progress(10, None)
    progress.advance(10)
    progress.finish()  # nothing to write to: no error, no output
