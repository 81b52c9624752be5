"""What API Gateway (REST API, Lambda proxy integration) does in front of the upload handler.

Local mode only. Everything a client can tell apart is emulated: the stage path,
"Missing Authentication Token" for unknown methods and paths, stage throttling,
the 10 MiB payload cap, Lambda's 6 MB invoke cap, request-body validation against
the method's model, the proxy event, and the translation of the proxy result.
API Gateway's own answers (gateway responses) come from the stack's template: their headers,
and the BAD_REQUEST_BODY mapping template, rendered (tools/dev/local/vtl.py) from the messages the
model's validator would give (`validator_messages`, in the wording of the validator API Gateway
runs; tools/dev/local/model_validation.py). The HTTP server around it lives in
tools/dev/local/server.py; this module knows no sockets.
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
from email.utils import formatdate
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tools.dev.local import vtl
from tools.dev.local.model_validation import BodyValidator, validation_error_string

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


@dataclass(frozen=True)
class ResponseSpec:
    """One gateway response of the stack: its status, static headers and body template."""

    status: int | None  # None: the type's own status
    headers: Mapping[str, str]
    template: str


# API Gateway's defaults, for a gateway built without the stack's template (tests).
DEFAULT_BODY_TEMPLATE = '{"message":$context.error.messageString}'
# (response type, status, message, x-amzn-ErrorType) of the answers emulated here.
ANSWERS = {
    "MISSING_AUTHENTICATION_TOKEN": (
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    ),
    "THROTTLED": (429, "Too Many Requests", "TooManyRequestsException"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long", "RequestEntityTooLargeException"),
    "BAD_REQUEST_BODY": (400, "Invalid request body", "BadRequestException"),
    "FAULT": (500, "Internal server error", "InternalServerErrorException"),
    # What API Gateway answers when the function fails or returns a malformed proxy result.
    "BAD_GATEWAY": (502, "Internal server error", "InternalServerErrorException"),
}
_DEFAULT_FOR = {4: "DEFAULT_4XX", 5: "DEFAULT_5XX"}


def render_answer(
    kind: str, responses: Mapping[str, ResponseSpec], validation_error: str = ""
) -> GatewayResponse:
    """API Gateway's own answer of `kind`, customized as the stack's gateway responses say.

    A type the stack does not customize takes DEFAULT_4XX's or DEFAULT_5XX's headers and template.
    """
    status, message, error_type = ANSWERS[kind]
    spec = responses.get(kind) or responses.get(_DEFAULT_FOR[status // 100])
    template = spec.template if spec else DEFAULT_BODY_TEMPLATE
    context = {
        "error": {
            "message": message,
            "messageString": json.dumps(message),
            "responseType": kind,
            "validationErrorString": validation_error,
        }
    }
    body = vtl.render(template, context).strip().encode("utf-8")
    headers = [("Content-Type", JSON_MEDIA_TYPE), ("x-amzn-ErrorType", error_type)]
    for name, value in (spec.headers if spec else {}).items():
        headers = [(k, v) for k, v in headers if k.lower() != name.lower()] + [(name, value)]
    own_status = responses[kind].status if kind in responses else None
    return GatewayResponse(own_status or status, headers, body)


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


# A body up to this size has its model verdict cached: a flood repeats one small body.
MAX_CACHED_BODY_BYTES = 4096


@dataclass
class LocalGateway:
    """One stage with one method: POST /{stage}/upload -> handler.

    `answer` is what API Gateway decides before the function (route, size, throttle, model):
    cheap, and all an HTTP front needs to answer a flood; `invoke` runs the function.
    """

    stage_name: str
    handler: Handler
    function: FunctionInfo
    request_schema: Mapping[str, Any] | None = None  # None: no body validation
    throttle: TokenBucket | None = None  # None: no stage throttling
    fault_status: int | None = None  # set: every request past the throttle fails with it
    responses: Mapping[str, ResponseSpec] = field(default_factory=dict)  # the stack's gateway responses
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
        # Static answers are rendered once; a 400 once per distinct small body.
        self._answers = {kind: render_answer(kind, self.responses) for kind in ANSWERS}
        self._model_verdict = lru_cache(maxsize=1024)(self._render_model_verdict)

    def answer(self, kind: str) -> GatewayResponse:
        """API Gateway's own answer of `kind` (a key of ANSWERS), with the stack's customization."""
        return self._answers[kind]

    def handle(self, request: GatewayRequest) -> GatewayResponse:
        request_id = str(uuid.uuid4())
        response = self.refuse(request) or self.invoke(request, request_id)
        return with_request_id(response, request_id)

    def refuse(self, request: GatewayRequest) -> GatewayResponse | None:
        """API Gateway's answer when it refuses `request` itself; None when the function must run."""
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return self._answers["REQUEST_TOO_LARGE"]
        path = request.target.partition("?")[0]
        if request.method != self.http_method or path != self.path:
            return self._answers["MISSING_AUTHENTICATION_TOKEN"]
        if self.throttle is not None and not self.throttle.take():
            return self._answers["THROTTLED"]
        if self.fault_status is not None:
            return self._answers["FAULT"]
        if self._validator is not None and self._validated_media_type(request):
            if len(request.body) <= MAX_CACHED_BODY_BYTES:
                return self._model_verdict(request.body)
            return self._render_model_verdict(request.body)
        return None

    def invoke(self, request: GatewayRequest, request_id: str) -> GatewayResponse:
        """The proxy event to the function, its result back as the response."""
        path, _, query = request.target.partition("?")
        event = self.proxy_event(request, path, query, request_id)
        if len(json.dumps(event)) > MAX_INVOKE_BYTES:
            # Lambda refuses an invoke whose event is over 6 MB (RequestEntityTooLargeException).
            return self._answers["REQUEST_TOO_LARGE"]
        try:
            # One execution environment: Lambda never runs two invokes at once in one, and the
            # handler's module state (Powertools metrics and log keys) relies on that. Concurrent
            # calls were seen to merge and double-count each other's EMF metrics.
            with self._invoke_lock:
                result = self.handler(event, LocalLambdaContext(self.function, str(uuid.uuid4())))
            return proxy_result_to_response(result) or self._answers["BAD_GATEWAY"]
        except Exception:  # a function error: the client sees API Gateway's generic 502
            logger.exception("The function raised; answering 502 as API Gateway does")
            return self._answers["BAD_GATEWAY"]

    def _render_model_verdict(self, body: bytes) -> GatewayResponse | None:
        assert self._validator is not None
        messages = self._validator.messages(body)
        if messages is None:
            return None
        return render_answer("BAD_REQUEST_BODY", self.responses, validation_error_string(messages))

    @staticmethod
    def _validated_media_type(request: GatewayRequest) -> bool:
        """API Gateway validates the body only with a model mapped to the request's media type."""
        content_type = next((v for k, v in request.headers if k.lower() == "content-type"), None)
        return media_type(content_type) == JSON_MEDIA_TYPE

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


def proxy_result_to_response(result: Mapping[str, Any]) -> GatewayResponse | None:
    """Translate a proxy result; None if it is malformed (API Gateway then answers 502)."""
    status = result.get("statusCode") if isinstance(result, Mapping) else None
    if not isinstance(status, int) or not 100 <= status <= 599:
        return None
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
