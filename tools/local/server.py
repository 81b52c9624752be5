"""The local API's HTTP server: werkzeug's threaded WSGI server, HTTP/1.1 keep-alive.

Every request, whatever its method or path, goes to the gateway emulation
(tools/local/gateway.py), which knows the one route. werkzeug (already here for
moto's server) does the HTTP: request parsing, chunked bodies, keep-alive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request

from tools.local.gateway import (
    MAX_PAYLOAD_BYTES,
    REQUEST_TOO_LONG,
    GatewayRequest,
    LocalGateway,
    with_request_id,
)

# A body up to this size is read and dropped before the 413, so the client sees the answer
# instead of a reset; anything larger gets the answer and a closed connection.
MAX_DRAIN_BYTES = 64 * 1024 * 1024
_REASONS = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}

StartResponse = Callable[..., Any]


class _QuietKeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries Content-Length

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """No access log: at thousands of requests a second it would cost more than the answers."""


class GatewayHTTPServer(ThreadedWSGIServer):
    """Bound at construction (so a busy port fails fast); serves once `gateway` is set."""

    daemon_threads = True
    request_queue_size = 1024
    gateway: LocalGateway

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address[0], address[1], self._wsgi_app, handler=_QuietKeepAliveHandler)

    def _wsgi_app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        length = request.content_length
        if length is not None and length > MAX_PAYLOAD_BYTES:
            response = with_request_id(REQUEST_TOO_LONG)
            if length <= MAX_DRAIN_BYTES:
                request.stream.read(length)
        else:
            body = request.get_data(cache=False)
            target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.full_path
            response = self.gateway.handle(
                GatewayRequest(
                    request.method, target, list(request.headers.items()), body, request.remote_addr or ""
                )
            )
        start_response(
            _REASONS.get(response.status, str(response.status)),
            [*response.headers, ("Content-Length", str(len(response.body)))],
        )
        return [response.body]
