"""The OpenAPI 3 document of the upload API, generated from the one request schema (`make openapi`)."""
