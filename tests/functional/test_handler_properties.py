"""Property-based: whatever a client sends, the handler answers a 2xx/4xx with a JSON message.

The store is in memory (no AWS), so a 5xx here can only be the handler
failing on client input. Examples are bounded to keep the run to seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from upload_api import handler
from upload_api.storage import UploadStore

from tests.bodies import b64, sha256_b64

from .support import InMemoryDynamoDB, InMemoryS3, call_handler, make_event

# Contract v2: bidi controls, invisible format characters, look-alikes of slash and backslash.
FORBIDDEN_FILE_NAME_CHARACTERS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    "\u00ad\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"
    "\u2044\u2215\u2216\u29f5\u29f8\u29f9\ufe68\uff0f\uff3c"
)
ACTIVE_CONTENT_TYPES = [
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
    "application/ecmascript",
    "text/ecmascript",
    "application/x-javascript",
    "text/vbscript",
    "application/x-shockwave-flash",
    "application/hta",
]
PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CLIENT_STATUSES = {201, 400, 403, 413, 415}

# Any Unicode, including control characters and lone surrogates (json.dumps escapes those as \udXXX).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    any_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(any_text, inner, max_size=3)),
    max_leaves=8,
)


def _raw(value: Any) -> str:
    return json.dumps(value)


# Field values as raw JSON text, so numbers can be written in any spelling.
product_ids = st.one_of(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,130}\Z"), any_text, json_values).map(
    _raw
)
product_names = st.one_of(
    st.text(min_size=1, max_size=260), any_text, st.just("Desk lamp\n"), st.just("x" * 257), json_values
).map(_raw)
file_names = st.one_of(
    st.text(min_size=1, max_size=260),
    st.sampled_from([".", "..", "a/b", "a\\b", "lamp.png", "lamp.png\n", "\ud83d", "\udfff.png"]),
    json_values,
).map(_raw)
content_types = st.one_of(
    st.sampled_from(["image/png", "text/plain", "a/b", "image/png\n", "image", "image/png; x=y"]),
    any_text,
    json_values,
).map(_raw)
number_texts = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.from_regex(r"\A-?(0|[1-9][0-9]{0,12})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,4})?\Z"),
    st.sampled_from(["29.99", "29.990", "1E+2", "0", "-0", "1000000000", "1000000000.01", "1e400", "1e-400"]),
)
prices = st.one_of(number_texts, json_values.map(_raw), st.sampled_from(["NaN", "Infinity", "-Infinity"]))
payloads = st.binary(min_size=0, max_size=48)


@st.composite
def file_contents(draw: st.DrawFn) -> tuple[str, bytes | None]:
    """(raw JSON of fileContent, the bytes it encodes if it is valid base64)."""
    data = draw(payloads)
    text = b64(data)
    kind = draw(st.sampled_from(["valid", "inserted", "substituted", "text", "value"]))
    if kind == "valid":
        return _raw(text), data
    if kind in {"inserted", "substituted"}:
        # Substituting keeps the length a multiple of 4, so the text reaches the decoder.
        position = draw(st.integers(min_value=0, max_value=max(len(text) - 1, 0)))
        change = draw(st.sampled_from(["=", " ", "\n", "-", "_", "*", "é", "A", "==", "\u0660", "\x00"]))
        end = position + 1 if kind == "substituted" else position
        return _raw(text[:position] + change + text[end:]), None
    if kind == "text":
        return _raw(draw(any_text)), None
    return _raw(draw(json_values)), None


@st.composite
def checksums(draw: st.DrawFn, data: bytes | None) -> str | None:
    kind = draw(st.sampled_from(["absent", "right", "other", "text"]))
    if kind == "absent":
        return None
    if kind == "right" and data is not None:
        return _raw(sha256_b64(data))
    if kind == "other":
        return _raw(b64(draw(st.binary(min_size=32, max_size=32))))
    return _raw(draw(any_text))


@st.composite
def object_bodies(draw: st.DrawFn) -> str:
    """A JSON object with valid-ish, wrong-typed, missing or extra fields."""
    file_content, data = draw(file_contents())
    fields = {
        "productId": draw(product_ids),
        "productName": draw(product_names),
        "price": draw(prices),
        "fileName": draw(file_names),
        "fileContent": file_content,
    }
    if draw(st.booleans()):
        fields["contentType"] = draw(content_types)
    checksum = draw(checksums(data))
    if checksum is not None:
        fields["checksumSha256"] = checksum
    for name in draw(st.sets(st.sampled_from(sorted(fields)), max_size=2)):
        del fields[name]
    for name, value in draw(st.dictionaries(any_text, json_values, max_size=2)).items():
        fields.setdefault(name, _raw(value))
    return "{" + ",".join(f"{json.dumps(name)}:{raw}" for name, raw in fields.items()) + "}"


bodies = st.one_of(
    object_bodies(),
    json_values.map(json.dumps),
    any_text,
    st.sampled_from(["", "{", "[", "null", "{}", '{"price": NaN}', "\ufeff{}"]),
)
content_type_headers = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "text/plain",
            "application/jsonx",
            None,
        ]
    ),
    any_text,
)


@pytest.fixture(scope="module")
def in_memory_handler() -> Iterator[None]:
    """Module-wide (hypothesis reuses it across examples): the handler stores in memory."""
    with pytest.MonkeyPatch.context() as patch:
        store = UploadStore(
            s3_client=InMemoryS3(), dynamodb_client=InMemoryDynamoDB(), bucket_name="b", table_name="t"
        )
        patch.setattr(handler, "store", store)
        yield


@PROPERTY_SETTINGS
@given(body=bodies, content_type=content_type_headers)
def test_any_request_gets_a_client_status_and_a_json_message(in_memory_handler, body, content_type):
    # GIVEN an arbitrary body and Content-Type
    event = make_event(body, content_type=content_type)
    # WHEN the handler answers
    response = call_handler(event)
    # THEN it is never a 5xx, and every non-201 is a JSON object with a string message
    assert response.status in CLIENT_STATUSES, response.text
    if response.status != 201:
        assert isinstance(response.json, dict)
        assert isinstance(response.json["message"], str)


@PROPERTY_SETTINGS
@given(body=object_bodies())
def test_any_json_object_gets_a_client_status_and_a_json_message(in_memory_handler, body):
    # GIVEN an arbitrary, mostly valid-looking JSON object sent as application/json
    event = make_event(body)
    # WHEN the handler answers
    response = call_handler(event)
    # THEN it is never a 5xx, and the body is a JSON object (with a message unless created)
    assert response.status in CLIENT_STATUSES, response.text
    assert isinstance(response.json, dict)
    if response.status != 201:
        assert isinstance(response.json["message"], str)


@st.composite
def valid_documents(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A document every rule accepts, and its price as written (0.00..1000000000.00, any spelling)."""
    cents = draw(st.integers(min_value=0, max_value=100_000_000_000))
    spelling = draw(st.sampled_from(["plain", "padded", "exponent"]))
    whole, fraction = divmod(cents, 100)
    price = {
        "plain": str(Decimal(cents) / 100),
        "padded": f"{whole}.{fraction:02d}",
        "exponent": f"{cents}E-2",
    }[spelling]
    data = draw(st.binary(min_size=1, max_size=64))
    document = {
        "productId": draw(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")),
        "productName": draw(
            st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=256).filter(
                lambda name: not any(0x7F <= ord(c) <= 0x9F for c in name)
            )
        ),
        "fileName": draw(
            st.text(
                st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="/\\"),
                min_size=1,
                max_size=255,
            )
            .filter(lambda name: name.strip(". ") != "")
            .filter(lambda name: not any(0x7F <= ord(c) <= 0x9F for c in name))
            .filter(lambda name: not any(c in FORBIDDEN_FILE_NAME_CHARACTERS for c in name))
        ),
        "fileContent": b64(data),
    }
    return document, price


@PROPERTY_SETTINGS
@given(
    valid=valid_documents(),
    product_name=st.one_of(
        any_text, st.text(st.sampled_from("\x00\x1f\x7f\x85\n\ud800\udfffa€"), max_size=4)
    ),
    file_name=st.one_of(any_text, st.sampled_from([".", "..", "a/b", "a\\b", "\ud83d", "x\udfff.png"])),
)
def test_any_unicode_in_the_free_text_fields_never_fails_the_server(
    in_memory_handler, valid, product_name, file_name
):
    # GIVEN an otherwise valid document whose productName and fileName are any Unicode at all
    document, price = valid
    document.update(productName=product_name, fileName=file_name)
    body = json.dumps(document)[:-1] + f', "price": {price}}}'
    # WHEN the handler answers
    response = call_handler(make_event(body))
    # THEN it is created or refused as the client's fault, never a 5xx
    assert response.status in {201, 400}, response.text
    if response.status == 201:
        assert (response.json["productName"], response.json["file"]["key"].rsplit("/", 1)[1]) == (
            product_name,
            file_name,
        )


@PROPERTY_SETTINGS
@given(valid=valid_documents())
def test_any_valid_document_is_created_with_the_price_it_was_sent(in_memory_handler, valid):
    # GIVEN a document within every rule, its price in any JSON spelling
    document, price = valid
    body = json.dumps(document)[:-1] + f', "price": {price}}}'
    # WHEN the handler answers
    response = call_handler(make_event(body))
    # THEN it is created, and the price read back is the same decimal number
    assert response.status == 201, response.text
    assert json.loads(response.text, parse_float=Decimal)["price"] == Decimal(price)


# -- contract v2: stored content ------------------------------------------------------------------


@st.composite
def names_with_a_forbidden_character(draw: st.DrawFn) -> str:
    """A valid-looking name with one forbidden code point spliced in anywhere."""
    name = draw(st.sampled_from(["lamp.png", "invoice.pdf", "a", "exe.txt"]))
    position = draw(st.integers(min_value=0, max_value=len(name)))
    character = draw(st.sampled_from(sorted(FORBIDDEN_FILE_NAME_CHARACTERS)))
    return name[:position] + character + name[position:]


@PROPERTY_SETTINGS
@given(
    valid=valid_documents(),
    file_name=st.one_of(names_with_a_forbidden_character(), st.text(". ", min_size=1)),
)
def test_any_dangerous_file_name_is_a_400_naming_file_name(in_memory_handler, valid, file_name):
    # GIVEN an otherwise valid document whose fileName holds a bidi, invisible or slash-like
    # character, or is only dots and spaces
    document, price = valid
    document["fileName"] = file_name
    body = json.dumps(document)[:-1] + f', "price": {price}}}'
    # WHEN the handler answers
    response = call_handler(make_event(body))
    # THEN it is a 400 whose errors name fileName
    assert response.status == 400, response.text
    assert any(entry.startswith("fileName") for entry in response.json["errors"])


@PROPERTY_SETTINGS
@given(valid=valid_documents(), content_type=st.sampled_from(ACTIVE_CONTENT_TYPES), data=st.data())
def test_any_active_content_type_in_any_case_is_a_400_naming_content_type(
    in_memory_handler, valid, content_type, data
):
    # GIVEN an otherwise valid document declared as active content, letters in any case
    document, price = valid
    document["contentType"] = "".join(c.upper() if data.draw(st.booleans()) else c for c in content_type)
    body = json.dumps(document)[:-1] + f', "price": {price}}}'
    # WHEN the handler answers (the stage does not allow active content)
    response = call_handler(make_event(body))
    # THEN it is a 400 whose errors name contentType, and nothing was stored
    assert response.status == 400, response.text
    assert [entry.split(":")[0] for entry in response.json["errors"]] == ["contentType"]


@PROPERTY_SETTINGS
@given(valid=valid_documents())
def test_any_stored_object_is_an_attachment_carrying_its_exact_name(valid):
    # GIVEN any valid document, stored through a recording S3
    document, price = valid
    s3 = InMemoryS3()
    recorded: list[dict[str, Any]] = []
    put_object = s3.put_object

    def recording_put(**params: Any) -> dict[str, Any]:
        recorded.append(params)
        return put_object(**params)

    s3.put_object = recording_put  # type: ignore[method-assign]
    store = UploadStore(s3_client=s3, dynamodb_client=InMemoryDynamoDB(), bucket_name="b", table_name="t")
    body = json.dumps(document)[:-1] + f', "price": {price}}}'
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(handler, "store", store)
        response = call_handler(make_event(body))
    # THEN the object was written as an attachment whose filename* decodes to the exact file name
    assert response.status == 201, response.text
    (params,) = recorded
    disposition = params["ContentDisposition"]
    assert disposition.isascii()
    assert disposition.startswith('attachment; filename="')
    encoded = disposition.split("; filename*=UTF-8''", 1)[1]
    assert unquote(encoded, errors="strict") == document["fileName"]
