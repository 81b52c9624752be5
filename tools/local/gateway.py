"""What API Gateway (REST API, Lambda proxy integration) does in front of the upload handler.

Local mode only. Everything a client can tell apart is emulated: the stage path,
"Missing Authentication Token" for unknown methods and paths, stage throttling,
the 10 MiB payload cap, Lambda's 6 MB invoke cap, request-body validation against
the method's model, the proxy event, and the translation of the proxy result.
The HTTP server around it lives in tools/local/__main__.py; this module knows no sockets.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jsonschema import Draft4Validator

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
# API Gateway REST APIs refuse payloads over 10 MB (10 MiB, counted in bytes).
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
# Lambda refuses a synchronous invoke whose event is over 6 MB (6,291,456 bytes), so no
# code runs. The local gateway answers 413, the contract's status for a body larger than
# the API accepts; what AWS returns in this case was not observed here (no AWS account).
MAX_INVOKE_BYTES = 6_291_456
JSON_MEDIA_TYPE = "application/json"  # the content type the method's model is mapped to

logger = logging.getLogger(__name__)

Headers = list[tuple[str, str]]
Handler = Callable[[dict[str, Any], Any], Mapping[str, Any]]


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    headers: Headers
    body: bytes


@dataclass(frozen=True)
class GatewayRequest:
    method: str
    target: str  # the request target as sent: path and query string
    headers: Headers  # in arrival order, names as sent
    body: bytes
    source_ip: str


def _error(status: int, message: str, error_type: str) -> GatewayResponse:
    """A default gateway response: compact JSON, as API Gateway's templates render it."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    headers = [("Content-Type", JSON_MEDIA_TYPE), ("x-amzn-ErrorType", error_type)]
    return GatewayResponse(status, headers, body)


MISSING_AUTHENTICATION_TOKEN = _error(
    403, "Missing Authentication Token", "MissingAuthenticationTokenException"
)
TOO_MANY_REQUESTS = _error(429, "Too Many Requests", "TooManyRequestsException")
REQUEST_TOO_LONG = _error(413, "Request Too Long", "RequestEntityTooLargeException")
INVALID_REQUEST_BODY = _error(400, "Invalid request body", "BadRequestException")
INTERNAL_SERVER_ERROR = _error(500, "Internal server error", "InternalServerErrorException")
# What API Gateway answers when the function fails or returns a malformed proxy result.
BAD_GATEWAY = _error(502, "Internal server error", "InternalServerErrorException")


def with_request_id(response: GatewayResponse, request_id: str | None = None) -> GatewayResponse:
    """Every API Gateway answer names its request."""
    headers = [*response.headers, ("x-amzn-RequestId", request_id or str(uuid.uuid4()))]
    return GatewayResponse(response.status, headers, response.body)


class TokenBucket:
    """Stage throttling: `rate` tokens per second, at most `burst` banked; starts full."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 0 or burst < 0:
            raise ValueError("rate and burst must be >= 0")
        self._rate = float(rate)
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._updated = clock()
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> int:
        return int(self._burst)

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if tokens >= 1.0:
                self._tokens = tokens - 1.0
                return True
            self._tokens = tokens
            return False


def js_end_anchors(pattern: str) -> str:
    """`pattern` with each unescaped `$` outside a character class rewritten to `\\Z`.

    JSON Schema patterns are ECMA 262 regexes, where `$` (no multiline flag) matches
    only at the end of the input. Python's `$` also matches before a trailing
    newline, so "p-1\\n" would pass `^[A-Za-z0-9._:-]*$` under re.search.
    """
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # A `]` first in a class (after an optional `^`) is a literal, as in Python's re.
            lookahead = index + 1 + (pattern[index + 1 : index + 2] == "^")
            if pattern[lookahead : lookahead + 1] == "]":
                out.append(pattern[index : lookahead + 1])
                index = lookahead + 1
                continue
        elif char == "$":
            char = r"\Z"
        out.append(char)
        index += 1
    return "".join(out)


def _with_js_anchors(schema: Any) -> Any:
    """A copy of `schema` whose `pattern` keywords use JavaScript's `$`."""
    if isinstance(schema, list):
        return [_with_js_anchors(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: _with_js_anchors(value) for key, value in schema.items()}
    if isinstance(copy.get("pattern"), str):
        copy["pattern"] = js_end_anchors(copy["pattern"])
    return copy


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class BodyValidator:
    """The method's model check: Draft 4, numbers as Decimal (multipleOf 0.01 is exact)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        exact = json.loads(json.dumps(schema), parse_float=Decimal)
        self._validator = Draft4Validator(_with_js_anchors(exact))

    def is_valid(self, body: bytes) -> bool:
        try:
            document = json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_reject_constant)
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return False
        return bool(self._validator.is_valid(document))


@dataclass(frozen=True)
class FunctionInfo:
    """What a Lambda context tells the handler about its function."""

    function_name: str
    memory_mb: int = 128
    timeout_seconds: int = 3

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"


class LocalLambdaContext:
    """The attributes of Lambda's context object that the handler and Powertools read."""

    def __init__(self, function: FunctionInfo, request_id: str) -> None:
        self.function_name = function.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.arn
        self.memory_limit_in_mb = function.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]local")
        self._deadline = time.monotonic() + function.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass
class LocalGateway:
    """One stage with one method: POST /{stage}/upload -> handler."""

    stage_name: str
    handler: Handler
    function: FunctionInfo
    request_schema: Mapping[str, Any] | None = None  # None: no body validation
    throttle: TokenBucket | None = None  # None: no stage throttling
    fault_status: int | None = None  # set: every request past the throttle fails with it
    resource_path: str = "/upload"
    http_method: str = "POST"
    _validator: BodyValidator | None = field(init=False, default=None)
    _invoke_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.path = f"/{self.stage_name}{self.resource_path}"
        if self.request_schema is not None:
            self._validator = BodyValidator(self.request_schema)
        if self.fault_status is not None and self.fault_status != 500:
            raise ValueError("only a 500 fault is emulated")

    def handle(self, request: GatewayRequest) -> GatewayResponse:
        request_id = str(uuid.uuid4())
        return with_request_id(self._respond(request, request_id), request_id)

    def _respond(self, request: GatewayRequest, request_id: str) -> GatewayResponse:
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return REQUEST_TOO_LONG
        path, _, query = request.target.partition("?")
        if request.method != self.http_method or path != self.path:
            return MISSING_AUTHENTICATION_TOKEN
        if self.throttle is not None and not self.throttle.take():
            return TOO_MANY_REQUESTS
        if self.fault_status is not None:
            return INTERNAL_SERVER_ERROR
        if self._validator is not None and not self._body_passes_model(request):
            return INVALID_REQUEST_BODY
        event = self.proxy_event(request, path, query, request_id)
        if len(json.dumps(event)) > MAX_INVOKE_BYTES:
            # Lambda refuses an invoke whose event is over 6 MB (RequestEntityTooLargeException).
            return REQUEST_TOO_LONG
        try:
            # One execution environment: Lambda never runs two invokes at once in one, and the
            # handler's module state (Powertools metrics and log keys) relies on that. Concurrent
            # calls were seen to merge and double-count each other's EMF metrics.
            with self._invoke_lock:
                result = self.handler(event, LocalLambdaContext(self.function, str(uuid.uuid4())))
            return proxy_result_to_response(result)
        except Exception:  # a function error: the client sees API Gateway's generic 502
            logger.exception("The function raised; answering 502 as API Gateway does")
            return BAD_GATEWAY

    def _body_passes_model(self, request: GatewayRequest) -> bool:
        """API Gateway validates the body only with a model mapped to the request's media type."""
        content_type = next((v for k, v in request.headers if k.lower() == "content-type"), None)
        if media_type(content_type) != JSON_MEDIA_TYPE:
            return True
        assert self._validator is not None
        return self._validator.is_valid(request.body)

    def proxy_event(self, request: GatewayRequest, path: str, query: str, request_id: str) -> dict[str, Any]:
        """The Lambda proxy integration's (payload format 1.0) event for one request."""
        headers = [*request.headers, ("X-Forwarded-For", request.source_ip), ("X-Forwarded-Proto", "http")]
        query_pairs = parse_qsl(query, keep_blank_values=True)
        now = time.time()
        host = next((v for k, v in request.headers if k.lower() == "host"), "127.0.0.1")
        user_agent = next((v for k, v in request.headers if k.lower() == "user-agent"), None)
        return {
            "resource": self.resource_path,
            "path": self.resource_path,
            "httpMethod": request.method,
            "headers": _last_values(headers),
            "multiValueHeaders": _all_values(headers),
            "queryStringParameters": _last_values(query_pairs) or None,
            "multiValueQueryStringParameters": _all_values(query_pairs) or None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "accountId": ACCOUNT_ID,
                "apiId": "local",
                "resourceId": "local",
                "resourcePath": self.resource_path,
                "httpMethod": request.method,
                "path": path,
                "stage": self.stage_name,
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTime": formatdate(now, usegmt=True),
                "requestTimeEpoch": int(now * 1000),
                "protocol": "HTTP/1.1",
                "domainName": urlsplit(f"//{host}").hostname or "127.0.0.1",
                "identity": {"sourceIp": request.source_ip, "userAgent": user_agent},
            },
            # Text as API Gateway passes it (no binary media types are configured).
            "body": request.body.decode("utf-8", errors="replace") if request.body else None,
            "isBase64Encoded": False,
        }


def _last_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    return dict(pairs)


def _all_values(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def proxy_result_to_response(result: Mapping[str, Any]) -> GatewayResponse:
    """Translate a proxy result; anything malformed is the 502 API Gateway gives."""
    status = result.get("statusCode")
    if not isinstance(status, int) or not 100 <= status <= 599:
        return BAD_GATEWAY
    headers: dict[str, list[str]] = {
        name: [str(value)] for name, value in (result.get("headers") or {}).items()
    }
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = [str(value) for value in values]
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = [JSON_MEDIA_TYPE]  # API Gateway's default for proxy results
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    flat = [(name, value) for name, values in headers.items() for value in values]
    return GatewayResponse(status, flat, payload)
