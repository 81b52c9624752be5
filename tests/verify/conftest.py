"""Fixtures for the verifier's tests: local servers with small limits, and the verifier run as a command.

The servers run at THROTTLE_RATE=50, THROTTLE_BURST=50 so a flood takes 2 s; the verifier
is started exactly as `make verify` starts it (a subprocess, no limits given: it reads the
ones each server enforces from its outputs file), so its exit status, table and reports are
what a developer or the pipeline would get. The server without throttling writes no limits:
its verifier is told the small ones, as a developer would have to.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.local_server import OUTPUTS_ENV, LocalServer
from tests.verify.support import SERVERS, SMALL_LIMITS, Verifier, VerifierRun


@pytest.fixture(scope="module")
def correct_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """The correct server, kept for the module: the dev run writes to it, the prod run then checks
    that nothing more was stored."""
    if os.environ.get(OUTPUTS_ENV):
        pytest.skip("needs local servers of its own; UPLOAD_API_OUTPUTS points the suite at an existing API")
    server = LocalServer(tmp_path_factory.mktemp("verify-correct"), SERVERS["correct"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def verifier_runs(
    correct_server: LocalServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, VerifierRun]:
    """One dev-mode verifier run per server, one server at a time.

    One at a time, not all four at once: four servers (about 180 MiB each) and four verifiers
    made part of `make unit`'s memory peak (about 1 GiB of its 5 GiB), inside the pipeline's
    MEDIUM build; a broken server is started, run against and stopped before the next.
    """

    def run(name: str, server: LocalServer) -> VerifierRun:
        told = SMALL_LIMITS if name == "throttle-off" else {}
        workdir = tmp_path_factory.mktemp(f"run-{name}")
        return Verifier(workdir, server.outputs_path, "dev", **told).result()

    runs = {"correct": run("correct", correct_server)}
    for name, env in SERVERS.items():
        if name == "correct":
            continue
        server = LocalServer(tmp_path_factory.mktemp(f"verify-{name}"), env)
        try:
            runs[name] = run(name, server)
        finally:
            server.stop()
    return runs
