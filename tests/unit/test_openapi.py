"""docs/openapi.json is what `make openapi` makes from the one request schema, and valid OpenAPI 3."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft4Validator
from openapi_spec_validator import validate

from stages.upload.gateway_responses import SECURITY_HEADERS
from tests.bodies import valid_document
from tools.dev.openapi.__main__ import main
from tools.dev.openapi.document import DOCUMENT_PATH, SCHEMA_PATH, build_document, render

CHECKED_IN = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))


def test_the_checked_in_document_is_what_the_schema_gives():
    # GIVEN the request schema as it is now WHEN the document is built THEN it is the checked-in file
    assert DOCUMENT_PATH.read_text(encoding="utf-8") == render(build_document()), "run `make openapi`"


def test_the_document_is_valid_openapi_3():
    validate(CHECKED_IN)  # raises, naming the fault


def test_the_request_body_is_the_schema_file_itself():
    # GIVEN the schema file WHEN compared with the document's request schema
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    body = CHECKED_IN["components"]["schemas"]["UploadRequest"]
    # THEN they are equal, but for the $schema keyword OpenAPI 3.0 has no place for
    assert body == {key: value for key, value in schema.items() if key != "$schema"}
    Draft4Validator(body).validate(valid_document())


def test_every_status_of_the_contract_is_documented_with_the_handler_s_headers():
    responses = CHECKED_IN["paths"]["/upload"]["post"]["responses"]
    assert set(responses) == {"201", "202", "400", "403", "413", "415", "429", "500", "502", "503"}
    for status, response in responses.items():
        assert set(response["headers"]) == set(SECURITY_HEADERS), status
    assert CHECKED_IN["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_check_mode_fails_on_drift(tmp_path, capsys):
    # GIVEN a document that no longer matches the schema
    stale = tmp_path / "openapi.json"
    stale.write_text(DOCUMENT_PATH.read_text(encoding="utf-8").replace('"maxLength": 128', '"maxLength": 64'))
    # WHEN `python -m tools.dev.openapi --check` compares it THEN it exits 1, saying what to run
    assert main(["--out", str(stale), "--check"]) == 1
    assert "run `make openapi`" in capsys.readouterr().err
    # AND once regenerated it passes
    assert main(["--out", str(stale)]) == 0
    assert main(["--out", str(stale), "--check"]) == 0


@pytest.mark.parametrize("field", ["productId", "productName", "price", "fileName"])
def test_required_fields_are_required(field):
    assert field in CHECKED_IN["components"]["schemas"]["UploadRequest"]["required"]


def test_a_direct_upload_body_is_valid_against_the_document_and_its_202_is_described():
    # GIVEN a body with fileSize instead of fileContent (v3)
    body = valid_document(fileContent=None, fileSize=73400320)
    del body["fileContent"]
    # THEN the document's request schema accepts it, and the 202 names the upload's fields
    Draft4Validator(CHECKED_IN["components"]["schemas"]["UploadRequest"]).validate(body)
    accepted = CHECKED_IN["components"]["schemas"]["AcceptedResponse"]
    assert accepted["properties"]["upload"]["required"] == ["method", "url", "headers", "expiresAt"]
    assert accepted["properties"]["file"]["properties"]["status"]["enum"] == ["AWAITING_UPLOAD"]
