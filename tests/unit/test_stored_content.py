"""Contract v2 stored-content rules: active content types, dangerous file names, Content-Disposition."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from upload_api.content import content_disposition, is_active_content
from upload_api.request import SCHEMA, parse_upload

# The contract's lists, spelled out here on purpose: the code's own constants are not the oracle.
CONTRACT_ACTIVE_TYPES = [
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
CONTRACT_ACCEPTED_TYPES = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/zip",
    "application/gzip",
    "video/mp4",
    "audio/mpeg",
    "application/octet-stream",
]
BIDI_CONTROLS = [
    "\u061c",
    "\u200e",
    "\u200f",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
]
INVISIBLE = ["\u00ad", "\u180e", "\u200b", "\u200c", "\u200d", *map(chr, range(0x2060, 0x2065)), "\ufeff"]
SLASH_LOOK_ALIKES = ["\u2044", "\u2215", "\u2216", "\u29f5", "\u29f8", "\u29f9", "\ufe68", "\uff0f", "\uff3c"]
FORBIDDEN_CHARACTERS = BIDI_CONTROLS + INVISIBLE + SLASH_LOOK_ALIKES
# RFC 5987 ext-value for UTF-8: attr-char or %XX.
_EXT_VALUE = re.compile(r"(?:[A-Za-z0-9!#$&+\-.^_`|~]|%[0-9A-F]{2})+")
_DISPOSITION = re.compile(r'attachment; filename="([ !#-\[\]-~]*)"; filename\*=UTF-8\'\'(.+)')

# ---------------------------------------------------------------- active content


@pytest.mark.parametrize("content_type", CONTRACT_ACTIVE_TYPES)
def test_contract_active_types_are_a_400_naming_content_type(document, rejection, content_type):
    # GIVEN an upload declared as a type a browser runs or renders as a page
    document["contentType"] = content_type
    # WHEN the body is parsed on a stage that does not allow active content (the default)
    error = rejection(json.dumps(document))
    # THEN it is a 400 whose errors name contentType
    assert error.status == 400
    assert error.errors
    assert all(entry.startswith("contentType") for entry in error.errors)


@pytest.mark.parametrize("content_type", ["TEXT/HTML", "Image/SVG+XML", "Application/JavaScript"])
def test_active_types_match_case_insensitively(document, rejection, content_type):
    # GIVEN an active type in any letter case
    document["contentType"] = content_type
    # WHEN the body is parsed
    error = rejection(json.dumps(document))
    # THEN it is refused like the lower-case spelling
    assert error.status == 400
    assert error.errors[0].startswith("contentType")


@pytest.mark.parametrize(
    "content_type",
    ["text/html; charset=utf-8", " text/html ", "TEXT/HTML;charset=UTF-8", "image/svg+xml; x=y"],
)
def test_parameters_and_whitespace_do_not_hide_active_content(content_type):
    # GIVEN an active type with parameters or padding (the schema refuses those today; the
    # rule must not depend on it)
    # WHEN it is classified
    # THEN it is active content
    assert is_active_content(content_type)


@pytest.mark.parametrize("content_type", ["application/rss+xml", "application/xslt+xml", "text/x-javascript"])
def test_other_xml_and_script_types_are_active(content_type):
    # GIVEN an XML MIME type (+xml suffix) or another JavaScript MIME type essence (WHATWG)
    # THEN it is active content too
    assert is_active_content(content_type)


@pytest.mark.parametrize("content_type", CONTRACT_ACCEPTED_TYPES)
def test_contract_passive_types_are_stored_as_sent(document, parse, content_type):
    # GIVEN an image (not SVG), PDF, text, office document, archive, media or octet-stream
    document["contentType"] = content_type
    # WHEN the body is parsed
    request = parse(document)
    # THEN it is accepted and kept
    assert request.content_type == content_type


@pytest.mark.parametrize("content_type", CONTRACT_ACTIVE_TYPES)
def test_a_stage_that_allows_active_content_stores_it(document, content_type):
    # GIVEN a stage with allowActiveContent true
    document["contentType"] = content_type
    # WHEN the body is parsed with that setting
    request = parse_upload(json.dumps(document), allow_active_content=True)
    # THEN the type is kept as sent
    assert request.content_type == content_type


# ---------------------------------------------------------------- dangerous file names


@pytest.mark.parametrize("character", FORBIDDEN_CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("position", ["start", "middle", "end"])
def test_bidi_invisible_and_slash_look_alikes_in_file_name_are_a_400(
    document, rejection, character, position
):
    # GIVEN a fileName holding one of the contract's forbidden code points
    name = {
        "start": f"{character}lamp.png",
        "middle": f"lamp{character}gnp.exe",
        "end": f"lamp.png{character}",
    }
    document["fileName"] = name[position]
    # WHEN the body is parsed
    error = rejection(json.dumps(document))
    # THEN it is a 400 naming fileName
    assert error.status == 400
    assert any(entry.startswith("fileName") for entry in error.errors)


@pytest.mark.parametrize("name", [".", "..", "...", " ", "   ", ". .", " . ", ".. ..", "." * 255])
def test_file_name_of_only_dots_and_spaces_is_a_400(document, rejection, name):
    # GIVEN a fileName made of nothing but dots and spaces
    document["fileName"] = name
    # WHEN the body is parsed
    error = rejection(json.dumps(document))
    # THEN it is a 400 naming fileName
    assert error.status == 400
    assert any(entry.startswith("fileName") for entry in error.errors)


@given(st.text(alphabet=st.sampled_from(FORBIDDEN_CHARACTERS), min_size=1, max_size=3), st.text(max_size=20))
def test_schema_pattern_refuses_every_name_holding_a_forbidden_character(bad, rest):
    # GIVEN any name holding a forbidden code point anywhere
    pattern = re.compile(SCHEMA["properties"]["fileName"]["pattern"])
    # THEN the schema's own pattern (what the gateway applies) does not match it
    assert not pattern.search(rest + bad + rest)


# ---------------------------------------------------------------- Content-Disposition


def _parse_disposition(value: str) -> tuple[str, str]:
    match = _DISPOSITION.fullmatch(value)
    assert match, value
    fallback, encoded = match.groups()
    assert _EXT_VALUE.fullmatch(encoded), encoded
    return fallback, unquote(encoded, encoding="utf-8", errors="strict")


def test_ascii_name_is_carried_unchanged_in_both_parameters():
    # GIVEN a plain ASCII name
    # WHEN the disposition is built
    fallback, name = _parse_disposition(content_disposition("lamp.png"))
    # THEN both parameters carry it as is
    assert (fallback, name) == ("lamp.png", "lamp.png")


def test_non_ascii_quotes_and_percent_are_encoded_and_replaced_in_the_fallback():
    # GIVEN a name with non-ASCII letters, a quote, a backslash-free percent sign and spaces
    value = content_disposition('Prospekt "ü" 100%.pdf')
    # THEN filename* carries it exactly, and the quoted fallback holds only safe ASCII
    fallback, name = _parse_disposition(value)
    assert name == 'Prospekt "ü" 100%.pdf'
    assert fallback == "Prospekt ___ 100_.pdf"
    assert value.isascii()


@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), min_size=1, max_size=255))
def test_disposition_round_trips_any_name_through_rfc_5987(name):
    # GIVEN any name UTF-8 can carry
    value = content_disposition(name)
    # THEN the header is ASCII, starts with attachment, and filename* decodes to the exact name
    assert value.isascii()
    assert value.startswith("attachment; ")
    _, decoded = _parse_disposition(value)
    assert decoded == name
