"""The string fields' rules, one boundary per test: productId, productName, fileName, contentType."""

from __future__ import annotations

import json

import pytest
from upload_api.request import DEFAULT_CONTENT_TYPE

# ---------------------------------------------------------------- productId


@pytest.mark.parametrize("product_id", ["p", "P" * 128, "a9._:-Z", "0", "SKU:2026.11-x_y"])
def test_product_id_within_rules_is_accepted(document, parse, product_id):
    # GIVEN a productId of 1..128 characters that matches ^[A-Za-z0-9][A-Za-z0-9._:-]*$
    document["productId"] = product_id
    # WHEN the body is parsed
    request = parse(document)
    # THEN it is kept as sent
    assert request.product_id == product_id


@pytest.mark.parametrize(
    "product_id",
    [
        pytest.param("P" * 129, id="129-chars"),
        pytest.param("", id="empty"),
        pytest.param("-p", id="leading-dash"),
        pytest.param(".p", id="leading-dot"),
        pytest.param("p 1", id="space"),
        pytest.param("p/1", id="slash"),
        pytest.param("p\\1", id="backslash"),
        pytest.param("p\u00e9", id="non-ascii"),
        pytest.param("p-1\n", id="trailing-newline"),
        pytest.param(1, id="number"),
    ],
)
def test_product_id_breaking_a_rule_is_a_400_naming_the_field(document, rejection, product_id):
    # GIVEN a productId that is too long, empty, off-pattern or not a string
    document["productId"] = product_id
    # WHEN the body is parsed
    error = rejection(json.dumps(document))
    # THEN it is a 400 whose errors name productId
    assert error.status == 400
    assert any(entry.startswith("productId") for entry in error.errors)


# ---------------------------------------------------------------- productName


@pytest.mark.parametrize("name", ["x", "x" * 256, "Lämpchen 💡 «deluxe»", "a\u00a0b"])
def test_product_name_within_rules_is_accepted(document, parse, name):
    # GIVEN a productName of 1..256 characters with no control characters (any other Unicode is fine)
    document["productName"] = name
    # WHEN the body is parsed
    request = parse(document)
    # THEN it is kept as sent
    assert request.product_name == name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("x" * 257, id="257-chars"),
        pytest.param("", id="empty"),
        pytest.param("Desk lamp\n", id="trailing-newline"),
        pytest.param("Desk\tlamp", id="tab"),
        pytest.param("\x00lamp", id="nul"),
        pytest.param("lamp\x1f", id="unit-separator"),
        pytest.param("lamp\x7f", id="del"),
        pytest.param("lamp\x85", id="c1-nel"),
        pytest.param("lamp\x9f", id="c1-last"),
        pytest.param("lamp\ud800", id="lone-surrogate"),
        pytest.param(["lamp"], id="array"),
    ],
)
def test_product_name_breaking_a_rule_is_a_400_naming_the_field(document, rejection, name):
    # GIVEN a productName that is too long, empty, has a control character or cannot be UTF-8
    document["productName"] = name
    # WHEN the body is parsed
    error = rejection(json.dumps(document))
    # THEN it is a 400 whose errors name productName
    assert error.status == 400
    assert any(entry.startswith("productName") for entry in error.errors)


# ---------------------------------------------------------------- fileName


@pytest.mark.parametrize(
    "file_name", ["f", "f" * 255, "...a", ". .x", ".hidden", "a..b", " lamp.png", "Prospekt (Entwurf) ü.pdf"]
)
def test_file_name_within_rules_is_accepted(document, parse, file_name):
    # GIVEN a fileName of 1..255 characters, not only dots and spaces, with no separator or control char
    document["fileName"] = file_name
    # WHEN the body is parsed
    request = parse(document)
    # THEN it is kept as sent
    assert request.file_name == file_name


@pytest.mark.parametrize(
    "file_name",
    [
        pytest.param("f" * 256, id="256-chars"),
        pytest.param("", id="empty"),
        pytest.param(".", id="dot"),
        pytest.param("..", id="dot-dot"),
        pytest.param("../etc/passwd", id="traversal"),
        pytest.param("a/b.png", id="slash"),
        pytest.param("a\\b.png", id="backslash"),
        pytest.param("lamp\x00.png", id="nul"),
        pytest.param("lamp.png\n", id="trailing-newline"),
        pytest.param("..\n", id="dot-dot-newline"),
        pytest.param("lamp\r.png", id="carriage-return"),
        pytest.param("lamp\x9b.png", id="c1-csi"),
        pytest.param("lamp\udfff.png", id="lone-surrogate"),
        pytest.param(None, id="null"),
    ],
)
def test_file_name_breaking_a_rule_is_a_400_naming_the_field(document, rejection, file_name):
    # GIVEN a fileName that is too long, empty, a dot name, a path or has a control character
    document["fileName"] = file_name
    # WHEN the body is parsed
    error = rejection(json.dumps(document))
    # THEN it is a 400 whose errors name fileName
    assert error.status == 400
    assert any(entry.startswith("fileName") for entry in error.errors)


# ---------------------------------------------------------------- contentType


def test_content_type_defaults_to_octet_stream(document, parse):
    # GIVEN a body without contentType
    del document["contentType"]
    # WHEN the body is parsed
    request = parse(document)
    # THEN the default is application/octet-stream
    assert request.content_type == DEFAULT_CONTENT_TYPE == "application/octet-stream"


@pytest.mark.parametrize("content_type", ["image/png", "application/vnd.ms-excel", "text/x-c++", "a/b"])
def test_content_type_that_is_a_mime_type_is_kept(document, parse, content_type):
    # GIVEN a contentType of the form type/subtype
    document["contentType"] = content_type
    # WHEN the body is parsed
    request = parse(document)
    # THEN it is kept as sent
    assert request.content_type == content_type


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("image", id="no-subtype"),
        pytest.param("image/", id="empty-subtype"),
        pytest.param("/png", id="empty-type"),
        pytest.param("image/png; charset=utf-8", id="parameters"),
        pytest.param("image/png\n", id="trailing-newline"),
        pytest.param("image/png\r\nX-Injected: 1", id="header-injection"),
        pytest.param("image/png/x", id="two-slashes"),
        pytest.param("", id="empty"),
        pytest.param(None, id="null"),
    ],
)
def test_content_type_that_is_not_a_mime_type_is_a_400(document, rejection, content_type):
    # GIVEN a contentType that is not type/subtype
    document["contentType"] = content_type
    # WHEN the body is parsed
    error = rejection(json.dumps(document))
    # THEN it is a 400 whose errors name contentType
    assert error.status == 400
    assert any(entry.startswith("contentType") for entry in error.errors)


# ---------------------------------------------------------------- the document as a whole


@pytest.mark.parametrize("field", ["productId", "productName", "price", "fileName", "fileContent"])
def test_missing_required_field_is_a_400(document, rejection, field):
    # GIVEN a body without one of the required fields
    del document[field]
    # WHEN the body is parsed
    error = rejection(json.dumps(document))
    # THEN it is a 400 that names the field
    assert error.status == 400
    assert any(field in entry for entry in error.errors)


def test_optional_fields_may_be_left_out(document, parse):
    # GIVEN a body with only the required fields
    del document["contentType"], document["checksumSha256"]
    # WHEN the body is parsed
    request = parse(document)
    # THEN it is accepted and the checksum is computed, not required
    assert request.sha256_b64


def test_unknown_field_is_a_400(document, rejection):
    # GIVEN a body with a field the contract does not define
    document["owner"] = "someone-else"
    # WHEN the body is parsed
    error = rejection(json.dumps(document))
    # THEN it is a 400 naming the unknown field
    assert error.status == 400
    assert any("owner" in entry for entry in error.errors)
