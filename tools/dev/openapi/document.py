"""Build the OpenAPI 3.0 document of POST /upload from lambda/upload_api/request_schema.json.

The request body's schema is the schema file itself (the one the API Gateway model, the handler
and the local gateway read), less the `$schema` keyword, which OpenAPI 3.0's Schema Object does
not have. Everything else here is the contract (docs/api.md): the 201 body, the error body, the
statuses, the headers every answer carries, and IAM (SigV4) authorization; (v3) the 202 of a
direct upload.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.common.paths import REPO_ROOT

SCHEMA_PATH = REPO_ROOT / "lambda" / "upload_api" / "request_schema.json"
DOCUMENT_PATH = REPO_ROOT / "docs" / "openapi.json"
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DIRECT_FILE_BYTES = 5 * 1024 * 1024 * 1024

_STRING = {"type": "string"}
_HEADERS = {
    "Cache-Control": {"description": "Never cached.", "schema": {"type": "string", "enum": ["no-store"]}},
    "X-Content-Type-Options": {
        "description": "Never content-sniffed.",
        "schema": {"type": "string", "enum": ["nosniff"]},
    },
}
_ERRORS = {
    "400": "The body is not JSON, not an object, breaks a field rule, has bad base64, or its checksum "
    "does not match. `errors` names each field at fault (`body` when the body as a whole is wrong).",
    "403": "Another method or path (`Missing Authentication Token`), or, with IAM auth, a missing or "
    "invalid signature.",
    "413": "The body is larger than the API accepts (10 MiB, or Lambda's 6 MB event), or the decoded "
    "file is over 4 MiB.",
    "415": "`Content-Type` is not `application/json`.",
    "429": "Over the stage's rate limit (`Too Many Requests`).",
    "500": "A server-side fault; a generic message, never caused by a request body.",
    "502": "A server-side fault (the function failed); a generic message.",
    "503": "A server-side fault (a dependency is unavailable); a generic message.",
}


def request_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """The request schema as an OpenAPI 3.0 Schema Object."""
    schema = json.loads(path.read_text(encoding="utf-8"))
    return {key: value for key, value in schema.items() if key != "$schema"}


def upload_response_schema() -> dict[str, Any]:
    file_schema = {
        "type": "object",
        "required": ["key", "versionId", "size", "contentType", "sha256"],
        "properties": {
            "key": {
                "type": "string",
                "description": "Always `uploads/{productId}/{uuid4}/{fileName}`: chosen by the server.",
            },
            "versionId": {"type": "string", "description": "The S3 object version holding the bytes."},
            "size": {"type": "integer", "minimum": 1, "maximum": MAX_FILE_BYTES},
            "contentType": {"type": "string"},
            "sha256": {"type": "string", "description": "Base64 SHA-256 of the stored bytes."},
            "scanStatus": {
                "type": "string",
                "enum": ["PENDING", "NO_THREATS_FOUND", "THREATS_FOUND"],
                "description": "Only where the stage scans uploads for malware.",
            },
        },
    }
    return {
        "type": "object",
        "required": ["productId", "productName", "price", "file", "uploadedAt"],
        "properties": {
            "productId": _STRING,
            "productName": _STRING,
            "price": {"type": "number", "description": "Exactly as sent: 29.99 comes back as 29.99."},
            "file": file_schema,
            "uploadedAt": {"type": "string", "format": "date-time", "example": "2026-11-23T04:20:00.123Z"},
        },
    }


def accepted_response_schema() -> dict[str, Any]:
    """(v3) The 202 of a direct upload: the file as it will be stored, and the PUT that sends it."""
    file_schema = {
        "type": "object",
        "required": ["key", "size", "contentType", "sha256", "status"],
        "properties": {
            "key": {
                "type": "string",
                "description": "Always `uploads/{productId}/{uuid4}/{fileName}`: chosen by the server.",
            },
            "size": {"type": "integer", "minimum": 1, "maximum": MAX_DIRECT_FILE_BYTES},
            "contentType": {"type": "string"},
            "sha256": {"type": "string", "description": "Base64 SHA-256 the object must have."},
            "status": {"type": "string", "enum": ["AWAITING_UPLOAD"]},
        },
    }
    upload_schema = {
        "type": "object",
        "required": ["method", "url", "headers", "expiresAt"],
        "properties": {
            "method": {"type": "string", "enum": ["PUT"]},
            "url": {"type": "string", "description": "A presigned S3 URL (SigV4) for this one key."},
            "headers": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Send every one unchanged: each is signed, so S3 refuses the PUT otherwise.",
            },
            "expiresAt": {
                "type": "string",
                "format": "date-time",
                "description": "At most 15 minutes after the 202; S3 refuses the URL after it.",
            },
        },
    }
    return {
        "type": "object",
        "required": ["productId", "productName", "price", "file", "upload"],
        "properties": {
            "productId": _STRING,
            "productName": _STRING,
            "price": {"type": "number", "description": "Exactly as sent."},
            "file": file_schema,
            "upload": upload_schema,
        },
    }


def error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["message"],
        "additionalProperties": False,
        "properties": {
            "message": {"type": "string", "description": "Human readable."},
            "errors": {
                "type": "array",
                "items": {"type": "string"},
                "description": 'One string per fault, each starting with its field: "price: ...".',
            },
        },
    }


def build_document() -> dict[str, Any]:
    """The whole document, deterministic (the checked-in file must equal it)."""
    json_error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    responses: dict[str, Any] = {
        "201": {
            "description": "Stored: the object holds exactly the decoded bytes; the item points at it.",
            "headers": _HEADERS,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UploadResponse"}}},
        },
        "202": {
            "description": "(v3) A direct upload (fileSize) was accepted: PUT the file's bytes to "
            "`upload.url` with `upload.headers`; the item is written once S3 has them.",
            "headers": _HEADERS,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AcceptedResponse"}}},
        },
    }
    for status, description in _ERRORS.items():
        responses[status] = {"description": description, "headers": _HEADERS, "content": json_error}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Upload API",
            "version": "3",
            "description": "Upload one product file. The contract in prose: docs/api.md. Generated by "
            "`make openapi` from lambda/upload_api/request_schema.json; do not edit by hand.",
        },
        "servers": [
            {
                "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}",
                "description": "A deployed stage: the stack output ApiUrl, without its trailing slash.",
                "variables": {
                    "restApiId": {"default": "example123"},
                    "region": {"default": "us-east-1"},
                    "stage": {"default": "dev", "description": "The API stage name of the deployment."},
                },
            },
            {
                "url": "http://127.0.0.1:{port}/{stage}",
                "description": "`make local` (unsigned).",
                "variables": {"port": {"default": "3000"}, "stage": {"default": "dev"}},
            },
        ],
        "security": [{"sigv4": []}],
        "paths": {
            "/upload": {
                "post": {
                    "operationId": "upload",
                    "summary": "Upload a product file",
                    "description": "A second upload for the same (productId, productName) replaces the "
                    "item; the earlier object stays in the versioned bucket under its own key.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/UploadRequest"}}
                        },
                    },
                    "responses": responses,
                }
            }
        },
        "components": {
            "schemas": {
                "UploadRequest": request_schema(),
                "UploadResponse": upload_response_schema(),
                "AcceptedResponse": accepted_response_schema(),
                "Error": error_schema(),
            },
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "AWS Signature Version 4 (service execute-api), when the stage's "
                    "apiAuth is iam (the default). Local mode does not check signatures.",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            },
        },
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
