"""Request-body builders shared by the unit tests: one valid document, changed one field at a time."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

FILE_BYTES = b"\x89PNG\r\n\x1a\n not really a lamp picture \x00\xff"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha256_b64(data: bytes) -> str:
    return b64(hashlib.sha256(data).digest())


def valid_document() -> dict[str, Any]:
    """A request body that satisfies every rule of the contract."""
    return {
        "productId": "p-1",
        "productName": "Desk lamp",
        "price": 29.99,
        "fileName": "lamp.png",
        "contentType": "image/png",
        "fileContent": b64(FILE_BYTES),
        "checksumSha256": sha256_b64(FILE_BYTES),
    }


def raw_price_body(doc: dict[str, Any], raw: str) -> str:
    """`doc` as JSON text with `price` written exactly as `raw` (29.990, 1E+2, NaN...)."""
    rest = {k: v for k, v in doc.items() if k != "price"}
    return json.dumps(rest)[:-1] + f', "price": {raw}}}'
