"""Bad request bodies and the exact plain words each must get back: one table for every test layer.

Plain Python only (no handler import), like tests/bodies.py: the handler-level tests
(tests/unit/test_plain_messages.py) and the HTTP tests (tests/e2e, local server or deployment)
read the same table. `error` is written out here, never imported from the handler's own table,
so a test against it can fail. `at_gateway`: API Gateway's model refuses the body (its message is
"Invalid request body"); otherwise the handler does ("Invalid request fields").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.bodies import REMOVE, b64, valid_document

MIB = 1024 * 1024
# What no plain message carries: regular-expression syntax and validator wording.
REGEX_SYNTAX = ("^", "$", "[", "]", "*", "+", "?", "{", "}", "|", "(?", "\\u", "\\d", "\\s")
VALIDATOR_WORDS = (
    "regex",
    "ECMA",
    "pattern",
    "instance",
    "remainder of division",
    "schema",
    "data.",
    "must match",
    "multiple of",
    "properties",
)
FIELDS = frozenset(
    {
        "productId",
        "productName",
        "price",
        "fileName",
        "contentType",
        "fileContent",
        "fileSize",
        "checksumSha256",
    }
)


@dataclass(frozen=True)
class BadInput:
    name: str
    error: str  # the exact `errors` entry (for a 413, the words its message must carry)
    changes: dict[str, Any] = field(default_factory=dict)  # to tests.bodies.valid_document
    raw: str | None = None  # the body text as sent, instead of changes
    status: int = 400
    at_gateway: bool = False

    @property
    def field(self) -> str:
        return self.error.split(": ", 1)[0]

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw.encode("utf-8", "surrogatepass")
        return json.dumps(valid_document(**self.changes)).encode("utf-8")


def _with_raw(text_field: str, raw_value: str) -> str:
    """A valid body with `text_field` written exactly as `raw_value` (JSON text)."""
    rest = valid_document(**{text_field: REMOVE})
    return json.dumps(rest)[:-1] + f', "{text_field}": {raw_value}}}'


SLASH = "fileName: must not contain / or \\"
PRODUCT_ID = (
    "productId: must start with a letter or digit, followed by letters, digits, dots, "
    "underscores, colons or hyphens only (no spaces)"
)
MIME = "contentType: must be a MIME type, type/subtype, such as image/png or application/pdf"
CHECKSUM = "checksumSha256: must be the file's SHA-256 digest in base64: 44 characters ending in =, not hex"
PRICE_TYPE = "price: must be a JSON number such as 29.99 (not a string or null)"

BAD_INPUTS: list[BadInput] = [
    BadInput("fileName-path", SLASH, {"fileName": "../../etc/passwd"}),
    BadInput("fileName-windows-path", SLASH, {"fileName": "C:\\Users\\me\\a.txt"}),
    BadInput(
        "fileName-bidi-control",
        "fileName: must not contain bidirectional control characters, which can disguise a name's extension"
        " (found U+202E)",
        {"fileName": "invoice\u202egnp.exe"},
    ),
    BadInput(
        "fileName-zero-width-space",
        "fileName: must not contain invisible characters (found U+200B)",
        {"fileName": "lamp\u200b.png"},
    ),
    BadInput(
        "fileName-division-slash",
        "fileName: must not contain characters that look like / or \\ (found U+2215)",
        {"fileName": "a\u2215b.png"},
    ),
    BadInput(
        "fileName-line-break",
        "fileName: must not contain control characters such as line breaks or tabs (found U+000A)",
        {"fileName": "a\nb.png"},
    ),
    BadInput("fileName-dot-dot", "fileName: must not be only dots and spaces", {"fileName": ".."}),
    BadInput("fileName-dot-space-dot", "fileName: must not be only dots and spaces", {"fileName": ". ."}),
    BadInput("fileName-empty", "fileName: must not be empty", {"fileName": ""}),
    BadInput("fileName-256-chars", "fileName: must be at most 255 characters", {"fileName": "f" * 256}),
    BadInput("fileName-number", "fileName: must be a string", {"fileName": 5}),
    BadInput("productId-space", PRODUCT_ID, {"productId": "lamp 42"}),
    BadInput("productId-slash", PRODUCT_ID, {"productId": "p/1"}),
    BadInput("productId-leading-dot", PRODUCT_ID, {"productId": ".p"}),
    BadInput("productId-number", "productId: must be a string", {"productId": 42}),
    BadInput("productId-empty", "productId: must not be empty", {"productId": ""}),
    BadInput("productId-129-chars", "productId: must be at most 128 characters", {"productId": "p" * 129}),
    BadInput("productName-empty", "productName: must not be empty", {"productName": ""}),
    BadInput(
        "productName-257-chars", "productName: must be at most 256 characters", {"productName": "n" * 257}
    ),
    BadInput(
        "productName-control-char",
        "productName: must not contain control characters (line breaks, tabs and the like)",
        {"productName": "lamp\x07"},
    ),
    BadInput("productName-list", "productName: must be a string", {"productName": ["lamp"]}),
    BadInput(
        "productName-lone-surrogate",
        "productName: must be valid Unicode text (no unpaired surrogates)",
        raw=_with_raw("productName", '"lamp \\ud800"'),
    ),
    BadInput("price-three-decimals", "price: at most 2 decimal places", {"price": 1.999}),
    BadInput("price-string", PRICE_TYPE, {"price": "29.99"}),
    BadInput("price-null", PRICE_TYPE, {"price": None}),
    BadInput("price-negative", "price: must be 0 or more", {"price": -0.01}),
    BadInput(
        "price-over-a-billion", "price: must be at most 1000000000 (one billion)", {"price": 1000000000.01}
    ),
    BadInput(
        "price-1e999999",
        "price: must be at most 1000000000 (one billion)",
        raw=_with_raw("price", "1e999999"),
    ),
    BadInput("contentType-no-subtype", MIME, {"contentType": "pdf"}),
    BadInput(
        "contentType-256-chars",
        "contentType: must be at most 255 characters",
        {"contentType": "a/" + "b" * 254},
    ),
    BadInput("contentType-number", "contentType: must be a string", {"contentType": 1}),
    BadInput(
        "contentType-html",
        "contentType: must not be a type a browser runs or renders as a page (HTML, SVG, XML, script); "
        "text/html is one",
        {"contentType": "text/html"},
    ),
    BadInput("checksumSha256-hex", CHECKSUM, {"checksumSha256": "9f86d081884c7d65" * 4}),
    BadInput(
        "checksumSha256-mismatch",
        "checksumSha256: does not match the SHA-256 of the file sent in fileContent",
        {"checksumSha256": b64(bytes(32))},
    ),
    BadInput(
        "fileContent-empty",
        "fileContent: must not be empty: the file's bytes in standard base64, at least 1 byte",
        {"fileContent": "", "checksumSha256": REMOVE},
    ),
    BadInput(
        "fileContent-not-base64",
        "fileContent: must be standard padded base64 (RFC 4648)",
        {"fileContent": "not base64!", "checksumSha256": REMOVE},
    ),
    BadInput(
        "fileContent-number",
        "fileContent: must be a string: the file's bytes in standard base64",
        {"fileContent": 1234, "checksumSha256": REMOVE},
    ),
    BadInput(
        "body-duplicate-field",
        "body: must not name a field more than once",
        raw=_with_raw("productId", '"p-1", "productId": "p-2"'),
    ),
    BadInput("price-missing", "price: is required", {"price": REMOVE}, at_gateway=True),
    BadInput("unknown-field", "owner: is not a known field", {"owner": "someone-else"}, at_gateway=True),
    BadInput("body-a-list", "body: must be a JSON object", raw="[]", at_gateway=True),
    BadInput("body-not-json", "body: must be a JSON object", raw="{", at_gateway=True),
]
# A file over the inline cap: 4 MiB + 1 byte reaches the function; 5 MiB makes an event over 6 MB.
TOO_LARGE = [
    BadInput(
        "file-4-MiB-plus-1",
        "4 MiB",
        {"fileContent": b64(b"\0" * (4 * MIB + 1)), "checksumSha256": REMOVE},
        status=413,
    ),
    BadInput(
        "file-5-MiB",
        "4 MiB",
        {"fileContent": b64(b"\0" * (5 * MIB)), "checksumSha256": REMOVE},
        status=413,
        at_gateway=True,
    ),
]


def plainness_faults(entry: str) -> list[str]:
    """What makes an `errors` entry not plain words: an empty list when it is plain."""
    field_name, _, words = entry.partition(": ")
    faults = []
    if field_name not in FIELDS | {"body", "owner"}:
        faults.append(f"names {field_name!r}, not one field")
    # A code point is written U+202E: its "+" is no regex syntax.
    bare = re.sub(r"U\+[0-9A-F]{4,6}", "", words)
    faults += [f"carries {syntax!r}" for syntax in REGEX_SYNTAX if syntax in bare]
    faults += [f"says {word!r}" for word in VALIDATOR_WORDS if word.lower() in words.lower()]
    return faults
