"""Fixtures for the verifier's tests: local servers with small limits, and the verifier run as a command.

The servers run at THROTTLE_RATE=50, THROTTLE_BURST=50 so a flood takes 2 s; the verifier
is started exactly as `make verify` starts it (a subprocess, no limits given: it reads the
ones each server enforces from its outputs file), so its exit status, table and reports are
what a developer or the pipeline would get. The server without throttling writes no limits:
its verifier is told the small ones, as a developer would have to.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from tests.local_server import OUTPUTS_ENV, LocalServer
from tests.verify.support import SERVERS, SMALL_LIMITS, Verifier, VerifierRun


@pytest.fixture(scope="module")
def local_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LocalServer]]:
    """The four servers, started at once: most of a start is synthesizing the stack, and they overlap."""
    if os.environ.get(OUTPUTS_ENV):
        pytest.skip("needs local servers of its own; UPLOAD_API_OUTPUTS points the suite at an existing API")
    servers = {
        name: LocalServer(tmp_path_factory.mktemp(f"verify-{name}"), env, wait=False)
        for name, env in SERVERS.items()
    }
    try:
        for server in servers.values():
            server.wait_until_ready()
        yield servers
    finally:
        for server in servers.values():  # all told at once: each takes a moment to stop its moto
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
def verifier_runs(
    local_servers: dict[str, LocalServer], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, VerifierRun]:
    """One dev-mode verifier run per server, all four at once.

    Together they offer 4 x 100 req/s at most, little for 2 cores: run at once, the correct
    server's measured rate stayed within 2% of 50 req/s in repeated runs (the tolerance is
    25%), and the suite is 15 s shorter than with the runs one after another.
    """

    def start(name: str) -> Verifier:
        server = local_servers[name]
        told = SMALL_LIMITS if name == "throttle-off" else {}
        return Verifier(tmp_path_factory.mktemp(f"run-{name}"), server.outputs_path, "dev", **told)

    started = {name: start(name) for name in SERVERS}
    return {name: verifier.result() for name, verifier in started.items()}
