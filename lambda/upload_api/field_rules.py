"""Each rule of the request schema in plain words: what a client is told when a field breaks it.

request_schema.json says what a field must be in the words a validator reads (a regular
expression, a `multipleOf`); this table says the same to a person, keyed by field and schema
keyword. tests/unit/test_field_rules.py holds the two together: every (field, keyword) of the
schema has its words here. One `pattern` covers several rules of `fileName`; which of them a
name breaks is told apart by `file_name_fault`, whose character groups the same test checks
against that pattern, character by character.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, Optional, Tuple

# What the body as a whole must be, and the two rules about which fields are there.
BODY_FIELD = "body"
NOT_AN_OBJECT = "must be a JSON object"
REQUIRED = "is required"
UNKNOWN = "is not a known field"
BODY_FAULT = f"{BODY_FIELD}: {NOT_AN_OBJECT}"
# A body carries its file one way: inline (fileContent) or as a direct upload (fileSize).
FILE_FIELDS = ("fileContent", "fileSize")
ONE_FILE_FIELD_REQUIRED = {
    "fileContent": "is required unless fileSize is sent: the file in base64, up to 4 MiB",
    "fileSize": "is required unless fileContent is sent: the file's size in bytes, for a direct upload "
    "of up to 5 GiB",
}
SENT_WITH_OTHER = {
    "fileContent": "must not be sent together with fileSize: send the file inline, up to 4 MiB, "
    "or announce it in fileSize, not both",
    "fileSize": "must not be sent together with fileContent: announce the file's size for a direct "
    "upload, or send the file inline, not both",
}
REQUIRED_WITH_FILE_SIZE = "is required with fileSize: the file's SHA-256 digest in base64, which S3 checks"
MESSAGES: Dict[Tuple[str, str], str] = {
    ("productId", "type"): "must be a string",
    ("productId", "minLength"): "must not be empty",
    ("productId", "maxLength"): "must be at most 128 characters",
    ("productId", "pattern"): "must start with a letter or digit, followed by letters, digits, dots, "
    "underscores, colons or hyphens only (no spaces)",
    ("productName", "type"): "must be a string",
    ("productName", "minLength"): "must not be empty",
    ("productName", "maxLength"): "must be at most 256 characters",
    ("productName", "pattern"): "must not contain control characters (line breaks, tabs and the like)",
    ("price", "type"): "must be a JSON number such as 29.99 (not a string or null)",
    ("price", "minimum"): "must be 0 or more",
    ("price", "maximum"): "must be at most 1000000000 (one billion)",
    ("price", "multipleOf"): "at most 2 decimal places",
    ("fileName", "type"): "must be a string",
    ("fileName", "minLength"): "must not be empty",
    ("fileName", "maxLength"): "must be at most 255 characters",
    ("contentType", "type"): "must be a string",
    ("contentType", "minLength"): "must be a MIME type, type/subtype, such as image/png or application/pdf",
    ("contentType", "maxLength"): "must be at most 255 characters",
    ("contentType", "pattern"): "must be a MIME type, type/subtype, such as image/png or application/pdf",
    ("fileContent", "type"): "must be a string: the file's bytes in standard base64",
    ("fileContent", "minLength"): "must not be empty: the file's bytes in standard base64, at least 1 byte",
    ("checksumSha256", "type"): "must be a string",
    ("checksumSha256", "pattern"): "must be the file's SHA-256 digest in base64: 44 characters ending in =, "
    "not hex",
    ("fileSize", "type"): "must be a whole number of bytes",
    ("fileSize", "minimum"): "must be at least 1 byte",
    ("fileSize", "maximum"): "must be at most 5 GiB (5368709120 bytes)",
}

# fileName's pattern, rule by rule. Control characters: C0, DEL and C1.
SLASHES = frozenset("/\\")
BIDI_CONTROLS = frozenset(
    chr(code) for code in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
)
INVISIBLE = frozenset(
    chr(code) for code in (0x00AD, 0x180E, 0x200B, 0x200C, 0x200D, *range(0x2060, 0x2065), 0xFEFF)
)
SLASH_LOOK_ALIKES = frozenset(
    chr(code) for code in (0x2044, 0x2215, 0x2216, 0x29F5, 0x29F8, 0x29F9, 0xFE68, 0xFF0F, 0xFF3C)
)


def is_control(char: str) -> bool:
    return char <= "\x1f" or "\x7f" <= char <= "\x9f"


def _code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


def _first(name: str, group: FrozenSet[str]) -> Optional[str]:
    return next((char for char in name if char in group), None)


def file_name_fault(name: str) -> str:
    """Which of fileName's pattern rules `name` breaks, in plain words (the first found)."""
    if any(char in SLASHES for char in name):
        return "must not contain / or \\"
    control = next((char for char in name if is_control(char)), None)
    if control is not None:
        return (
            f"must not contain control characters such as line breaks or tabs (found {_code_point(control)})"
        )
    for group, words in (
        (BIDI_CONTROLS, "bidirectional control characters, which can disguise a name's extension"),
        (INVISIBLE, "invisible characters"),
        (SLASH_LOOK_ALIKES, "characters that look like / or \\"),
    ):
        found = _first(name, group)
        if found is not None:
            return f"must not contain {words} (found {_code_point(found)})"
    if name.strip(". ") == "":
        return "must not be only dots and spaces"
    return "must be a plain file name"  # not reached for a name the pattern refuses (see the tests)


def schema_fault(field: str, keyword: str, value: Any) -> str:
    """`field: <plain words>` for a value of `field` that breaks the schema's `keyword`."""
    if field == "fileName" and keyword == "pattern" and isinstance(value, str):
        return f"{field}: {file_name_fault(value)}"
    # The table covers the schema (a test says so); never a 500 if it one day does not.
    return f"{field}: {MESSAGES.get((field, keyword), 'is not valid')}"
