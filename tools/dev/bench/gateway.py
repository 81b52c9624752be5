"""(d) The local gateway's answered rate: `python -m tools.dev.local` at its default limits (1000 req/s,
burst 2000), flooded by the verifier's generator with the verifier's schema-invalid load body: the
429s and validator 400s answered per second (target >= 2,500 on 2 cores, generator included), and
the server's CPU per answer (Linux: /proc/<pid>/stat). A rate, not a ratio: nothing is paired.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tools.common.paths import REPO_ROOT

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
        result = loadgen.run(plan, request, lambda status, body: str(status))
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
