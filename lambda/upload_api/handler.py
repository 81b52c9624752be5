"""API Gateway (REST, Lambda proxy) entry point for POST /upload.

One route, so it is routed here rather than by Powertools' event handler: importing
`aws_lambda_powertools.event_handler` loads every resolver it has (AppSync, Bedrock, VPC Lattice...)
and every event data class, about half of what this function added to a cold start on top of
boto3. The proxy result is the one APIGatewayRestResolver built (tests/unit/test_handler_routing.py).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from decimal import Decimal
from typing import Any, Dict, Optional

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from upload_api.direct import accepted_body
from upload_api.errors import ApiError, BadRequest, MissingAuthenticationToken, StorageFailed
from upload_api.request import DirectUploadRequest, parse_upload, require_json_content_type
from upload_api.settings import Settings
from upload_api.storage import StorageError, StoredUpload, UploadStore
from upload_api.tracing import log_key, traces_without_file_names

logger = Logger()
# Only the AWS SDK is traced: patching everything X-Ray supports imports every such
# library that happens to be installed (requests, httpx, sqlite3...) at cold start.
tracer = traces_without_file_names()
metrics = Metrics()

settings = Settings.from_env()
store = UploadStore.from_settings(settings)

_SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
# The one route: POST on the resource path, trailing slashes ignored (as Powertools' REST resolver does).
_UPLOAD_METHOD = "POST"
_UPLOAD_PATH = re.compile(r"^/upload/*$")


# No @tracer.capture_method here: it logs every exception at ERROR with a traceback
# (to the root logger, which Lambda ships), so each 4xx would look like a fault.
# The handler's own subsegment and the botocore subsegments cover the request.
def upload(event: Dict[str, Any]) -> Dict[str, Any]:
    require_json_content_type(header(event, "content-type"))
    request = parse_upload(request_text(event), allow_active_content=settings.allow_active_content)
    if isinstance(request, DirectUploadRequest):
        return announce(request)
    try:
        stored = store.save(request)
    except StorageError as error:
        details: Dict[str, Any] = {"stage": error.stage, "code": error.code}
        if error.orphan is not None:
            # The object was written but no item points at it: say which, never silently, so it
            # can be found and removed (the function's role may not delete).
            metrics.add_metric(name="OrphanedObjects", unit=MetricUnit.Count, value=1)
            details.update(orphanKey=log_key(error.orphan.key), orphanVersionId=error.orphan.version_id)
        logger.error("Upload not stored", extra=details)
        raise error.to_api_error() from error
    metrics.add_metric(name="Uploads", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="UploadedBytes", unit=MetricUnit.Bytes, value=stored.file.size)
    logger.info("Upload stored", extra={"key": log_key(stored.file.key), "size": stored.file.size})
    return json_response(201, created_body(stored))


def announce(request: DirectUploadRequest) -> Dict[str, Any]:
    """202: where to PUT the file. The item follows when the object arrives (finalizer.py)."""
    try:
        announced = store.announce(request)
    except StorageError as error:
        logger.error("Direct upload not announced", extra={"stage": error.stage, "code": error.code})
        raise error.to_api_error() from error
    metrics.add_metric(name="DirectUploadsAnnounced", unit=MetricUnit.Count, value=1)
    logger.info("Direct upload announced", extra={"key": log_key(announced.key), "size": request.size})
    return json_response(202, accepted_body(announced, decimal_to_json_number(request.price)))


def route(event: Dict[str, Any]) -> Dict[str, Any]:
    """The route's answer, every error mapped in this one place."""
    # Read before the try, as Powertools did: an event with no method or path is no API Gateway's.
    found = event["httpMethod"].upper() == _UPLOAD_METHOD and _UPLOAD_PATH.match(event["path"])
    try:
        if not found:
            raise MissingAuthenticationToken()
        return upload(event)
    except ApiError as error:
        return _error_response(error)
    except Exception:
        logger.exception("Unhandled error")
        return _error_response(StorageFailed("Internal server error"))


# capture_response=False: the response holds product data and file names, which X-Ray would
# otherwise keep as subsegment metadata, readable by anyone allowed to read traces.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: Dict[str, Any], context: LambdaContext) -> Dict[str, Any]:
    return route(event)


def header(event: Dict[str, Any], name: str) -> Optional[str]:
    """A request header by name in any letter case; the last one sent wins (as in a dict)."""
    found = None
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            found = value
    return found


def request_text(event: Dict[str, Any]) -> Optional[str]:
    """The body as text; a base64 body that is not UTF-8 is the client's fault, not a 500."""
    body: Optional[str] = event.get("body")
    if not event.get("isBase64Encoded") or not body:
        return body
    try:
        return base64.b64decode(body.encode()).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise BadRequest(
            "Request body must be UTF-8 JSON", ["body: must be JSON text in UTF-8"], reason="invalid_json"
        ) from None


def created_body(stored: StoredUpload) -> Dict[str, Any]:
    return {
        "productId": stored.request.product_id,
        "productName": stored.request.product_name,
        "price": decimal_to_json_number(stored.request.price),
        "file": stored.file.as_dict(),
        "uploadedAt": stored.uploaded_at,
    }


def decimal_to_json_number(value: Decimal) -> Any:
    """An int, or a float whose shortest repr is the decimal that was sent.

    Prices have at most 12 significant digits (<= 1e9, 2 decimals), inside the
    15 a double round-trips exactly, so json.dumps writes 29.99 as 29.99.
    """
    return int(value) if value == value.to_integral_value() else float(value)


def json_response(status: int, body: Dict[str, Any]) -> Dict[str, Any]:
    """A Lambda proxy result (payload 1.0), headers as multiValueHeaders, as Powertools wrote them."""
    headers = {**_SECURITY_HEADERS, "Content-Type": "application/json"}
    return {
        "statusCode": status,
        "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        "isBase64Encoded": False,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
    }


def _error_response(error: ApiError) -> Dict[str, Any]:
    # One metric per rejection, dimensioned by reason, so a dashboard can split them.
    name = "Rejections" if error.status < 500 else "Failures"
    with single_metric(name=name, unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="reason", value=error.reason)
    return json_response(error.status, error.body())
