"""(b) Warm CPU: `lambda_handler` on a 4 MiB upload with fake (in-memory) AWS clients ÷
base64-decoding plus SHA-256 of the same bytes, which any implementation must do; paired calls."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from tools.dev.bench.cold import BASE_ENV, LAMBDA_DIR
from tools.dev.bench.pairs import PairedRatio, interleaved
from tools.dev.local.gateway import FunctionInfo, LocalLambdaContext

WARM_TARGET = 2.0
FILE_BYTES = 4 * 1024 * 1024
BENCH_FUNCTION = FunctionInfo("upload-api-bench", memory_mb=1024, timeout_seconds=29)


class _FakeS3:
    def put_object(self, **_: Any) -> dict[str, Any]:
        return {"VersionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", "ETag": '"0"'}


class _FakeDynamoDB:
    def put_item(self, **_: Any) -> dict[str, Any]:
        return {}


def upload_event(body: str) -> dict[str, Any]:
    return {
        "resource": "/upload",
        "path": "/upload",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/upload",
            "httpMethod": "POST",
            "path": "/dev/upload",
            "stage": "dev",
            "requestId": "bench-request",
        },
        "body": body,
        "isBase64Encoded": False,
    }


@contextlib.contextmanager
def _stdout_discarded() -> Iterator[None]:
    """Powertools' logger and metrics write to fd 1; keep 4 MiB runs quiet and I/O-free."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def _cpu_of(function: Callable[[], object]) -> Callable[[], float]:
    def timed() -> float:
        start = time.process_time()
        function()
        return time.process_time() - start

    return timed


def _upload_body() -> tuple[str, str]:
    """(request body, its base64 file content) for a 4 MiB upload."""
    content = random.Random(20261123).randbytes(FILE_BYTES)  # noqa: S311 - test data
    file_text = base64.b64encode(content).decode("ascii")
    body = {
        "productId": "bench-1",
        "productName": "Benchmark lamp",
        "price": 29.99,
        "fileName": "bench.bin",
        "contentType": "application/octet-stream",
        "fileContent": file_text,
        "checksumSha256": base64.b64encode(hashlib.sha256(content).digest()).decode("ascii"),
    }
    return json.dumps(body), file_text


def measure_warm(pairs: int, warmup: int = 3) -> PairedRatio:
    for name, value in {**BASE_ENV, "POWERTOOLS_TRACE_DISABLED": "1"}.items():
        os.environ.setdefault(name, value)
    if str(LAMBDA_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDA_DIR))
    sys.dont_write_bytecode = True  # lambda/ is the asset: no __pycache__ in it

    from upload_api import handler  # after the environment is set
    from upload_api.storage import UploadStore

    handler.store = UploadStore(
        s3_client=_FakeS3(),
        dynamodb_client=_FakeDynamoDB(),
        bucket_name="bench-bucket",
        table_name="bench-table",
    )
    body, file_text = _upload_body()
    event = upload_event(body)
    # One context for every timed call: building it is no part of the handler's cost.
    context = LocalLambdaContext(BENCH_FUNCTION, "00000000-0000-4000-8000-000000000000")

    def handle() -> None:
        response = handler.lambda_handler(event, context)
        if response["statusCode"] != 201:
            raise RuntimeError(
                f"benchmark upload was not stored: {response['statusCode']} {response['body']}"
            )

    def decode_and_hash() -> None:
        hashlib.sha256(base64.b64decode(file_text, validate=True)).digest()

    with _stdout_discarded():
        for _ in range(warmup):
            handle()
            decode_and_hash()
        measured = interleaved(_cpu_of(handle), _cpu_of(decode_and_hash), pairs)
    return PairedRatio(
        "warm CPU, 4 MiB upload",
        "lambda_handler (fake AWS clients)",
        "base64 decode + SHA-256 of the same bytes",
        measured,
        WARM_TARGET,
    )
