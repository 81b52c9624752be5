"""The local API's HTTP/1.1 server: keep-alive, one write per answer, every request to the gateway.

Stdlib ThreadingHTTPServer (a thread per connection): cheaper per request than werkzeug's
WSGI layer on top of the same http.server, which matters for the throttled (429) path.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tools.local_gateway import (
    MAX_PAYLOAD_BYTES,
    REQUEST_TOO_LONG,
    GatewayRequest,
    GatewayResponse,
    LocalGateway,
    with_request_id,
)

# A body this large is read and thrown away before answering 413, so the client sees the answer;
# anything larger gets the answer and a closed connection.
MAX_DRAIN_BYTES = 64 * 1024 * 1024
# A framing error (bad Content-Length or chunk size): the connection cannot be trusted further.
MALFORMED_REQUEST = GatewayResponse(400, [("Content-Type", "application/json")], b'{"message":"Bad Request"}')
_REASONS = {status.value: status.phrase for status in HTTPStatus}
# The request versions the fast parser takes, and whether each keeps the connection by default.
_KEEP_ALIVE_BY_DEFAULT = {"HTTP/1.1": True, "HTTP/1.0": False}
MAX_HEADERS = 100  # as http.client
MAX_LINE = 65536  # as http.server


class RequestHeaders:
    """A parsed header block: items in arrival order; `get` is the first value, any name case."""

    __slots__ = ("_first", "_items")

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items
        self._first: dict[str, str] = {}
        for name, value in items:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._first.get(name.lower(), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)


class _Date:
    """The Date header, formatted once a second rather than once a request."""

    second = -1
    value = ""

    @classmethod
    def now(cls) -> str:
        second = int(time.time())
        if second != cls.second:
            cls.value, cls.second = formatdate(second, usegmt=True), second
        return cls.value


class GatewayRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; every method goes to the gateway, which knows the one route."""

    protocol_version = "HTTP/1.1"
    server_version = "local-api-gateway"
    disable_nagle_algorithm = True
    timeout = 75  # seconds an idle keep-alive connection stays open
    server: GatewayHTTPServer
    raw_requestline: bytes  # set by handle_one_request

    def parse_request(self) -> bool:
        """http.server's parse_request without the email package's header parser (most of its cost).

        A plain `METHOD /target HTTP/1.x` request line is parsed here; anything else is left to
        the stdlib parser and its error answers.
        """
        words = self.raw_requestline.decode("iso-8859-1").rstrip("\r\n").split(" ")
        if len(words) != 3 or words[2] not in _KEEP_ALIVE_BY_DEFAULT or not words[1].startswith("/"):
            return super().parse_request()
        self.command, self.path, self.request_version = words
        self.requestline = " ".join(words)
        self.close_connection = True  # until the headers say otherwise
        headers = self._read_headers()
        if headers is None:
            return False
        self.headers = headers  # type: ignore[assignment]  # the subset of Message we use
        connection = (headers.get("Connection") or "").lower()
        if connection in ("close", "keep-alive"):
            self.close_connection = connection == "close"
        else:
            self.close_connection = not _KEEP_ALIVE_BY_DEFAULT[self.request_version]
        if (headers.get("Expect") or "").lower() == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def _read_headers(self) -> RequestHeaders | None:
        items: list[tuple[str, str]] = []
        while True:
            line = self.rfile.readline(MAX_LINE + 1)
            if line in (b"\r\n", b"\n", b""):
                return RequestHeaders(items)
            if len(line) > MAX_LINE or len(items) >= MAX_HEADERS:
                self.send_error(431, "Request header fields too large")
                return None
            text = line.decode("iso-8859-1").rstrip("\r\n")
            if text[:1] in (" ", "\t") and items:  # obsolete line folding
                name, value = items[-1]
                items[-1] = (name, f"{value} {text.strip()}")
                continue
            name, colon, value = text.partition(":")
            if not colon or not name or name != name.strip():
                self.send_error(400, "Bad header line")
                return None
            items.append((name, value.strip()))

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        request = GatewayRequest(self.command, self.path, self.headers.items(), body, self.client_address[0])
        self._send(self.server.gateway.handle(request))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def _read_body(self) -> bytes | None:
        """The request body, or None once a 413/400 has been sent for it."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(with_request_id(MALFORMED_REQUEST))
            return None
        if length > MAX_PAYLOAD_BYTES:
            self._drain(length)
            self._send(with_request_id(REQUEST_TOO_LONG))
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                self._send(with_request_id(MALFORMED_REQUEST))
                return None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_PAYLOAD_BYTES:
                self.close_connection = True
                self._send(with_request_id(REQUEST_TOO_LONG))
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(3)

    def _drain(self, length: int) -> None:
        if length > MAX_DRAIN_BYTES:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                self.close_connection = True
                return
            length -= len(chunk)

    def _send(self, response: GatewayResponse) -> None:
        """Status line, headers and body in one write: no Nagle/delayed-ACK stall on keep-alive."""
        reason = _REASONS.get(response.status, "")
        lines = [
            f"{self.protocol_version} {response.status} {reason}",
            f"Date: {_Date.now()}",
            f"Content-Length: {len(response.body)}",
            *(f"{name}: {value}" for name, value in response.headers),
        ]
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")
        self.wfile.write(head if self.command == "HEAD" else head + response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: at thousands of requests a second it would cost more than the answers."""


class GatewayHTTPServer(ThreadingHTTPServer):
    """Bound at construction (so a busy port fails fast); serves once `gateway` is set."""

    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up a shutdown
    request_queue_size = 1024
    gateway: LocalGateway

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, GatewayRequestHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])
