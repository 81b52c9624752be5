"""Parse and validate an upload request body.

The JSON Schema in request_schema.json is the one contract: API Gateway's model,
this module and the local server all read it. This module adds what a schema
cannot say: strict base64, the decoded size limit and the checksum.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import fastjsonschema

from upload_api import field_rules
from upload_api.content import check_content_type
from upload_api.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

SCHEMA_PATH = Path(__file__).with_name("request_schema.json")
SCHEMA: Dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
# fastjsonschema (what Powertools' validator wraps) compiled once per cold start;
# Powertools' validate() would compile it again on every request.
_validate_schema = fastjsonschema.compile(SCHEMA)

MAX_FILE_BYTES = 4 * 1024 * 1024
# A direct upload's largest file: S3's limit for one PUT (5 GiB), the schema's fileSize maximum.
MAX_DIRECT_FILE_BYTES = 5 * 1024 * 1024 * 1024
# Longest padded base64 text of MAX_FILE_BYTES. The exact decoded size is worked
# out from the text's length and padding before decoding (_decoded_size), so an
# oversize upload, even by one byte, costs no decode.
MAX_ENCODED_CHARS = 4 * ((MAX_FILE_BYTES + 2) // 3)
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# The handler's message for a field rule; API Gateway's validator says "Invalid request body"
# (the verifier tells who refused a body by it: tools/pipeline_checks/verify/probes.py).
INVALID_FIELDS = "Invalid request fields"
# The 413 for an inline file over the cap: the limit, and the way to send a larger file.
FILE_TOO_LARGE = (
    "fileContent: the file is larger than the 4 MiB (4,194,304 bytes) an upload can carry inline; "
    "send a larger file, up to 5 GiB, with fileSize instead of fileContent (a direct upload to S3)"
)

_JSON_MEDIA_TYPE = re.compile(r"^\s*application/json\s*(;\s*charset\s*=\s*\"?utf-8\"?\s*)?$", re.I)


@dataclass(frozen=True)
class _UploadFields:
    """What every upload names: the product, its price, and the file's name, type and SHA-256 (base64)."""

    product_id: str
    product_name: str
    price: Decimal
    file_name: str
    content_type: str
    sha256_b64: str


@dataclass(frozen=True)
class UploadRequest(_UploadFields):
    """A body with fileContent: the handler decoded the bytes and computed their SHA-256."""

    content: bytes


@dataclass(frozen=True)
class DirectUploadRequest(_UploadFields):
    """A body with fileSize: the client sends the bytes to S3 itself, the handler never sees them."""

    size: int


ParsedUpload = Union[UploadRequest, DirectUploadRequest]


def require_json_content_type(content_type: Optional[str]) -> None:
    """415 unless the media type is application/json (UTF-8 is JSON's only charset here)."""
    if not content_type or not _JSON_MEDIA_TYPE.match(content_type):
        raise UnsupportedMediaType("Content-Type must be application/json")


def parse_upload(body: Optional[str], *, allow_active_content: bool = False) -> ParsedUpload:
    """Turn a raw JSON body into a checked UploadRequest (fileContent) or DirectUploadRequest
    (fileSize), or raise an ApiError.

    `allow_active_content`: the stage's allowActiveContent setting (HTML, SVG, script... stored).
    """
    document = _load_json(body)
    if not isinstance(document, dict):
        raise BadRequest(
            "Request body must be a JSON object", [field_rules.BODY_FAULT], reason="not_an_object"
        )
    _check_schema(document)
    content_type = document.get("contentType", DEFAULT_CONTENT_TYPE)
    check_content_type(content_type, allow_active_content=allow_active_content)
    if "fileSize" in document:
        return _direct_upload(document, content_type)
    content = _decode_file(document["fileContent"])
    digest = base64.b64encode(hashlib.sha256(content).digest()).decode("ascii")
    expected = document.get("checksumSha256")
    if expected is not None and expected != digest:
        raise BadRequest(
            "checksumSha256 does not match the decoded fileContent",
            ["checksumSha256: does not match the SHA-256 of the file sent in fileContent"],
            reason="checksum_mismatch",
        )
    return UploadRequest(**_named_fields(document, content_type), sha256_b64=digest, content=content)


def _named_fields(document: Dict[str, Any], content_type: str) -> Dict[str, Any]:
    """The checked body's product and file fields, as both kinds of request hold them."""
    return {
        "product_id": document["productId"],
        "product_name": document["productName"],
        "price": Decimal(document["price"]),
        "file_name": document["fileName"],
        "content_type": content_type,
    }


def _direct_upload(document: Dict[str, Any], content_type: str) -> DirectUploadRequest:
    """The schema checked fileSize's range; S3 checks the bytes against it and the checksum."""
    checksum = document.get("checksumSha256")
    if checksum is None:
        raise BadRequest(
            INVALID_FIELDS,
            [f"checksumSha256: {field_rules.REQUIRED_WITH_FILE_SIZE}"],
            reason="schema",
        )
    return DirectUploadRequest(
        **_named_fields(document, content_type), sha256_b64=checksum, size=int(document["fileSize"])
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _DuplicateKey(ValueError):
    """An object names a member twice: json keeps the last, another parser may keep the first."""


def _object_without_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise _DuplicateKey("duplicate member name")
    return document


def _load_json(body: Optional[str]) -> Any:
    if not body:
        raise BadRequest("Request body must be a JSON object", [field_rules.BODY_FAULT], reason="empty_body")
    try:
        # Decimal keeps the price exactly as sent, and takes integers of any length (int() refuses
        # over 4,300 digits); NaN and Infinity are not JSON.
        return json.loads(
            body,
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_object_without_duplicates,
        )
    except _DuplicateKey:
        # The gateway's validator and this parser could each see a different value: refuse both.
        raise BadRequest(
            "Request body names a field more than once",
            ["body: must not name a field more than once"],
            reason="invalid_json",
        ) from None
    except RecursionError:
        # The C decoder gives up on nesting deeper than the interpreter's recursion limit.
        raise BadRequest(
            "Request body is nested too deeply",
            ["body: must not be nested this deeply"],
            reason="invalid_json",
        ) from None
    except ValueError:  # JSONDecodeError is a ValueError
        raise BadRequest(
            "Request body is not valid JSON", [field_rules.BODY_FAULT], reason="invalid_json"
        ) from None


def _check_schema(document: Dict[str, Any]) -> None:
    # A file over the cap is a 413, not a schema error: look before validating.
    file_content = document.get("fileContent")
    if isinstance(file_content, str) and _decoded_size(file_content) > MAX_FILE_BYTES:
        raise _file_too_large()
    _check_field_names(document)
    try:
        _validate_schema(_schema_view(document))
    except fastjsonschema.JsonSchemaValueException as error:
        # error.name is "data.<field>": every rule below the top is a field's. Never echo error.value.
        field = (error.name or "").partition(".")[2] or field_rules.BODY_FIELD
        fault = field_rules.schema_fault(field, error.rule or "", document.get(field))
        raise BadRequest(INVALID_FIELDS, [fault], reason="schema") from None
    _check_unicode(document)


def _check_field_names(document: Dict[str, Any]) -> None:
    """Every missing and every unknown field at once, one entry each, as API Gateway's validator says."""
    missing = sorted(set(SCHEMA["required"]) - set(document))
    unknown = sorted(set(document) - set(SCHEMA["properties"]))
    faults = [f"{name}: {field_rules.REQUIRED}" for name in missing]
    # An unknown name is echoed; a lone surrogate in it (valid JSON, no UTF-8) as its escape.
    faults += [f"{_printable(name)}: {field_rules.UNKNOWN}" for name in unknown]
    faults += _file_field_faults(document)
    if faults:
        raise BadRequest(INVALID_FIELDS, faults, reason="schema")


def _file_field_faults(document: Dict[str, Any]) -> List[str]:
    """Exactly one of fileContent and fileSize: both, or neither, names each of the two."""
    sent = [name for name in field_rules.FILE_FIELDS if name in document]
    if len(sent) == 1:
        return []
    words = field_rules.SENT_WITH_OTHER if sent else field_rules.ONE_FILE_FIELD_REQUIRED
    return [f"{name}: {words[name]}" for name in field_rules.FILE_FIELDS]


def _printable(name: str) -> str:
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


# The free-text fields; both end up in a key (S3 or DynamoDB). The schema's
# patterns keep productId, contentType and checksumSha256 ASCII.
_TEXT_FIELDS = ("productName", "fileName")


def _check_unicode(document: Dict[str, Any]) -> None:
    """A JSON escape like \\ud800 is a lone surrogate: valid JSON, but no UTF-8 can
    carry it, so S3 and DynamoDB could not be sent it. It is the client's fault: 400."""
    for name in _TEXT_FIELDS:
        value = document.get(name)
        if value is None:
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(
                INVALID_FIELDS,
                [f"{name}: must be valid Unicode text (no unpaired surrogates)"],
                reason="schema",
            ) from None


def _schema_view(document: Dict[str, Any]) -> Dict[str, Any]:
    """The document as fastjsonschema expects it: the price as a float.

    fastjsonschema checks `multipleOf: 0.01` exactly, through Decimal(repr(price)),
    when the price is a float. A float is only handed over when it is exactly the
    decimal that was sent; a price a double cannot hold has too many digits for
    the schema (> 2 decimals or > 1e9), and is refused as such.
    """
    document = _file_size_view(document)
    price = document.get("price")
    if not isinstance(price, Decimal):
        return document
    # A price no double can hold (1e999999 is infinite as a float) is refused for the bound it
    # breaks, before the float conversion could say something else.
    rules = SCHEMA["properties"]["price"]
    if price > rules["maximum"]:
        raise _price_error("maximum")
    if price < rules["minimum"]:
        raise _price_error("minimum")
    as_float = float(price)
    if Decimal(repr(as_float)) != price:
        raise _price_error("multipleOf")
    return {**document, "price": as_float}


def _file_size_view(document: Dict[str, Any]) -> Dict[str, Any]:
    """fileSize as an int when it is a whole number in range: the schema's `integer` wants an int.

    The bounds are checked on the Decimal first, so a size like 1e999999999 is refused for its
    maximum without ever being turned into a number with a billion digits.
    """
    size = document.get("fileSize")
    if not isinstance(size, Decimal):
        return document
    rules = SCHEMA["properties"]["fileSize"]
    for keyword, out_of_range in (("maximum", size > rules["maximum"]), ("minimum", size < rules["minimum"])):
        if out_of_range:
            raise BadRequest(
                INVALID_FIELDS, [field_rules.schema_fault("fileSize", keyword, None)], reason="schema"
            )
    if size != size.to_integral_value():
        return document  # a fraction: the schema refuses it as not a whole number
    return {**document, "fileSize": int(size)}


def _price_error(keyword: str) -> BadRequest:
    return BadRequest(INVALID_FIELDS, [field_rules.schema_fault("price", keyword, None)], reason="schema")


def _decoded_size(text: str) -> int:
    """The byte count padded base64 `text` decodes to, without decoding it.

    Exact for valid padded base64. Anything else is refused by the strict
    decoder, and the decoded size is checked again after decoding.
    """
    padding = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return (len(text) + 3) // 4 * 3 - padding


def _decode_file(text: str) -> bytes:
    if len(text) % 4:
        raise _bad_base64()
    try:
        content = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: a non-ASCII character in the text
        raise _bad_base64() from None
    if len(content) > MAX_FILE_BYTES:
        raise _file_too_large()
    if not content:
        raise BadRequest(
            "fileContent must decode to at least 1 byte",
            ["fileContent: must decode to at least 1 byte"],
            reason="empty_file",
        )
    return content


def _file_too_large() -> PayloadTooLarge:
    return PayloadTooLarge(FILE_TOO_LARGE, ["fileContent: must decode to at most 4 MiB (4,194,304 bytes)"])


def _bad_base64() -> BadRequest:
    return BadRequest(
        "fileContent is not valid base64",
        ["fileContent: must be standard padded base64 (RFC 4648)"],
        reason="invalid_base64",
    )
