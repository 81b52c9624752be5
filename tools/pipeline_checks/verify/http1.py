"""Keep-alive HTTP/1.1 for the load generator: requests written as bytes, answers parsed by httptools.

Why not an HTTP client library's session: on this project's 2-core machine aiohttp's client
spent about 340 us of CPU per request (its request and response objects, cookie and redirect
handling, tracing hooks), so the generator could offer only about 2,600 req/s, under the 3,000
the verifier's flood needs. The load generator sends one fixed request again and again and
needs only the status and the body back. Here the request is bytes built once per set of
headers, and the answer is parsed by httptools (llhttp, the parser of Node.js; uvicorn's
parser): about 40 us per request on uvloop, 70 us on asyncio's own loop (`make bench`).

What it does not do, because the generator never needs it: redirects, cookies, compression,
`Expect: 100-continue`, pipelining (one request at a time per connection), or a body that ends
only when the server closes the connection (an answer without Content-Length or chunked
encoding is an error). TLS is the standard library's, with certificate and host name checks.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools

# Headers this module writes itself: a caller's value for Host is kept (it is signed), the others replaced.
_OWN_HEADERS = frozenset({"content-length", "connection", "transfer-encoding"})


class ConnectionLost(ConnectionError):
    """The server closed the connection before the whole answer arrived."""


class BadAnswer(Exception):
    """The server's bytes are not an HTTP/1.1 answer this module reads."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []
        self.reusable = False
        self.alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self._transport is not None
        self.reusable = False
        self._answer = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return self._answer

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(BadAnswer(f"not an HTTP/1.1 answer: {error}"))
            self.close()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status, body = self._parser.get_status_code(), b"".join(self._body)
        self._body = []
        self.reusable = self._parser.should_keep_alive()
        if self._answer is not None and not self._answer.done():
            self._answer.set_result((status, body))
        elif self._answer is None:  # an answer nobody asked for: the connection's state is unknown
            self.reusable = False
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = self.alive = False
        self._fail(ConnectionLost(str(exc) if exc else "the server closed the connection"))

    def _fail(self, error: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()


class ConnectionPool:
    """Keep-alive connections to one origin (scheme, host, port) for requests to one URL."""

    def __init__(self, url: str, ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the load generator needs an http:// or https:// URL, not {url!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = (ssl_context or ssl.create_default_context()) if parts.scheme == "https" else None
        self._authority = parts.netloc
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._idle: deque[_Connection] = deque()
        self._open: set[_Connection] = set()
        self._cached: tuple[str, Mapping[str, str], bytes, bytes] | None = None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            _Connection,
            self._host,
            self._port,
            ssl=self._ssl,
            server_hostname=self._host if self._ssl else None,
        )
        self._open.add(connection)
        return connection

    async def warm(self, count: int, timeout: float) -> int:
        """Open `count` idle connections (TCP and TLS set up before a clock starts); how many opened."""
        if count < 1:
            return 0
        attempts = [asyncio.ensure_future(self._connect()) for _ in range(count)]
        done, pending = await asyncio.wait(attempts, timeout=timeout)
        for attempt in pending:  # a connection that did not open in time is opened by the load itself
            attempt.cancel()
        opened = [attempt.result() for attempt in done if attempt.exception() is None]
        self._idle.extend(opened)
        return len(opened)

    async def request(
        self, method: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> tuple[int, bytes]:
        """(status, body) of one request; TimeoutError, OSError, ConnectionLost or BadAnswer otherwise."""
        payload = self._request_bytes(method, headers, body)
        connection: _Connection | None = None
        try:
            async with asyncio.timeout(timeout):
                connection = self._idle_connection() or await self._connect()
                answer = await connection.send(payload)
        except BaseException:
            if connection is not None:
                self._discard(connection)
            raise
        if connection.reusable:
            self._idle.append(connection)
        else:
            self._discard(connection)
        return answer

    def _idle_connection(self) -> _Connection | None:
        """The most recently used idle connection the server has not closed meanwhile."""
        while self._idle:
            connection = self._idle.pop()
            if connection.alive:
                return connection
            self._discard(connection)
        return None

    def _request_bytes(self, method: str, headers: Mapping[str, str], body: bytes) -> bytes:
        """The request as sent; rebuilt only when the headers object changes (signed once a second)."""
        cached = self._cached
        if cached is not None and cached[0] == method and cached[1] is headers and cached[2] is body:
            return cached[3]
        lines = [f"{method} {self._target} HTTP/1.1"]
        if not any(name.lower() == "host" for name in headers):
            lines.append(f"Host: {self._authority}")
        for name, value in headers.items():
            if any(character in f"{name}{value}" for character in "\r\n\0"):
                raise ValueError(f"header {name!r}: a line break or NUL cannot be sent in a header")
            if name.lower() not in _OWN_HEADERS:
                lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        self._cached = (method, headers, body, request)
        return request

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    def close(self) -> None:
        for connection in list(self._open):
            self._discard(connection)
        self._idle.clear()
