"""docs/api.md says what the schema, the OpenAPI document and the gateway responses do."""

from __future__ import annotations

import json
import re

from stages.upload.gateway_responses import SECURITY_HEADERS
from tools.dev.openapi.document import DOCUMENT_PATH, REPO_ROOT, SCHEMA_PATH

API_DOC = (REPO_ROOT / "docs" / "api.md").read_text(encoding="utf-8")
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def table_row(field: str) -> str:
    (row,) = [line for line in API_DOC.splitlines() if line.startswith(f"| `{field}` |")]
    return row


def test_length_bounds_in_the_table_are_the_schema_s():
    # GIVEN each string field with both bounds WHEN its row is read THEN it states "min to max characters"
    for field, rules in SCHEMA["properties"].items():
        if (
            "minLength" in rules
            and "maxLength" in rules
            and field in ("productId", "productName", "fileName")
        ):
            assert f"{rules['minLength']} to {rules['maxLength']} characters" in table_row(field), field


def test_required_fields_are_marked_required():
    for field in SCHEMA["properties"]:
        assert ("required" in table_row(field)) == (field in SCHEMA["required"]), field


def test_price_bounds_are_the_schema_s():
    price = SCHEMA["properties"]["price"]
    row = table_row("price")
    assert f"{price['maximum']:,}" in row
    assert f"from {price['minimum']}" in row
    assert price["multipleOf"] == 0.01
    assert "at most 2 decimal places" in row


def test_the_status_table_is_the_openapi_document_s():
    # GIVEN the statuses the doc's table lists WHEN compared with the OpenAPI responses THEN the same
    statuses = set(re.findall(r"^\| `(\d{3})`", API_DOC, re.MULTILINE))
    statuses |= {"500", "502", "503"} if "| `500`, `502`, `503` |" in API_DOC else set()
    responses = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))["paths"]["/upload"]["post"]["responses"]
    assert statuses | {"201"} == set(responses)


def test_the_headers_it_promises_are_the_gateway_s_and_the_handler_s():
    for name, value in SECURITY_HEADERS.items():
        assert f"`{name}: {value}`" in API_DOC
