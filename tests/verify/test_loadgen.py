"""The load generator: open loop (requests leave on their timetable however slowly the server answers),
bounded, and its signed requests arrive with valid signatures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
import pytest
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tools.common.sigv4 import CachedSigner, SigV4
from tools.pipeline_checks.verify import loadgen

SLOW_ANSWER_S = 0.3


@asynccontextmanager
async def loopback_server(delay: float, status: int = 429) -> AsyncIterator[str]:
    """An aiohttp server on 127.0.0.1 that answers every request `status` after `delay` seconds."""

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(delay)
        return web.json_response({"message": "Too Many Requests"}, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/dev/upload"
    finally:
        await runner.cleanup()


def run_against_slow_server(plan: loadgen.LoadPlan) -> loadgen.LoadResult:
    async def scenario() -> loadgen.LoadResult:
        async with loopback_server(SLOW_ANSWER_S) as url:
            request = loadgen.Request("POST", url, b"{}", lambda: {"Content-Type": "application/json"})
            return await loadgen.run_async(plan, request, lambda status, body: str(status))

    return asyncio.run(scenario())


def test_requests_leave_on_schedule_while_answers_are_slow():
    # GIVEN a server that takes 300 ms per answer: a closed loop of 10 workers could offer 33 req/s
    plan = loadgen.LoadPlan(rate=200, count=200, max_in_flight=1000)
    # WHEN the generator offers 200 req/s for 1 s
    result = run_against_slow_server(plan)
    # THEN all 200 leave on their timetable: the offered rate is the planned one, and no request
    # waited for an answer to leave (a closed loop would slip by the 300 ms answer time, and more)
    assert len(result.sent) == 200
    assert result.offered_rate == pytest.approx(200, rel=0.1)
    assert result.lag_ms(0.5) < 20
    assert result.lag_ms(1.0) < SLOW_ANSWER_S * 1000
    # AND every one is answered, each after the server's delay
    assert result.counts == {"429": 200}
    assert result.latency_ms(0.5) >= SLOW_ANSWER_S * 1000


def test_requests_due_beyond_the_in_flight_cap_are_counted_not_delayed():
    # GIVEN a cap of 10 requests in flight and a server that holds each for 300 ms
    plan = loadgen.LoadPlan(rate=100, count=100, max_in_flight=10)
    # WHEN the generator offers 100 req/s for 1 s (about 30 would be in flight)
    result = run_against_slow_server(plan)
    # THEN the ones due while 10 were out are counted as not sent, and the rest still left on time
    assert 0 < result.not_sent < 100
    assert result.counts[loadgen.NOT_SENT] == result.not_sent
    assert len(result.sent) + result.not_sent == 100
    assert result.lag_ms(0.5) < 20
    assert result.lag_ms(1.0) < SLOW_ANSWER_S * 1000
    # AND the per-second table accounts for every request
    rows = result.per_second({"429": lambda outcome: outcome == "429"})
    assert sum(row["sent"] + row["not_sent"] for row in rows) == 100


def test_a_refused_connection_is_no_answer_not_a_crash():
    # GIVEN a port nothing listens on
    async def closed_port() -> str:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return f"http://127.0.0.1:{port}/dev/upload"

    url = asyncio.run(closed_port())
    request = loadgen.Request("POST", url, b"{}", dict)
    # WHEN 20 requests are offered to it
    result = loadgen.run(loadgen.LoadPlan(rate=100, count=20), request, lambda status, body: str(status))
    # THEN each is recorded as sent with no answer
    assert len(result.sent) == 20
    assert result.no_answer == 20
    assert all(outcome.startswith(loadgen.NO_ANSWER_PREFIX) for outcome in result.counts)


@pytest.mark.parametrize(
    ("rate", "count"),
    [(0, 10), (10, 0), (1, loadgen.MAX_REQUESTS + 1), (1, int(loadgen.MAX_DURATION_S) + 2)],
)
def test_a_plan_is_bounded_in_count_and_time(rate, count):
    # GIVEN a plan without a positive rate, with no requests, or beyond the bounds
    # WHEN it is made
    # THEN it is refused
    with pytest.raises(ValueError, match=r"positive|bounded"):
        loadgen.LoadPlan(rate=rate, count=count)


# -- signatures as sent on the wire ---------------------------------------------------------------

CREDENTIALS = Credentials("AKIDEXAMPLE", "not-a-secret", "session-token")
REGION = "us-east-1"


def signature_is_valid(method: str, url: str, headers: Mapping[str, str], body: bytes) -> bool:
    """What API Gateway checks: the signature recomputed over the headers it names, as received
    (`headers` is case-insensitive, as HTTP header names are)."""
    authorization = headers["Authorization"]
    signed_names = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    request = AWSRequest(
        method=method, url=url, data=body, headers={name: headers[name] for name in signed_names}
    )
    request.context["timestamp"] = headers["X-Amz-Date"]
    signer = SigV4Auth(CREDENTIALS, "execute-api", REGION)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return authorization.endswith(f"Signature={expected}")


def test_signed_requests_arrive_with_valid_signatures():
    # GIVEN a loopback server that records what it receives
    received: list[tuple[str, str, Mapping[str, str], bytes]] = []

    async def record(request: web.Request) -> web.Response:
        received.append((request.method, str(request.url), request.headers.copy(), await request.read()))
        return web.json_response({"message": "Invalid request body"}, status=400)

    async def scenario() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", record)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/dev/upload"
        try:
            # WHEN the load generator sends 20 requests signed by the per-second cache
            signer = CachedSigner(
                CREDENTIALS, REGION, "POST", url, b"{}", {"Content-Type": "application/json"}
            )
            request = loadgen.Request("POST", url, b"{}", signer.headers)
            await loadgen.run_async(loadgen.LoadPlan(rate=100, count=20), request, lambda s, b: str(s))
            # AND the probe client sends one request signed by the httpx auth
            async with httpx.AsyncClient(auth=SigV4(CREDENTIALS, REGION)) as client:
                await client.post(url, content=b'{"a":1}', headers={"Content-Type": "application/json"})
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
    # THEN every request arrived with a signature valid for exactly what arrived
    assert len(received) == 21
    assert all(signature_is_valid(*request) for request in received)
    # AND a changed body would not have passed (the check can fail)
    method, url, headers, _ = received[0]
    assert not signature_is_valid(method, url, headers, b'{"tampered":true}')
