"""A minimal loopback HTTP server that answers every request 429: what the load generator is measured against.

    python -m tools.pipeline_checks.verify.sink --port 0
    # prints "listening on 127.0.0.1:<port>", serves until SIGTERM

It does as little as an HTTP server can (aiohttp, one process, no logging), so a
benchmark against it measures the generator, not the server. It listens on 127.0.0.1
only and stops by itself after --max-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from aiohttp import web

HOST = "127.0.0.1"
BODY = b'{"message":"Too Many Requests"}'


async def _answer(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=429, body=BODY, content_type="application/json")


async def serve(port: int, max_seconds: float) -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _answer)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, HOST, port, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"listening on {HOST}:{runner.addresses[0][1]}", flush=True)
    try:
        await asyncio.wait_for(stop.wait(), max_seconds)
    except TimeoutError:
        pass  # bounded: a forgotten sink does not outlive its benchmark by long
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.pipeline_checks.verify.sink", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="stop after this long at the latest")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.max_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
