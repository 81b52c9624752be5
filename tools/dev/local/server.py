"""The local API's HTTP front: aiohttp on an event loop (uvloop when installed), HTTP/1.1 keep-alive.

Every request, whatever its method or path, goes to the gateway emulation (tools/dev/local/gateway.py).
What API Gateway answers itself (403, 413, 429, the model's 400) is answered on the event loop,
without a thread hop: a flood at twice the stage limit is thousands of those a second, and the
threaded werkzeug server this replaces topped out near 1,000-1,400 req/s on 2 cores. Only a
request the function must see goes to a worker thread (the handler is blocking boto3 code).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from tools.dev.local.gateway import (
    MAX_PAYLOAD_BYTES,
    GatewayRequest,
    GatewayResponse,
    LocalGateway,
    with_request_id,
)

try:  # libuv's event loop answers more per core; plain asyncio works too, slower
    from uvloop import new_event_loop
except ImportError:  # pragma: no cover - uvloop is in the local group (pyproject.toml)
    from asyncio import new_event_loop  # type: ignore[assignment]

# A body up to this size is read and dropped before the 413, so the client sees the answer
# instead of a reset; anything larger gets the answer and a closed connection.
MAX_DRAIN_BYTES = 64 * 1024 * 1024
BACKLOG = 1024
EVENT_LOOP = new_event_loop.__module__.split(".")[0]  # "uvloop" or "asyncio"


class GatewayHTTPServer:
    """Bound and listening at construction (a busy port fails fast); serves once `gateway` is set.

    `serve_forever` runs the event loop in the calling thread until `shutdown` (from any thread).
    """

    gateway: LocalGateway

    def __init__(self, address: tuple[str, int]) -> None:
        self._socket = socket.create_server(address, backlog=BACKLOG)
        self.port: int = self._socket.getsockname()[1]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stopped = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="local-api-invoke")

    def serve_forever(self) -> None:
        loop = new_event_loop()
        try:
            loop.run_until_complete(self._serve(loop))
        finally:
            loop.close()
            self._stopped.set()

    def shutdown(self, timeout: float = 10.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
            self._stopped.wait(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def server_close(self) -> None:
        self._socket.close()

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._stop = loop, asyncio.Event()
        # aiohttp's low-level server: one handler for every method and path, no router or middleware.
        server = web.Server(self._answer, request_factory=_request_factory(loop), access_log=None)
        runner = web.ServerRunner(server, handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, self._socket, backlog=BACKLOG).start()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    async def _answer(self, request: web.BaseRequest) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        length = request.content_length
        if length is not None and length > MAX_PAYLOAD_BYTES:
            response = self.gateway.answer("REQUEST_TOO_LARGE")
            drained = length <= MAX_DRAIN_BYTES
            if drained:
                await request.read()
            return _web_response(with_request_id(response, request_id), close=not drained)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:  # a chunked body past MAX_DRAIN_BYTES
            return _web_response(with_request_id(self.gateway.answer("REQUEST_TOO_LARGE"), request_id), True)
        gateway_request = GatewayRequest(
            request.method, request.raw_path, list(request.headers.items()), body, request.remote or ""
        )
        answer = self.gateway.refuse(gateway_request)
        if answer is None:  # the function's turn, on a worker thread
            loop = asyncio.get_running_loop()
            answer = await loop.run_in_executor(self._pool, self.gateway.invoke, gateway_request, request_id)
        return _web_response(with_request_id(answer, request_id))


def _request_factory(loop: asyncio.AbstractEventLoop) -> Any:
    """BaseRequests that may read a body up to MAX_DRAIN_BYTES (aiohttp's default is 1 MiB)."""

    def make(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
        return web.BaseRequest(
            message, payload, protocol, writer, task, loop, client_max_size=MAX_DRAIN_BYTES
        )

    return make


def _web_response(response: GatewayResponse, close: bool = False) -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict(response.headers)
    answer = web.Response(status=response.status, body=response.body, headers=headers)
    if close:
        answer.force_close()
    return answer
