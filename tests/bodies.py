"""Request-body builders shared by every test layer: one valid document, changed one field at a time.

Plain Python only (no AWS, no handler import): the e2e suite imports it against a real deployment too.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

FILE_BYTES = b"\x89PNG\r\n\x1a\n not really a lamp picture \x00\xff"
REMOVE = object()  # as a change to valid_document: leave the field out


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha256_b64(data: bytes) -> str:
    return b64(hashlib.sha256(data).digest())


def valid_document(content: bytes = FILE_BYTES, **changes: Any) -> dict[str, Any]:
    """A request body for `content` that satisfies every rule of the contract.

    Keyword arguments replace fields (or add unknown ones); a field changed to REMOVE is left out.
    """
    document: dict[str, Any] = {
        "productId": "p-1",
        "productName": "Desk lamp",
        "price": 29.99,
        "fileName": "lamp.png",
        "contentType": "image/png",
        "fileContent": b64(content),
        "checksumSha256": sha256_b64(content),
    }
    document.update(changes)
    return {name: value for name, value in document.items() if value is not REMOVE}


def raw_price_body(doc: dict[str, Any], raw: str) -> str:
    """`doc` as JSON text with `price` written exactly as `raw` (29.990, 1E+2, NaN...)."""
    rest = {k: v for k, v in doc.items() if k != "price"}
    return json.dumps(rest)[:-1] + f', "price": {raw}}}'
