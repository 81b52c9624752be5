"""A minimal loopback HTTP server that answers every request 429: what the load generator is measured against.

    python -m tools.dev.bench.sink --port 0
    # prints "listening on 127.0.0.1:<port>", serves until SIGTERM

It does as little as an HTTP/1.1 server can, so a benchmark against it measures the generator,
not the server: httptools parses each request, the answer is one constant string of bytes, on
uvloop where it is installed (about 15 us of CPU per request; an aiohttp web application spent
about 180 us, more than half of what the generator itself spent, on the same 2 cores). It
listens on 127.0.0.1 only and stops by itself after --max-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import cast

import httptools

HOST = "127.0.0.1"
BODY = b'{"message":"Too Many Requests"}'
ANSWER = (
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


class _Answer429(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        self._parser = httptools.HttpRequestParser(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._transport.close()

    def on_message_complete(self) -> None:
        self._transport.write(ANSWER)
        if not self._parser.should_keep_alive():
            self._transport.close()


async def serve(port: int, max_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Answer429, HOST, port, backlog=1024)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"listening on {HOST}:{server.sockets[0].getsockname()[1]}", flush=True)
    try:
        await asyncio.wait_for(stop.wait(), max_seconds)
    except TimeoutError:
        pass  # bounded: a forgotten sink does not outlive its benchmark by long
    finally:
        server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.dev.bench.sink", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="stop after this long at the latest")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in the local group, which dev includes
        asyncio.run(serve(args.port, args.max_seconds))
    else:
        uvloop.run(serve(args.port, args.max_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
