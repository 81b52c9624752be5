"""The local API front bound to what a deploy action created: the verify actions' target.

API Gateway is not emulated by moto well enough to serve (no stages), so the local gateway of
`make local` stands in for it, configured from the deployed stage's template (stage name,
throttling, request model) and calling the handler code that was published to the bootstrap
bucket (downloaded from the S3 location the deployed function names), with the function's
deployed environment (bucket, table and keys as CloudFormation created them in the emulator).

The local API modules are imported here and nowhere else in the rehearsal, so their home can
move by changing these imports only.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.common import intrinsics
from tools.dev.local.aws import UploadTemplate
from tools.dev.local.gateway import FunctionInfo, LocalGateway, ResponseSpec, TokenBucket
from tools.dev.local.server import GatewayHTTPServer

HOST = "127.0.0.1"
HANDLER = "upload_api.handler.lambda_handler"


@dataclass
class Front:
    http: GatewayHTTPServer
    thread: threading.Thread
    api_url: str
    code_dir: tempfile.TemporaryDirectory[str]
    note: str

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join(timeout=5)
        self.code_dir.cleanup()


def start_front(
    session: Any, stack_name: str, template: dict[str, Any], throttle: tuple[float, int] | None = None
) -> Front:
    """Serve the deployed stage on 127.0.0.1; `throttle` overrides the stage's (rate, burst)."""
    view = UploadTemplate(template)
    function_id, function = view.function
    listed = session.client("cloudformation").describe_stack_resources(StackName=stack_name)["StackResources"]
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in listed if "LogicalResourceId" in r
    }
    lambda_client = session.client("lambda")
    deployed = lambda_client.get_function(FunctionName=physical[function_id])
    configuration = deployed["Configuration"]
    if configuration["Handler"] != HANDLER:
        raise RuntimeError(f"deployed handler {configuration['Handler']} is not {HANDLER}")
    code_dir = tempfile.TemporaryDirectory(prefix="rehearse-code-")
    code = function["Properties"]["Code"]
    bucket, key = _resolved_code_location(session, code, stack_name)
    body = session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    zipfile.ZipFile(io.BytesIO(body)).extractall(code_dir.name)
    handler = _import_handler(
        Path(code_dir.name),
        configuration.get("Environment", {}).get("Variables", {}),
        _function_credentials(configuration["Role"]),
    )
    rate, burst = throttle or view.throttling
    gateway = LocalGateway(
        stage_name=view.stage_name,
        handler=handler,
        function=FunctionInfo(
            function_name=configuration["FunctionName"],
            memory_mb=int(configuration.get("MemorySize", 128)),
            timeout_seconds=int(configuration.get("Timeout", 3)),
        ),
        request_schema=view.request_schema,
        throttle=TokenBucket(rate, burst),
        fault_status=None,
        # The deployed stage's gateway responses (the 400 that names the field, the headers).
        responses={kind: ResponseSpec(**spec) for kind, spec in view.gateway_responses.items()},
    )
    http = GatewayHTTPServer((HOST, 0))
    http.gateway = gateway
    thread = threading.Thread(target=http.serve_forever, name=f"front-{stack_name}", daemon=True)
    thread.start()
    api_url = f"http://{HOST}:{http.port}/{view.stage_name}/"
    note = (
        f"front {api_url} -> {configuration['FunctionName']} (code s3://{bucket}/{key}), "
        f"throttle {rate:g}/s burst {burst}"
    )
    return Front(http, thread, api_url, code_dir, note)


def _resolved_code_location(session: Any, code: dict[str, Any], stack_name: str) -> tuple[str, str]:
    """The S3 bucket and key of the function's code, as the template names them (Fn::Sub)."""
    from tools.review_kit.rehearse.emulator import ACCOUNT, REGION

    policy = intrinsics.Deployed(intrinsics.Account(ACCOUNT, REGION))
    return intrinsics.resolve(code["S3Bucket"], policy), intrinsics.resolve(code["S3Key"], policy)


def _function_credentials(role_arn: str) -> dict[str, str] | None:
    """The session Lambda gets for the function's role, when IAM is enforced (else moto's fakes)."""
    from tools.review_kit.rehearse import emulator, iam_enforcement

    if not emulator.enforcing():
        return None  # not enforced: the fake credentials serve
    return iam_enforcement.service_session(role_arn, "lambda.amazonaws.com", "upload-api-front")


def _import_handler(code_dir: Path, environment: dict[str, str], credentials: dict[str, str] | None) -> Any:
    """Import the handler from the published code with the deployed environment, as a cold start:
    its boto3 clients (built at import) get the function role's credentials."""
    import boto3

    for name in [m for m in sys.modules if m == "upload_api" or m.startswith("upload_api.")]:
        del sys.modules[name]  # a second stage's front imports its own copy with its own settings
    os.environ.update(environment)
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"
    sys.path.insert(0, str(code_dir))
    previous = boto3.DEFAULT_SESSION
    if credentials is not None:
        boto3.setup_default_session(
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials["AWS_SESSION_TOKEN"],
        )
    try:
        module = importlib.import_module("upload_api.handler")
    finally:
        sys.path.remove(str(code_dir))
        boto3.DEFAULT_SESSION = previous
    return module.lambda_handler
