"""fileContent (strict padded base64, 1 byte..4 MiB) and checksumSha256."""

from __future__ import annotations

import base64
import json

import pytest
from upload_api import request as request_module
from upload_api.errors import PayloadTooLarge
from upload_api.request import MAX_FILE_BYTES

from tests.bodies import FILE_BYTES, b64, sha256_b64

FOUR_MIB = 4 * 1024 * 1024


def test_file_content_decodes_to_the_exact_bytes(document, parse):
    # GIVEN standard padded base64 of some binary bytes
    # WHEN the body is parsed
    request = parse(document)
    # THEN the content is those bytes and its SHA-256 is computed from them
    assert request.content == FILE_BYTES
    assert request.sha256_b64 == sha256_b64(FILE_BYTES)


@pytest.mark.parametrize("data", [b"\x00", b"ab", b"abc", bytes(range(256))], ids=["1", "2", "3", "256"])
def test_every_padding_length_is_accepted(document, parse, data):
    # GIVEN base64 with two, one or no padding characters
    document["fileContent"] = b64(data)
    del document["checksumSha256"]
    # WHEN the body is parsed
    request = parse(document)
    # THEN it decodes to the bytes that were encoded
    assert request.content == data


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("aGk*", id="bad-alphabet"),
        pytest.param("aGk-", id="url-safe-dash"),
        pytest.param("a_8=", id="url-safe-underscore"),
        pytest.param("aGk", id="missing-padding-3"),
        pytest.param("aGVsbG8", id="missing-padding-7"),
        pytest.param("aGVsbG8==", id="too-much-padding"),
        pytest.param("aGVs bG8=", id="inner-space"),
        pytest.param("aGVs\nbG8=", id="inner-newline"),
        pytest.param("aGk=\n", id="trailing-newline"),
        pytest.param(" aGk=", id="leading-space"),
        pytest.param("aGk=aGk=", id="padding-in-the-middle"),
        pytest.param("AA==AAAA", id="data-after-padding"),
        pytest.param("=AAA", id="leading-padding"),
        pytest.param("====", id="only-padding"),
        pytest.param("A===", id="three-padding"),
        pytest.param("aGk\u00e9", id="non-ascii-letter"),
        pytest.param("aGk\u0660", id="arabic-indic-digit"),
    ],
)
def test_file_content_that_is_not_strict_base64_is_a_400(document, rejection, text):
    # GIVEN fileContent that is not standard, padded, whitespace-free base64
    document["fileContent"] = text
    # WHEN the body is parsed
    error = rejection(json.dumps(document))
    # THEN it is a 400 about fileContent (never a 500 from the decoder)
    assert error.status == 400
    assert any(entry.startswith("fileContent") for entry in error.errors)


@pytest.mark.parametrize("value", ["", 123, None, ["aGk="]], ids=["empty", "number", "null", "array"])
def test_file_content_that_decodes_to_nothing_or_is_not_a_string_is_a_400(document, rejection, value):
    # GIVEN fileContent that is empty or not a string
    document["fileContent"] = value
    # WHEN the body is parsed
    error = rejection(json.dumps(document))
    # THEN it is a 400 about fileContent
    assert error.status == 400
    assert any(entry.startswith("fileContent") for entry in error.errors)


def test_exactly_four_mib_is_accepted(document, parse):
    # GIVEN a file of exactly 4 MiB (4,194,304 bytes)
    data = b"\xa5" * FOUR_MIB
    document["fileContent"] = b64(data)
    document["checksumSha256"] = sha256_b64(data)
    # WHEN the body is parsed
    request = parse(document)
    # THEN all of it is accepted
    assert MAX_FILE_BYTES == FOUR_MIB
    assert len(request.content) == FOUR_MIB


@pytest.mark.parametrize("extra", [1, 2, 3, 1024], ids=["+1", "+2", "+3", "+1KiB"])
def test_over_four_mib_is_a_413_without_decoding(document, rejection, monkeypatch, extra):
    # GIVEN a file just over 4 MiB (4 MiB + 1 and + 2 have the same base64 length as 4 MiB)
    document["fileContent"] = b64(b"\xa5" * (FOUR_MIB + extra))
    del document["checksumSha256"]
    body = json.dumps(document)
    # AND a decoder that fails the test if it is reached
    monkeypatch.setattr(request_module.base64, "b64decode", _must_not_decode)
    # WHEN the body is parsed
    error = rejection(body)
    # THEN it is a 413, decided from the text's length and padding alone
    assert isinstance(error, PayloadTooLarge)
    assert error.status == 413


def _must_not_decode(*_: object, **__: object) -> bytes:
    raise AssertionError("an oversize fileContent was decoded")


# ---------------------------------------------------------------- checksumSha256


def test_matching_checksum_is_accepted(document, parse):
    # GIVEN the base64 SHA-256 of the decoded bytes
    # WHEN the body is parsed
    request = parse(document)
    # THEN the request carries that digest
    assert request.sha256_b64 == document["checksumSha256"]


def test_checksum_of_other_bytes_is_a_400_mismatch(document, rejection):
    # GIVEN a well-formed SHA-256 of other bytes
    document["checksumSha256"] = sha256_b64(FILE_BYTES + b"!")
    # WHEN the body is parsed
    error = rejection(json.dumps(document))
    # THEN it is a 400 that says the checksum does not match, echoing neither digest
    assert error.status == 400
    assert error.reason == "checksum_mismatch"
    assert document["checksumSha256"] not in json.dumps(error.body())
    assert sha256_b64(FILE_BYTES) not in json.dumps(error.body())


@pytest.mark.parametrize(
    "checksum",
    [
        pytest.param("abc", id="short"),
        pytest.param("", id="empty"),
        pytest.param("0" * 64, id="hex"),
        pytest.param(sha256_b64(FILE_BYTES)[:-1], id="no-padding"),
        pytest.param(sha256_b64(FILE_BYTES) + "=", id="extra-padding"),
        pytest.param(base64.urlsafe_b64encode(b"\xfb" * 32).decode(), id="url-safe"),
        pytest.param(b64(b"\x00" * 31), id="31-bytes"),
        pytest.param(b64(b"\x00" * 33), id="33-bytes"),
        pytest.param(sha256_b64(FILE_BYTES) + "\n", id="trailing-newline"),
        pytest.param(None, id="null"),
    ],
)
def test_malformed_checksum_is_a_400_naming_the_field(document, rejection, checksum):
    # GIVEN a checksumSha256 that is not the base64 of 32 bytes
    document["checksumSha256"] = checksum
    # WHEN the body is parsed
    error = rejection(json.dumps(document))
    # THEN it is a 400 whose errors name checksumSha256
    assert error.status == 400
    assert any(entry.startswith("checksumSha256") for entry in error.errors)
