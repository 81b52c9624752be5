"""Fixtures for parsing one request body and catching its rejection."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from upload_api.errors import ApiError
from upload_api.request import UploadRequest, parse_upload

from tests.bodies import valid_document


@pytest.fixture
def document() -> dict[str, Any]:
    return valid_document()


@pytest.fixture
def parse() -> Callable[[dict[str, Any]], UploadRequest]:
    """parse_upload on the document's JSON text."""
    return lambda doc: parse_upload(json.dumps(doc))


@pytest.fixture
def rejection() -> Callable[[str | None], ApiError]:
    """The ApiError parse_upload raises for a raw body; the test fails if the body is accepted."""

    def rejected(body: str | None) -> ApiError:
        with pytest.raises(ApiError) as caught:
            parse_upload(body)
        return caught.value

    return rejected
