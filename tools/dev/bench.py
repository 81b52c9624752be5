"""Two cost ratios of the upload handler, measured in one run (`make bench`).

(a) Cold init: `import upload_api.handler` (imports, settings, both boto3 clients)
    in a fresh interpreter, divided by a bare `import boto3; boto3.client("s3");
    boto3.client("dynamodb")` in a fresh interpreter. Target <= 1.3.
(b) Warm CPU: `lambda_handler` on a 4 MiB upload with fake (in-memory) AWS
    clients, divided by base64-decoding plus SHA-256 of the same bytes, which
    any implementation must do. Target <= 2.0.

And two figures: (c) the post-deploy verifier's load generator (tools/pipeline_checks/verify/loadgen.py),
open loop at 4,000 req/s for 3 s against a minimal loopback server that answers 429
(tools/pipeline_checks/verify/sink.py, its own process): the rate it actually offered (target >= 3,000
req/s on 2 cores), its schedule slip, and its CPU per request, unsigned and SigV4-signed
(signed once per second, as against a deployment), next to what one botocore signature costs.
(d) the local gateway's answered rate: `python -m tools.dev.local` at its default limits (1000 req/s,
burst 2000), flooded by the same generator with the verifier's schema-invalid load body at
--gateway-rate: the 429s and validator 400s answered per second (target >= 2,500 on 2 cores,
generator included), and the server's CPU per answer (Linux: /proc/<pid>/stat).

Cold init is measured "as deployed": LAMBDA_TASK_ROOT is set, so Powertools
enables tracing and the X-Ray SDK picks its Lambda mode (local sampler, no
sampling client), exactly what the function runs with `Tracing.ACTIVE`. Outside
Lambda the X-Ray SDK would build a sampling client at import, a cost the
function never pays. The tracing-disabled number is printed too, for comparison.
No X-Ray daemon is needed: nothing is sent at init.

A benchmark reports; it does not gate. The exit status is 0 whatever the ratios.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.common.paths import REPO_ROOT
from tools.dev.local.gateway import FunctionInfo, LocalLambdaContext

LAMBDA_DIR = REPO_ROOT / "lambda"

COLD_TARGET = 1.3
WARM_TARGET = 2.0
FILE_BYTES = 4 * 1024 * 1024
BENCH_FUNCTION = FunctionInfo("upload-api-bench", memory_mb=1024, timeout_seconds=29)

# Only what the function's environment and the Lambda runtime provide; no real AWS is contacted.
BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "BUCKET_NAME": "bench-bucket",
    "TABLE_NAME": "bench-table",
    "POWERTOOLS_SERVICE_NAME": "upload-api",
    "POWERTOOLS_METRICS_NAMESPACE": "UploadApi",
}

_TIMED_IMPORT = """
import time
_start = time.perf_counter()
{body}
print(time.perf_counter() - _start)
"""
HANDLER_INIT = _TIMED_IMPORT.format(body="import upload_api.handler")
BARE_CLIENTS_INIT = _TIMED_IMPORT.format(body="import boto3\nboto3.client('s3')\nboto3.client('dynamodb')")


@dataclass(frozen=True)
class Ratio:
    name: str
    numerator_label: str
    numerator: float
    denominator_label: str
    denominator: float
    target: float
    unit: str = "ms"

    @property
    def value(self) -> float:
        return self.numerator / self.denominator

    @property
    def verdict(self) -> str:
        return "PASS" if self.value <= self.target else "MISS"

    def lines(self) -> list[str]:
        return [
            f"{self.name}: {self.value:.2f} (target <= {self.target}) {self.verdict}",
            f"    {self.numerator_label}: {self.numerator * 1000:.1f} {self.unit}",
            f"    {self.denominator_label}: {self.denominator * 1000:.1f} {self.unit}",
        ]


# ---------------------------------------------------------------- cold init


def _cold_env(*, tracing: bool, pycache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_", "_X_AMZN"))}
    env.pop("LAMBDA_TASK_ROOT", None)
    env.update(BASE_ENV)
    env["LAMBDA_TASK_ROOT"] = str(LAMBDA_DIR)
    env["PYTHONPATH"] = str(LAMBDA_DIR)
    # Byte-code is cached (as in a deployed runtime) but outside lambda/, whose hash is the asset's.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    if not tracing:
        env["POWERTOOLS_TRACE_DISABLED"] = "1"
    return env


def _time_subprocess(code: str, env: dict[str, str]) -> float:
    result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    return float(result.stdout.strip().splitlines()[-1])


def measure_cold(runs: int) -> tuple[Ratio, Ratio]:
    """(tracing on, as deployed: the headline; tracing off) cold-init ratios."""
    with tempfile.TemporaryDirectory(prefix="upload-api-bench-pycache-") as pycache:
        scenarios = {
            "bare": (BARE_CLIENTS_INIT, _cold_env(tracing=True, pycache=pycache)),
            "traced": (HANDLER_INIT, _cold_env(tracing=True, pycache=pycache)),
            "untraced": (HANDLER_INIT, _cold_env(tracing=False, pycache=pycache)),
        }
        samples: dict[str, list[float]] = {name: [] for name in scenarios}
        for code, env in scenarios.values():  # warm-up: byte-code cache and page cache
            _time_subprocess(code, env)
        for _ in range(runs):  # interleaved, so drift hits every scenario alike
            for name, (code, env) in scenarios.items():
                samples[name].append(_time_subprocess(code, env))
    bare = statistics.median(samples["bare"])

    def against_bare(name: str, scenario: str) -> Ratio:
        return Ratio(
            name,
            f"import upload_api.handler, median of {runs}",
            statistics.median(samples[scenario]),
            f"import boto3 + s3 and dynamodb clients, median of {runs}",
            bare,
            COLD_TARGET,
        )

    traced = against_bare("cold init, tracing on (as deployed)", "traced")
    untraced = against_bare("cold init, tracing off", "untraced")
    return traced, untraced


# ---------------------------------------------------------------- warm CPU


class _FakeS3:
    def put_object(self, **_: Any) -> dict[str, Any]:
        return {"VersionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", "ETag": '"0"'}


class _FakeDynamoDB:
    def put_item(self, **_: Any) -> dict[str, Any]:
        return {}


def upload_event(body: str) -> dict[str, Any]:
    return {
        "resource": "/upload",
        "path": "/upload",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/upload",
            "httpMethod": "POST",
            "path": "/dev/upload",
            "stage": "dev",
            "requestId": "bench-request",
        },
        "body": body,
        "isBase64Encoded": False,
    }


@contextlib.contextmanager
def _stdout_discarded() -> Iterator[None]:
    """Powertools' logger and metrics write to fd 1; keep 4 MiB runs quiet and I/O-free."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def _median_cpu(function: Callable[[], object], iterations: int, warmup: int) -> float:
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(iterations):
        start = time.process_time()
        function()
        samples.append(time.process_time() - start)
    return statistics.median(samples)


def measure_warm(iterations: int, warmup: int = 3) -> Ratio:
    for name, value in {**BASE_ENV, "POWERTOOLS_TRACE_DISABLED": "1"}.items():
        os.environ.setdefault(name, value)
    if str(LAMBDA_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDA_DIR))
    sys.dont_write_bytecode = True  # lambda/ is the asset: no __pycache__ in it

    from upload_api import handler  # after the environment is set
    from upload_api.storage import UploadStore

    handler.store = UploadStore(
        s3_client=_FakeS3(),
        dynamodb_client=_FakeDynamoDB(),
        bucket_name="bench-bucket",
        table_name="bench-table",
    )
    content = random.Random(20261123).randbytes(FILE_BYTES)  # noqa: S311 - test data
    file_text = base64.b64encode(content).decode("ascii")
    body = json.dumps(
        {
            "productId": "bench-1",
            "productName": "Benchmark lamp",
            "price": 29.99,
            "fileName": "bench.bin",
            "contentType": "application/octet-stream",
            "fileContent": file_text,
            "checksumSha256": base64.b64encode(hashlib.sha256(content).digest()).decode("ascii"),
        }
    )
    event = upload_event(body)
    # One context for every timed call: building it is no part of the handler's cost.
    context = LocalLambdaContext(BENCH_FUNCTION, "00000000-0000-4000-8000-000000000000")

    def handle() -> None:
        response = handler.lambda_handler(event, context)
        if response["statusCode"] != 201:
            raise RuntimeError(
                f"benchmark upload was not stored: {response['statusCode']} {response['body']}"
            )

    def decode_and_hash() -> None:
        hashlib.sha256(base64.b64decode(file_text, validate=True)).digest()

    with _stdout_discarded():
        handled = _median_cpu(handle, iterations, warmup)
        baseline = _median_cpu(decode_and_hash, iterations, warmup)
    return Ratio(
        "warm CPU, 4 MiB upload",
        f"lambda_handler (fake AWS clients), median of {iterations}",
        handled,
        f"base64 decode + SHA-256 of the same bytes, median of {iterations}",
        baseline,
        WARM_TARGET,
    )


# ---------------------------------------------------------------- load generator

LOADGEN_TARGET = 3000.0  # req/s the verifier's generator must offer on this 2-core machine
SINK_START_TIMEOUT_S = 30


@contextlib.contextmanager
def _sink() -> Iterator[str]:
    """The verifier's sink in a process of its own (the generator gets the other core); its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.pipeline_checks.verify.sink", "--port", "0", "--max-seconds", "120"],
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


def _signature_cost_us(samples: int = 2000) -> float:
    from botocore.credentials import Credentials

    from tools.common.sigv4 import signed_headers

    credentials = Credentials("AKIDEXAMPLE", "bench-not-a-secret", "bench-token")
    url = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/dev/upload"
    start = time.process_time()
    for _ in range(samples):
        signed_headers(credentials, "us-east-1", "POST", url, b"{}", {"Content-Type": "application/json"})
    return (time.process_time() - start) / samples * 1e6


def measure_loadgen(rate: float, seconds: float) -> tuple[list[LoadFigure], float]:
    """The generator's offered rate against the sink, unsigned and signed; and one signature's CPU cost."""
    from botocore.credentials import Credentials

    from tools.common.sigv4 import CachedSigner
    from tools.pipeline_checks.verify import loadgen

    figures = []
    with _sink() as url:
        plain = {"Content-Type": "application/json"}
        # The sink ignores signatures: fake credentials cost what real ones cost to sign with.
        signer = CachedSigner(
            Credentials("AKIDEXAMPLE", "bench-not-a-secret", "bench-token"),
            "us-east-1",
            "POST",
            url,
            b"{}",
            plain,
        )
        for label, headers in (("unsigned", lambda: plain), ("SigV4, signed once a second", signer.headers)):
            plan = loadgen.LoadPlan.for_duration(rate, seconds, warm_connections=32)
            request = loadgen.Request("POST", url, b'{"productId":"bench"}', headers)
            cpu = time.process_time()
            result = loadgen.run(plan, request, lambda status, body: str(status), warm_url=url)
            cpu = time.process_time() - cpu
            figures.append(
                LoadFigure(
                    label,
                    result.offered_rate,
                    len(result.sent),
                    result.not_sent,
                    result.no_answer,
                    result.lag_ms(0.5),
                    result.lag_ms(0.99),
                    cpu / max(1, len(result.sent)) * 1e6,
                    signer.signatures if headers == signer.headers else 0,
                )
            )
            time.sleep(0.5)
    return figures, _signature_cost_us()


def print_loadgen(rate: float, seconds: float) -> None:
    figures, signature_us = measure_loadgen(rate, seconds)
    print(
        f"load generator (open loop, aiohttp) vs a minimal loopback server answering 429, "
        f"{rate:g} req/s planned for {seconds:g} s:"
    )
    for figure in figures:
        print(figure.line())
    per_request = figures[0].cpu_us_per_request
    print(
        f"    one botocore SigV4 signature: {signature_us:.0f} us of CPU: signing each request would add "
        f"{signature_us / per_request:.0%} to the generator's {per_request:.0f} us per request; "
        "it signs once per second instead"
    )
    lowest = min(figure.offered for figure in figures)
    verdict = "PASS" if lowest >= LOADGEN_TARGET else "MISS"
    print(f"load generator offered rate: {lowest:.0f} req/s (target >= {LOADGEN_TARGET:g}) {verdict}")


# ---------------------------------------------------------------- local gateway

GATEWAY_TARGET = 2500.0  # answered req/s the local gateway must reach, generator on the same 2 cores
GATEWAY_START_TIMEOUT_S = 240  # a cold synth plus moto


def _process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of process `pid` (Linux), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _local_server() -> Iterator[tuple[str, int]]:
    """`python -m tools.dev.local` on a free port with its default limits; (upload endpoint, pid)."""
    with tempfile.TemporaryDirectory(prefix="bench-local-") as workdir:
        outputs = Path(workdir) / "outputs.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("THROTTLE", "LOCAL_"))}
        with (Path(workdir) / "server.log").open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "tools.dev.local", "--port", "0", "--outputs", str(outputs)],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + GATEWAY_START_TIMEOUT_S
            while not outputs.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = (Path(workdir) / "server.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the local server did not start:\n{tail}")
                time.sleep(0.2)
            (stack,) = json.loads(outputs.read_text(encoding="utf-8")).values()
            yield stack["UploadEndpoint"], process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


def measure_gateway(rate: float, seconds: float) -> dict[str, float]:
    """The local gateway's answered rate under an open-loop flood of refused requests."""
    from tools.pipeline_checks.verify import loadgen
    from tools.pipeline_checks.verify.probes import LOAD_BODY

    with _local_server() as (url, pid):
        plan = loadgen.LoadPlan.for_duration(rate, seconds, warm_connections=32)
        request = loadgen.Request("POST", url, LOAD_BODY, lambda: {"Content-Type": "application/json"})
        server_cpu = _process_cpu_seconds(pid)
        result = loadgen.run(plan, request, lambda status, body: str(status), warm_url=url)
        server_cpu_after = _process_cpu_seconds(pid)
    counts = result.counts
    answered = counts.get("429", 0) + counts.get("400", 0)
    window = result.answer_window
    figure = {
        "offered": result.offered_rate,
        "answered": answered / window if window > 0 else 0.0,
        "answered_count": float(answered),
        "throttled": float(counts.get("429", 0)),
        "refused_400": float(counts.get("400", 0)),
        "other": float(len(result.sent) - answered),
        "not_sent": float(result.not_sent),
        "latency_p99_ms": result.latency_ms(0.99),
    }
    if server_cpu is not None and server_cpu_after is not None and answered:
        figure["server_cpu_us"] = (server_cpu_after - server_cpu) / len(result.sent) * 1e6
    return figure


def print_gateway(rate: float, seconds: float) -> None:
    figure = measure_gateway(rate, seconds)
    print(
        f"local gateway (make local, default limits) flooded at {rate:g} req/s for {seconds:g} s "
        "with the verifier's load body:"
    )
    print(
        f"    offered {figure['offered']:.0f} req/s; answered {figure['answered_count']:.0f} "
        f"({figure['throttled']:.0f} x 429, {figure['refused_400']:.0f} x 400, {figure['other']:.0f} other, "
        f"{figure['not_sent']:.0f} not sent); answer p99 {figure['latency_p99_ms']:.1f} ms"
    )
    if "server_cpu_us" in figure:
        per_core = 1e6 / figure["server_cpu_us"]
        print(
            f"    server CPU {figure['server_cpu_us']:.0f} us per request: one core answers about "
            f"{per_core:.0f} req/s"
        )
    verdict = "PASS" if figure["answered"] >= GATEWAY_TARGET else "MISS"
    print(
        f"local gateway answered rate: {figure['answered']:.0f} req/s (target >= {GATEWAY_TARGET:g}, "
        f"generator on the same machine) {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cold-runs", type=int, default=9, help="fresh interpreters per scenario")
    parser.add_argument("--warm-iterations", type=int, default=15, help="timed 4 MiB uploads")
    parser.add_argument("--loadgen-rate", type=float, default=4000.0, help="req/s the generator is asked for")
    parser.add_argument("--loadgen-seconds", type=float, default=3.0, help="length of each generator run")
    parser.add_argument("--loadgen-only", action="store_true", help="only (c): the load generator's figure")
    parser.add_argument("--gateway-rate", type=float, default=4000.0, help="req/s offered to the gateway")
    parser.add_argument("--gateway-seconds", type=float, default=3.0, help="length of the gateway flood")
    parser.add_argument("--gateway-only", action="store_true", help="only (d): the local gateway's figure")
    args = parser.parse_args(argv)

    if args.loadgen_only:
        print_loadgen(args.loadgen_rate, args.loadgen_seconds)
        return 0
    if args.gateway_only:
        print_gateway(args.gateway_rate, args.gateway_seconds)
        return 0
    traced, untraced = measure_cold(args.cold_runs)
    warm = measure_warm(args.warm_iterations)
    print(f"Python {sys.version.split()[0]} on {sys.platform}; CPU time via time.process_time")
    for ratio in (traced, warm, untraced):
        print("\n".join(ratio.lines()))
    print("headline: cold init with tracing on (as deployed); the tracing-off line is for comparison only")
    print_loadgen(args.loadgen_rate, args.loadgen_seconds)
    print_gateway(args.gateway_rate, args.gateway_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
