"""The request bodies the client sends: inline (the file base64-encoded) or direct (its size), each
with the file's SHA-256 and the price as typed.

The price goes into the JSON as the exact text the user gave (`29.99`, `1000000000`, `0.5`),
never through a float: the API stores the number as written, so the client must not round it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

# RFC 8259's number grammar: what `price` may be on the wire. The API checks the range and the
# two decimal places itself and names the field if they are wrong.
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")


class RequestError(ValueError):
    """The request cannot be built (no such file, a price that is not a number); the message says which."""


@dataclass(frozen=True)
class Upload:
    path: Path
    product_id: str
    product_name: str
    price: str  # JSON number text, exactly as typed
    file_name: str | None = None  # default: the file's own name
    content_type: str | None = None  # default: none sent, the API stores application/octet-stream


def check_price(text: str) -> str:
    """`text` if it is a JSON number, else a RequestError: `29,99`, `"29.99"`, `NaN` are not."""
    stripped = text.strip()
    if not _JSON_NUMBER.fullmatch(stripped):
        raise RequestError(f"--price must be a number as JSON writes it, such as 29.99 (got {text!r})")
    return stripped


def body(upload: Upload) -> bytes:
    """The inline request body: the file base64-encoded in `fileContent`, with its SHA-256."""
    try:
        content = upload.path.read_bytes()
    except OSError as error:
        raise RequestError(f"cannot read {upload.path}: {error.strerror or error}") from None
    return document(
        upload,
        fileContent=base64.b64encode(content).decode("ascii"),
        checksumSha256=base64.b64encode(hashlib.sha256(content).digest()).decode("ascii"),
    )


def direct_body(upload: Upload, size: int, sha256: str) -> bytes:
    """The direct-upload request body: the file's size and SHA-256, its bytes sent to S3 later."""
    return document(upload, fileSize=size, checksumSha256=sha256)


def document(upload: Upload, **file_fields: str | int) -> bytes:
    """The JSON request body, with `price` spliced in as its own text."""
    fields: dict[str, str | int] = {
        "productId": upload.product_id,
        "productName": upload.product_name,
        "fileName": upload.file_name if upload.file_name is not None else upload.path.name,
        **file_fields,
    }
    if upload.content_type is not None:
        fields["contentType"] = upload.content_type
    members = [f"{json.dumps(name)}:{json.dumps(value)}" for name, value in fields.items()]
    members.insert(2, f'"price":{check_price(upload.price)}')
    return ("{" + ",".join(members) + "}").encode("utf-8")
