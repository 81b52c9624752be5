"""The direct path: the file's bytes go to S3 by the presigned PUT the API answers a `fileSize` with.

Nothing here holds the file in memory: its SHA-256 is computed reading 1 MiB at a time, and the
PUT streams it the same way with an explicit Content-Length (S3 refuses a chunked PUT).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import httpx

from tools.dev.upload.request import RequestError

INLINE_LIMIT_BYTES = 4 * 1024 * 1024  # the API's largest inline file (contract: fileContent)
CHUNK_BYTES = 1024 * 1024
POLL_INTERVAL_S = 0.5


def file_digest(path: Path) -> tuple[int, str]:
    """(size, base64 SHA-256) of the file, read a chunk at a time."""
    sha256 = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                sha256.update(chunk)
                size += len(chunk)
    except OSError as error:
        raise RequestError(f"cannot read {path}: {error.strerror or error}") from None
    return size, base64.b64encode(sha256.digest()).decode("ascii")


class Progress:
    """Bytes sent and the percentage, rewritten on one line of `stream`; silent without a stream."""

    def __init__(
        self, total: int, stream: TextIO | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._total = total
        self._stream = stream
        self._clock = clock
        self._sent = 0
        self._shown_at = float("-inf")

    def advance(self, count: int) -> None:
        self._sent += count
        if self._stream is not None and (self._clock() - self._shown_at >= 0.1 or self._sent >= self._total):
            self._shown_at = self._clock()
            percent = 100 * self._sent // self._total if self._total else 100
            line = f"\rsent {_mib(self._sent)} of {_mib(self._total)} MiB ({percent}%)"
            self._stream.write(line)
            self._stream.flush()

    def finish(self) -> None:
        if self._stream is not None:
            self._stream.write("\n")
            self._stream.flush()


def _mib(count: int) -> str:
    return f"{count / (1024 * 1024):.1f}"


def file_chunks(path: Path, progress: Progress) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            progress.advance(len(chunk))
            yield chunk


def put_file(
    client: httpx.Client, upload: Mapping[str, Any], path: Path, size: int, progress: Progress
) -> httpx.Response:
    """Send the file as the 202's `upload` says: its method and URL, every header unchanged."""
    headers = {str(name): str(value) for name, value in upload.get("headers", {}).items()}
    headers["Content-Length"] = str(size)
    try:
        return client.request(
            str(upload["method"]), str(upload["url"]), content=file_chunks(path, progress), headers=headers
        )
    finally:
        progress.finish()


def s3_refusal(response: httpx.Response) -> str:
    """S3's error as one line: status, code and message from its XML document."""
    code = re.search(r"<Code>([^<]*)</Code>", response.text)
    message = re.search(r"<Message>([^<]*)</Message>", response.text)
    detail = ": ".join(match.group(1) for match in (code, message) if match)
    return f"HTTP {response.status_code}" + (f": {detail}" if detail else "")


def wait_for_item(
    outputs: Mapping[str, str],
    product_id: str,
    product_name: str,
    key: str,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any] | None:
    """The table's item for the product once it points at `key` (a local server's emulated AWS);
    None if it does not within `timeout_s`."""
    import boto3
    from boto3.dynamodb.types import TypeDeserializer

    from tools.dev.local.show import DUMMY_CREDENTIALS, REGION

    session = boto3.Session(**DUMMY_CREDENTIALS, region_name=REGION)
    dynamodb = session.client("dynamodb", endpoint_url=outputs["AwsEndpointUrl"])
    deserialize = TypeDeserializer().deserialize
    item_key = {"productId": {"S": product_id}, "productName": {"S": product_name}}
    deadline = clock() + timeout_s
    while True:
        found = dynamodb.get_item(TableName=outputs["TableName"], Key=item_key, ConsistentRead=True)
        item = {name: deserialize(value) for name, value in found.get("Item", {}).items()}
        if item.get("file", {}).get("key") == key:
            return item
        if clock() >= deadline:
            return None
        sleep(POLL_INTERVAL_S)


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: printed as written (29.99 stays 29.99)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(str(value))
    raise TypeError(f"not JSON: {type(value).__name__}")
