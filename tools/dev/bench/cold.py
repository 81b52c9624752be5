"""(a) Cold init: `import upload_api.handler` in a fresh interpreter ÷ a bare `import boto3;
boto3.client("s3"); boto3.client("dynamodb")` in a fresh interpreter, whole processes, paired.

Measured "as deployed": LAMBDA_TASK_ROOT is set, so Powertools enables tracing and the X-Ray SDK
picks its Lambda mode (local sampler, no sampling client), exactly what the function runs with
`Tracing.ACTIVE`. Outside Lambda the X-Ray SDK would build a sampling client at import, a cost the
function never pays. The tracing-disabled ratio is printed too, for comparison. No X-Ray daemon is
needed: nothing is sent at init.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from tools.common.paths import REPO_ROOT
from tools.dev.bench.pairs import PairedRatio, interleaved

LAMBDA_DIR = REPO_ROOT / "lambda"
COLD_TARGET = 1.3

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


def measure_cold(pairs: int) -> tuple[PairedRatio, PairedRatio]:
    """(tracing on, as deployed: the headline; tracing off) cold-init ratios, each from its own pairs."""
    with tempfile.TemporaryDirectory(prefix="upload-api-bench-pycache-") as pycache:
        traced_env = _cold_env(tracing=True, pycache=pycache)
        untraced_env = _cold_env(tracing=False, pycache=pycache)
        for code, env in (
            (BARE_CLIENTS_INIT, traced_env),
            (HANDLER_INIT, traced_env),
            (HANDLER_INIT, untraced_env),
        ):
            _time_subprocess(code, env)  # warm-up: byte-code cache and page cache

        def bare() -> float:
            return _time_subprocess(BARE_CLIENTS_INIT, traced_env)

        def ratio(name: str, env: dict[str, str]) -> PairedRatio:
            return PairedRatio(
                name,
                "import upload_api.handler",
                "import boto3 + s3 and dynamodb clients",
                interleaved(lambda: _time_subprocess(HANDLER_INIT, env), bare, pairs),
                COLD_TARGET,
            )

        return ratio("cold init, tracing on (as deployed)", traced_env), ratio(
            "cold init, tracing off", untraced_env
        )
