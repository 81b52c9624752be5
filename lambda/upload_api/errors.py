"""Typed HTTP errors. The handler maps them to responses in one place."""

from __future__ import annotations

from typing import List, Optional


class ApiError(Exception):
    """An error the client is told about: a status, a message and, optionally, fields."""

    status = 500
    reason = "internal"

    def __init__(self, message: str, errors: Optional[List[str]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors or [])

    def body(self) -> dict:
        body: dict = {"message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


class BadRequest(ApiError):
    status = 400
    reason = "invalid_request"

    def __init__(self, message: str, errors: Optional[List[str]] = None, reason: str = "") -> None:
        super().__init__(message, errors)
        if reason:
            self.reason = reason


class MissingAuthenticationToken(ApiError):
    """What API Gateway answers for any method or path it does not have."""

    status = 403
    reason = "unknown_route"

    def __init__(self) -> None:
        super().__init__("Missing Authentication Token")


class PayloadTooLarge(ApiError):
    status = 413
    reason = "too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    reason = "unsupported_media_type"


class StorageUnavailable(ApiError):
    """A retryable AWS-side fault (throttling, service unavailable)."""

    status = 503
    reason = "storage_unavailable"


class StorageFailed(ApiError):
    """A non-retryable AWS-side fault. The message never names resources."""

    status = 500
    reason = "storage_failed"
