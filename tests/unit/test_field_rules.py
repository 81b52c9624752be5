"""The plain-words table covers the one request schema, and fileName's groups are its pattern's.

lambda/upload_api/field_rules.py words each schema rule for a person; these tests fail when the
schema gains a rule the table does not word, or when fileName's pattern and the character groups
that tell its rules apart drift.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from upload_api import field_rules
from upload_api.request import SCHEMA

from tests.bad_inputs import plainness_faults
from tools.dev.local.model_validation import js_end_anchors

# Keywords that say what a field is, not a rule a value can break.
NOT_RULES = {"description", "title"}
FILE_NAME = re.compile(js_end_anchors(SCHEMA["properties"]["fileName"]["pattern"]))


def schema_rules() -> list[tuple[str, str]]:
    return [
        (name, keyword)
        for name, rules in SCHEMA["properties"].items()
        for keyword in rules
        if keyword not in NOT_RULES and (name, keyword) != ("fileName", "pattern")
    ]


@pytest.mark.parametrize(("name", "keyword"), schema_rules())
def test_every_schema_rule_has_plain_words(name, keyword):
    # GIVEN a rule of the schema WHEN its words are looked up THEN they exist and are plain
    words = field_rules.MESSAGES[(name, keyword)]
    assert plainness_faults(f"{name}: {words}") == []


def test_every_message_is_plain():
    for (name, _), words in field_rules.MESSAGES.items():
        assert plainness_faults(f"{name}: {words}") == [], words


def test_every_character_the_file_name_pattern_refuses_has_its_own_words():
    # GIVEN every character of the Basic Multilingual Plane (surrogates aside)
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        name = f"a{char}b"
        # WHEN the schema's pattern judges a name carrying it
        refused = FILE_NAME.match(name) is None
        # THEN the handler names a rule exactly when the pattern refuses it
        fault = field_rules.file_name_fault(name)
        if refused:
            assert fault != "must be a plain file name", hex(code)
        grouped = (
            char in field_rules.SLASHES
            or field_rules.is_control(char)
            or char in field_rules.BIDI_CONTROLS
            or char in field_rules.INVISIBLE
            or char in field_rules.SLASH_LOOK_ALIKES
        )
        assert grouped == refused, hex(code)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=". ", min_size=1, max_size=8) | st.text(min_size=1, max_size=20))
def test_a_refused_name_is_told_which_rule_it_breaks(name):
    # GIVEN any name WHEN the pattern refuses it THEN the words name a specific rule, in plain words
    if FILE_NAME.match(name) is None:
        fault = field_rules.file_name_fault(name)
        assert fault != "must be a plain file name", name
        assert plainness_faults(f"fileName: {fault}") == []
