"""The load generator's HTTP/1.1 connections (tools/pipeline_checks/verify/http1.py), against raw loopback
servers that answer exactly the bytes each case needs: keep-alive and close, chunked bodies, silence,
garbage, a server closing an idle connection, and TLS with certificate checks (RFC 9112, RFC 9110)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tools.pipeline_checks.verify.http1 import BadAnswer, ConnectionLost, ConnectionPool

JSON = {"Content-Type": "application/json"}
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and body (the body by its Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await reader.readexactly(length)


def answer(status: int, body: bytes, *extra: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@asynccontextmanager
async def server(handle: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[tuple[int, list[int]]]:
    """A loopback server; yields its port and a list that counts its connections."""
    connections: list[int] = []

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(on_connection, "127.0.0.1", 0, ssl=tls)
    try:
        yield listener.sockets[0].getsockname()[1], connections
    finally:
        listener.close()


async def requests_in_turn(
    handle: Handler, count: int, path: str = "/dev/upload", warm: int = 0
) -> tuple[list[tuple[int, bytes]], int]:
    """`count` POSTs one after another through one pool (after warming `warm` connections): the
    answers, and how many connections the server saw."""
    async with server(handle) as (port, connections):
        pool = ConnectionPool(f"http://127.0.0.1:{port}{path}")
        if warm:
            await pool.warm(warm, 5)
        answers = [await pool.request("POST", JSON, b"{}", 5) for _ in range(count)]
        pool.close()
        return answers, len(connections)


async def keep_alive_echo_length(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        _, body = await read_request(reader)
        writer.write(answer(429, b"len=%d" % len(body)))
        await writer.drain()


def test_requests_reuse_one_keep_alive_connection():
    # GIVEN a keep-alive server WHEN five requests are sent one after another
    answers, connections = asyncio.run(requests_in_turn(keep_alive_echo_length, 5))
    # THEN each gets its answer, over one connection
    assert answers == [(429, b"len=2")] * 5
    assert connections == 1


def test_requests_reuse_one_connection_on_uvloop_too():
    uvloop = pytest.importorskip(
        "uvloop", reason="uvloop is in the dev group; the verify group runs without it"
    )

    # the load generator runs on uvloop where it is installed: its transports are not asyncio's classes
    answers, connections = uvloop.run(requests_in_turn(keep_alive_echo_length, 3, warm=2))
    assert answers == [(429, b"len=2")] * 3
    assert connections == 2


def test_the_request_on_the_wire_carries_the_callers_host_and_its_own_length():
    seen: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, body = await read_request(reader)
        seen.append(head + body)
        writer.write(answer(400, b"{}"))
        await writer.drain()

    async def scenario() -> None:
        async with server(record) as (port, _):
            pool = ConnectionPool(f"http://127.0.0.1:{port}/dev/upload?x=1")
            # GIVEN headers naming a (signed) Host and a wrong Content-Length
            headers = {"Host": "api.example", "Content-Length": "999", **JSON}
            await pool.request("POST", headers, b'{"a":1}', 5)
            pool.close()

    asyncio.run(scenario())
    # THEN the path and query, the caller's Host once, and the body's real length went out
    request = seen[0].decode()
    assert request.startswith("POST /dev/upload?x=1 HTTP/1.1\r\n")
    assert request.count("Host:") == 1
    assert "Host: api.example\r\n" in request
    assert "Content-Length: 7\r\n" in request
    assert "999" not in request
    assert request.endswith('\r\n\r\n{"a":1}')


def test_a_header_with_a_line_break_is_refused_not_sent():
    pool = ConnectionPool("http://127.0.0.1:9/dev/upload")
    with pytest.raises(ValueError, match="line break"):
        asyncio.run(pool.request("POST", {"X-Evil": "a\r\nInjected: yes"}, b"", 1))


def test_connection_close_opens_a_new_connection_for_the_next_request():
    async def close_after_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(201, b"ok", "Connection: close"))
        await writer.drain()

    answers, connections = asyncio.run(requests_in_turn(close_after_each, 3, path="/"))
    assert answers == [(201, b"ok")] * 3
    assert connections == 3


def test_a_chunked_answer_is_read_whole():
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b'5\r\n{"mes\r\n')
        await writer.drain()
        writer.write(b'9\r\nsage":""}\r\n0\r\n\r\n')
        await writer.drain()
        await reader.read()

    async def scenario() -> tuple[int, bytes]:
        async with server(chunked) as (port, _):
            pool = ConnectionPool(f"http://127.0.0.1:{port}/")
            try:
                return await pool.request("POST", JSON, b"{}", 5)
            finally:
                pool.close()

    assert asyncio.run(scenario()) == (400, b'{"message":""}')


def test_a_silent_server_times_out_and_its_connection_is_not_reused():
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def scenario() -> int:
        async with server(silent) as (port, connections):
            pool = ConnectionPool(f"http://127.0.0.1:{port}/")
            for _ in range(2):
                with pytest.raises(TimeoutError):
                    await pool.request("POST", JSON, b"{}", 0.2)
            pool.close()
            return len(connections)

    # a late answer on a timed-out connection could be read as the next request's: two connections
    assert asyncio.run(scenario()) == 2


def test_bytes_that_are_not_an_http_answer_fail_the_request():
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        await reader.read()

    async def scenario() -> None:
        async with server(garbage) as (port, _):
            pool = ConnectionPool(f"http://127.0.0.1:{port}/")
            with pytest.raises(BadAnswer):
                await pool.request("POST", JSON, b"{}", 5)
            pool.close()

    asyncio.run(scenario())


def test_an_idle_connection_the_server_closed_is_not_used_again():
    async def answer_once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(429, b"a"))  # keep-alive by default in HTTP/1.1, then closed while idle
        await writer.drain()

    async def scenario() -> tuple[list[tuple[int, bytes]], int]:
        async with server(answer_once_then_close) as (port, connections):
            pool = ConnectionPool(f"http://127.0.0.1:{port}/")
            first = await pool.request("POST", JSON, b"{}", 5)
            await asyncio.sleep(0.2)  # the server's close reaches the client
            second = await pool.request("POST", JSON, b"{}", 5)
            pool.close()
            return [first, second], len(connections)

    answers, connections = asyncio.run(scenario())
    assert answers == [(429, b"a")] * 2
    assert connections == 2


def test_a_connection_closed_mid_answer_is_connection_lost():
    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 429 X\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()

    async def scenario() -> None:
        async with server(half) as (port, _):
            pool = ConnectionPool(f"http://127.0.0.1:{port}/")
            with pytest.raises(ConnectionLost):
                await pool.request("POST", JSON, b"{}", 5)
            pool.close()

    asyncio.run(scenario())


def test_warm_opens_connections_without_sending_a_request():
    async def scenario() -> tuple[int, int, list[tuple[int, bytes]]]:
        async with server(keep_alive_echo_length) as (port, connections):
            pool = ConnectionPool(f"http://127.0.0.1:{port}/")
            opened = await pool.warm(4, 5)
            await asyncio.sleep(0.1)
            before = len(connections)
            answers = [await pool.request("POST", JSON, b"{}", 5) for _ in range(2)]
            pool.close()
            return opened, before, answers

    opened, connections, answers = asyncio.run(scenario())
    assert opened == connections == 4
    assert answers == [(429, b"len=2")] * 2


def test_only_http_and_https_urls_are_accepted():
    with pytest.raises(ValueError, match="http:// or https://"):
        ConnectionPool("ftp://example.com/upload")


# -- TLS: the certificate and the host name are checked ------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: the TLS cases need it to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def tls_server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def test_https_answers_through_a_trusted_certificate(certificate):
    async def scenario() -> tuple[int, bytes]:
        async with server(keep_alive_echo_length, tls_server_context(certificate)) as (port, _):
            trusting = ssl.create_default_context(cafile=str(certificate[0]))
            pool = ConnectionPool(f"https://localhost:{port}/dev/upload", trusting)
            try:
                return await pool.request("POST", JSON, b"{}", 5)
            finally:
                pool.close()

    assert asyncio.run(scenario()) == (429, b"len=2")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_https_refuses_an_untrusted_certificate_or_another_host_name(certificate, host):
    async def scenario() -> None:
        async with server(keep_alive_echo_length, tls_server_context(certificate)) as (port, _):
            # localhost: a certificate no trusted CA signed; 127.0.0.1: trusted, but not for that name
            context = None if host == "localhost" else ssl.create_default_context(cafile=str(certificate[0]))
            pool = ConnectionPool(f"https://{host}:{port}/dev/upload", context)
            with pytest.raises(ssl.SSLCertVerificationError):
                await pool.request("POST", JSON, b"{}", 5)
            pool.close()

    asyncio.run(scenario())
