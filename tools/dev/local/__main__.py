"""Serve the upload API locally: API Gateway emulated in front of the real handler, AWS emulated by moto.

    python -m tools.dev.local --port 3000 --outputs local-outputs.json    (what `make local` runs)

The bucket, table and keys come from the upload stack's own synthesized template
(tools/dev/local/template.json, written by a synth: template.py; read by aws.py); so do the
stage name, the throttling numbers, the request model, the gateway responses and the function's
environment. The handler's S3 client points at an S3 front on a second loopback port
(s3_front.py, AWS_ENDPOINT_URL_S3): it checks presigned uploads as S3 does, forwards to moto, and
hands each stored presigned PUT to the finalizer (upload_api.finalizer) as S3's EventBridge event
would. The outputs file names the limits enforced (ThrottlingRateLimit,
ThrottlingBurstLimit), so `make verify` needs no flags. Knobs for tests, all read at start:

    THROTTLE=off                    no stage throttling (and no limits in the outputs file)
    THROTTLE_RATE, THROTTLE_BURST   override the stack's rate (per second) and burst
    LOCAL_GATEWAY_VALIDATION=off    skip the gateway's body validation (requests reach the handler)
    LOCAL_FAULT=500                 every request that passes the throttle answers 500

Everything listens on 127.0.0.1 only. Ctrl-C or SIGTERM stops it and removes the outputs file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from tools.common.paths import REPO_ROOT
from tools.dev.local.gateway import (
    REGION,
    FunctionInfo,
    LocalGateway,
    LocalLambdaContext,
    ResponseSpec,
    TokenBucket,
)
from tools.dev.local.s3_front import ObjectCreatedHook, S3Front, SigningSecret
from tools.dev.local.server import EVENT_LOOP, GatewayHTTPServer

LAMBDA_DIR = REPO_ROOT / "lambda"
DEFAULT_OUTPUTS = Path("local-outputs.json")  # the Makefile's OUTPUTS
HOST = "127.0.0.1"
ACCOUNT_ID = "123456789012"  # moto's default account
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


# -- Configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Knobs:
    """The environment's test knobs, checked before the slow start-up."""

    throttle_off: bool = False
    rate: float | None = None
    burst: int | None = None
    validation_off: bool = False
    fault_status: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Knobs:
        def off(name: str) -> bool:
            return environ.get(name, "").strip().lower() == "off"

        fault = environ.get("LOCAL_FAULT", "").strip()
        if fault not in ("", "500"):
            raise SystemExit(
                f"tools.dev.local: LOCAL_FAULT={fault!r} is not supported; the only fault is 500"
            )
        try:
            rate = float(environ["THROTTLE_RATE"]) if environ.get("THROTTLE_RATE") else None
            burst = int(environ["THROTTLE_BURST"]) if environ.get("THROTTLE_BURST") else None
        except ValueError:
            raise SystemExit(
                "tools.dev.local: THROTTLE_RATE must be a number and THROTTLE_BURST an integer"
            ) from None
        if (rate is not None and rate < 0) or (burst is not None and burst < 0):
            raise SystemExit("tools.dev.local: THROTTLE_RATE and THROTTLE_BURST must be >= 0")
        return cls(
            off("THROTTLE"), rate, burst, off("LOCAL_GATEWAY_VALIDATION"), int(fault) if fault else None
        )

    def throttle(self, stack_throttling: tuple[float, int]) -> TokenBucket | None:
        """The stage's token bucket: the stack's rate and burst unless overridden."""
        if self.throttle_off:
            return None
        rate, burst = stack_throttling
        return TokenBucket(
            rate if self.rate is None else self.rate, burst if self.burst is None else self.burst
        )


def use_emulated_aws(endpoint_url: str) -> None:
    """Point every boto3 client in this process at moto, with credentials that can reach nothing else."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(FAKE_CREDENTIALS)
    os.environ.update(
        {"AWS_ENDPOINT_URL": endpoint_url, "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    )


def start_s3_front(moto_endpoint: str) -> S3Front:
    """The S3 endpoint the handler's client uses: presigned requests checked, then moto."""
    secret = SigningSecret(
        FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
    )
    hook = finalizer_hook(FunctionInfo(function_name="UploadFinalizer-local", timeout_seconds=60))
    return S3Front(moto_endpoint, {secret.access_key: secret}, REGION, ACCOUNT_ID, hook, host=HOST).start()


def finalizer_hook(function: FunctionInfo) -> ObjectCreatedHook:
    """Deliver S3's "Object Created" event to upload_api.finalizer, imported at the first event."""

    def deliver(event: dict[str, Any]) -> None:
        try:
            finalizer = importlib.import_module("upload_api.finalizer")
        except ModuleNotFoundError as missing:
            if missing.name != "upload_api.finalizer":
                raise
            logging.getLogger(__name__).warning("no upload_api.finalizer: the object stays unrecorded")
            return
        finalizer.lambda_handler(event, LocalLambdaContext(function, str(uuid.uuid4())))

    return deliver


def write_outputs(path: Path, outputs: dict[str, Any]) -> None:
    """Write the outputs file atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # as `cdk deploy --outputs-file` leaves it (mkstemp makes 0600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(outputs, handle, indent=2)
            handle.write("\n")
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


# -- Start and stop -------------------------------------------------------------------------------


@dataclass
class LocalStack:
    """What start-up built: the gateway in front of the imported handler, and what it stands for."""

    stack_name: str
    gateway: LocalGateway
    moto_endpoint: str
    s3_endpoint: str
    bucket_name: str
    table_name: str
    function: FunctionInfo

    def outputs(self, api_url: str) -> dict[str, Any]:
        """The `cdk deploy --outputs-file` shape, plus where the emulated AWS listens and the
        limits this server enforces (none with THROTTLE=off), so a verifier needs no other input."""
        outputs: dict[str, Any] = {
            "ApiUrl": api_url,
            "UploadEndpoint": f"{api_url}upload",
            "LambdaFunctionArn": self.function.arn,
            "BucketName": self.bucket_name,
            "TableName": self.table_name,
            "AwsEndpointUrl": self.moto_endpoint,
        }
        throttle = self.gateway.throttle
        if throttle is not None:
            outputs["ThrottlingRateLimit"] = (
                int(throttle.rate) if throttle.rate.is_integer() else throttle.rate
            )
            outputs["ThrottlingBurstLimit"] = throttle.burst
        return {self.stack_name: outputs}


def build_local_stack(
    moto_endpoint: str, s3_endpoint: str, knobs: Knobs, stop: threading.Event
) -> LocalStack | None:
    """Create the stack's resources in moto and import the handler, as Lambda's init would."""
    import boto3

    from tools.dev.local.aws import UploadTemplate, create_emulated_resources
    from tools.dev.local.template import load

    use_emulated_aws(moto_endpoint)
    os.environ["AWS_ENDPOINT_URL_S3"] = s3_endpoint  # what the handler presigns names the S3 front
    stack_name, template = load()
    if stop.is_set():
        return None
    view = UploadTemplate(template)
    resources = create_emulated_resources(template, boto3.Session())
    os.environ.update(resources.function_environment)
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"
    if str(LAMBDA_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDA_DIR))
    handler = importlib.import_module("upload_api.handler")  # reads its settings now, like a cold start

    function_props = view.function[1]["Properties"]
    function = FunctionInfo(
        function_name=f"{stack_name}-UploadFunction-local",
        memory_mb=int(function_props.get("MemorySize", 128)),
        timeout_seconds=int(function_props.get("Timeout", 3)),
    )
    gateway = LocalGateway(
        stage_name=view.stage_name,
        handler=handler.lambda_handler,
        function=function,
        request_schema=None if knobs.validation_off else view.request_schema,
        throttle=knobs.throttle(view.throttling),
        fault_status=knobs.fault_status,
        responses={kind: ResponseSpec(**spec) for kind, spec in view.gateway_responses.items()},
    )
    return LocalStack(
        stack_name,
        gateway,
        moto_endpoint,
        s3_endpoint,
        resources.bucket_name,
        resources.table_name,
        function,
    )


def banner(stack: LocalStack, api_url: str, outputs_path: Path) -> str:
    endpoint = f"{api_url}upload"
    throttle = stack.gateway.throttle
    limits = f"{throttle.rate:g}/s, burst {throttle.burst}" if throttle else "off"
    validation = "on" if stack.gateway.request_schema is not None else "off"
    example = (
        '{"productId":"p-1","productName":"Desk lamp","price":29.99,'
        '"fileName":"hello.txt","contentType":"text/plain","fileContent":"aGVsbG8="}'
    )
    return "\n".join(
        [
            f"Upload API ({stack.stack_name}) serving on {api_url}",
            f"  POST {endpoint}",
            f"  AWS emulated by moto at {stack.moto_endpoint}",
            f"  S3 for presigned uploads at {stack.s3_endpoint} (signature, expiry and SHA-256 checked)",
            f"  throttle {limits}; gateway body validation {validation}; HTTP front on {EVENT_LOOP}"
            + (f"; fault {stack.gateway.fault_status}" if stack.gateway.fault_status else ""),
            f"  outputs written to {outputs_path}",
            # The deployed API admits only allowedCallers and the stage's verifier (its resource policy).
            "  no IAM here: SigV4 auth and the API's resource policy (allowedCallers) are not enforced",
            "Try:",
            f"  curl -sS -X POST {endpoint} -H 'Content-Type: application/json' -d '{example}'",
            "See what it stored (the bucket's objects, the table's items):",
            *(f"  {command}" for command in show_commands(stack, outputs_path)),
            "Ctrl-C stops it.",
        ]
    )


def show_commands(stack: LocalStack, outputs_path: Path) -> list[str]:
    """`make local-show` for this server, and the same look with the AWS CLI (tools/dev/local/show.py)."""
    from tools.dev.local.show import aws_cli_commands

    make = "make local-show" if outputs_path == DEFAULT_OUTPUTS else f"make local-show OUTPUTS={outputs_path}"
    names = {
        "AwsEndpointUrl": stack.moto_endpoint,
        "BucketName": stack.bucket_name,
        "TableName": stack.table_name,
    }
    return [make, *aws_cli_commands(names)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.dev.local", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "3000")),
        help="HTTP port on 127.0.0.1 (0: any free port)",
    )
    parser.add_argument(
        "--outputs",
        type=Path,
        default=Path(os.environ.get("OUTPUTS", "local-outputs.json")),
        help="where to write the stack outputs once serving",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    knobs = Knobs.from_env(os.environ)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-call access log
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        http = GatewayHTTPServer((HOST, args.port))
    except OSError as error:
        print(f"tools.dev.local: cannot listen on {HOST}:{args.port}: {error}", file=sys.stderr)
        return 1
    try:
        return run(http, knobs, args.outputs, stop)
    finally:
        http.server_close()


def run(http: GatewayHTTPServer, knobs: Knobs, outputs_path: Path, stop: threading.Event) -> int:
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    moto.start()
    try:
        moto_host, moto_port = moto.get_host_and_port()
        moto_endpoint = f"http://{moto_host}:{moto_port}"
        s3_front = start_s3_front(moto_endpoint)
        try:
            stack = build_local_stack(moto_endpoint, s3_front.url, knobs, stop)
            if stack is None:  # stopped during start-up
                return 0
            http.gateway = stack.gateway
            return serve(http, stack, outputs_path, stop)
        finally:
            s3_front.stop()
    finally:
        moto.stop()


def serve(http: GatewayHTTPServer, stack: LocalStack, outputs_path: Path, stop: threading.Event) -> int:
    """Serve until `stop` is set; the outputs file exists exactly while the server answers."""
    api_url = f"http://{HOST}:{http.port}/{stack.gateway.stage_name}/"
    serving = threading.Thread(target=http.serve_forever, name="local-api-http", daemon=True)
    serving.start()
    try:
        if stop.is_set():
            return 0
        write_outputs(outputs_path, stack.outputs(api_url))
        try:
            print(banner(stack, api_url, outputs_path), flush=True)
            while not stop.wait(0.5):
                if not serving.is_alive():
                    print("tools.dev.local: the HTTP server stopped unexpectedly", file=sys.stderr)
                    return 1
            print("tools.dev.local: stopping", flush=True)
            return 0
        finally:
            outputs_path.unlink(missing_ok=True)
    finally:
        http.shutdown()


if __name__ == "__main__":
    sys.exit(main())
