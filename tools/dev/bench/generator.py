"""(c) The post-deploy verifier's load generator (tools/pipeline_checks/verify/loadgen.py), open loop
against a minimal loopback server that answers 429 (tools/dev/bench/sink.py, its own
process): the rate it actually offers (target >= 3,000 req/s on 2 cores), its schedule slip and
its CPU per request, unsigned and SigV4-signed (signed once per second, as against a deployment),
next to what one botocore signature costs. Unsigned and signed runs alternate, in pairs.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tools.common.paths import REPO_ROOT

if TYPE_CHECKING:
    from tools.common.sigv4 import CachedSigner

LOADGEN_TARGET = 3000.0  # req/s the verifier's generator must offer on this 2-core machine
SINK_START_TIMEOUT_S = 30
UNSIGNED, SIGNED = "unsigned", "SigV4, signed once a second"


@contextlib.contextmanager
def _sink() -> Iterator[str]:
    """The verifier's sink in a process of its own (the generator gets the other core); its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.dev.bench.sink", "--port", "0", "--max-seconds", "600"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + SINK_START_TIMEOUT_S
        line = ""
        while time.monotonic() < deadline and not line.startswith("listening on "):
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise RuntimeError("the loopback sink exited before listening")
        if not line.startswith("listening on "):
            raise RuntimeError("the loopback sink did not start")
        yield f"http://{line.split()[-1]}/dev/upload"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class LoadFigure:
    label: str
    offered: float
    sent: int
    not_sent: int
    no_answer: int
    slip_p50_ms: float
    slip_p99_ms: float
    cpu_us_per_request: float
    signatures: int

    def line(self) -> str:
        return (
            f"    {self.label}: offered {self.offered:.0f} req/s ({self.sent} sent, "
            f"{self.not_sent} not sent, {self.no_answer} unanswered); "
            f"schedule slip p50 {self.slip_p50_ms:.1f} ms, p99 {self.slip_p99_ms:.1f} ms; "
            f"client CPU {self.cpu_us_per_request:.0f} us/request"
            + (f"; {self.signatures} signatures" if self.signatures else "")
        )


@dataclass(frozen=True)
class LoadPair:
    unsigned: LoadFigure
    signed: LoadFigure
    signature_us: float  # one botocore signature's CPU, measured right after this pair's runs

    @property
    def signing_share(self) -> float:
        """What signing every request would add to the unsigned generator's CPU per request."""
        return self.signature_us / self.unsigned.cpu_us_per_request


def _signature_cost_us(samples: int = 2000) -> float:
    from botocore.credentials import Credentials

    from tools.common.sigv4 import signed_headers

    credentials = Credentials("AKIDEXAMPLE", "bench-not-a-secret", "bench-token")
    url = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/dev/upload"
    start = time.process_time()
    for _ in range(samples):
        signed_headers(credentials, "us-east-1", "POST", url, b"{}", {"Content-Type": "application/json"})
    return (time.process_time() - start) / samples * 1e6


def _run(url: str, rate: float, seconds: float, signer: CachedSigner | None = None) -> LoadFigure:
    from tools.pipeline_checks.verify import loadgen

    plain = {"Content-Type": "application/json"}
    headers: Callable[[], dict[str, str]] = signer.headers if signer is not None else lambda: plain
    plan = loadgen.LoadPlan.for_duration(rate, seconds, warm_connections=32)
    request = loadgen.Request("POST", url, b'{"productId":"bench"}', headers)
    cpu = time.process_time()
    result = loadgen.run(plan, request, lambda status, body: str(status))
    cpu = time.process_time() - cpu
    return LoadFigure(
        SIGNED if signer is not None else UNSIGNED,
        result.offered_rate,
        len(result.sent),
        result.not_sent,
        result.no_answer,
        result.lag_ms(0.5),
        result.lag_ms(0.99),
        cpu / max(1, len(result.sent)) * 1e6,
        signer.signatures if signer is not None else 0,
    )


def measure_loadgen(rate: float, seconds: float, pairs: int) -> list[LoadPair]:
    """`pairs` times: an unsigned run, a signed run, one signature's cost."""
    from botocore.credentials import Credentials

    from tools.common.sigv4 import CachedSigner

    measured: list[LoadPair] = []
    with _sink() as url:
        plain = {"Content-Type": "application/json"}
        for _ in range(pairs):
            # The sink ignores signatures: fake credentials cost what real ones cost to sign with.
            credentials = Credentials("AKIDEXAMPLE", "bench-not-a-secret", "bench-token")
            signer = CachedSigner(credentials, "us-east-1", "POST", url, b"{}", plain)
            unsigned = _run(url, rate, seconds)
            time.sleep(0.5)
            signed = _run(url, rate, seconds, signer)
            time.sleep(0.5)
            measured.append(LoadPair(unsigned, signed, _signature_cost_us()))
    return measured


def _median_run(figures: list[LoadFigure]) -> LoadFigure:
    return sorted(figures, key=lambda figure: figure.offered)[(len(figures) - 1) // 2]


def print_loadgen(rate: float, seconds: float, pairs: int) -> None:
    measured = measure_loadgen(rate, seconds, pairs)
    print(
        "load generator (open loop, answers parsed by httptools) vs a minimal loopback server answering 429, "
        f"{rate:g} req/s planned for {seconds:g} s, {pairs} interleaved pairs of runs (median run shown):"
    )
    print(_median_run([pair.unsigned for pair in measured]).line())
    print(_median_run([pair.signed for pair in measured]).line())
    cpu_us = statistics.median(
        figure.cpu_us_per_request for pair in measured for figure in (pair.unsigned, pair.signed)
    )
    print(
        f"    at a median {cpu_us:.0f} us of client CPU per request, "
        f"one core offers about {1e6 / cpu_us:.0f} req/s"
    )
    shares = [pair.signing_share for pair in measured]
    signature_us = statistics.median(pair.signature_us for pair in measured)
    print(
        f"    one botocore SigV4 signature: {signature_us:.0f} us of CPU: signing each request would add "
        f"{statistics.median(shares):.0%} (min {min(shares):.0%}, max {max(shares):.0%}, per pair) to the "
        "generator's CPU per request; it signs once per second instead"
    )
    lowest = min(figure.offered for pair in measured for figure in (pair.unsigned, pair.signed))
    verdict = "PASS" if lowest >= LOADGEN_TARGET else "MISS"
    print(
        f"load generator offered rate, lowest run: {lowest:.0f} req/s "
        f"(target >= {LOADGEN_TARGET:g}) {verdict}"
    )
