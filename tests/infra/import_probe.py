"""Run by test_bundle.py in an isolated interpreter (`python -I -S`): import the handler from the bundle.

argv: <bundle dir> <runtime dir>. sys.path becomes [bundle, runtime] + the standard library,
which is what Lambda gives the function: /var/task, then the runtime's own boto3 & co.
Prints one JSON object describing what was imported from where and how two requests went.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

bundle, runtime = (str(Path(p).resolve()) for p in sys.argv[1:3])
sys.path[0:0] = [bundle, runtime]
# The standard library lives under base_prefix even when the interpreter is a venv's.
stdlib_prefix = str(Path(sys.base_prefix).resolve()) + "/"


# Not tools.dev.local.gateway.LocalLambdaContext: this interpreter sees only the bundle and the runtime.
class LambdaContext:
    function_name = "upload-api-probe"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:upload-api-probe"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/upload-api-probe"
    log_stream_name = "probe"

    def get_remaining_time_in_millis(self) -> int:
        return 20_000


def origin(module: object) -> str | None:
    file = getattr(module, "__file__", None)
    if not file:
        return None
    # Compare the path as imported: the runtime dir holds symlinks, which resolve() would follow.
    for name, prefix in (("bundle", bundle), ("runtime", runtime)):
        if file.startswith(prefix + "/"):
            return name
    if str(Path(file).resolve()).startswith(stdlib_prefix):
        return "stdlib"
    return file


import upload_api.handler as handler  # noqa: E402  (after sys.path is set, as in Lambda)

request = {
    "resource": "/upload",
    "path": "/upload",
    "httpMethod": "POST",
    "headers": {"Content-Type": "application/json"},
    "multiValueHeaders": {"Content-Type": ["application/json"]},
    "requestContext": {
        "requestId": "probe",
        "stage": "prod",
        "resourcePath": "/upload",
        "httpMethod": "POST",
    },
    "isBase64Encoded": False,
    "body": json.dumps({"productId": "p-1"}),
}
bad_body = handler.lambda_handler(request, LambdaContext())
unknown_route = handler.lambda_handler(
    {**request, "resource": "/nope", "path": "/nope", "body": None}, LambdaContext()
)

# The scan-result function runs from the same bundle (stages/upload/malware_scanning.py).
import upload_api.scan_result as scan_result  # noqa: E402

try:
    scan_result.parse_scan_result({"source": "aws.s3"})
    scan_result_refuses_other_events = False
except scan_result.InvalidScanEvent:
    scan_result_refuses_other_events = True

import wrapt  # noqa: E402

origins: dict[str, set[str]] = {}
for name, module in list(sys.modules.items()):
    if name in ("__main__", "__mp_main__"):  # this script (multiprocessing aliases it)
        continue
    where = origin(module)
    if where is not None:
        origins.setdefault(where, set()).add(name.split(".")[0])

print(
    json.dumps(
        {
            "python": list(sys.version_info[:2]),
            "origins": {where: sorted(names) for where, names in origins.items()},
            "wrapt_extension_loaded": "wrapt._wrappers" in sys.modules,
            "wrapt_proxy_works": len(wrapt.ObjectProxy([1, 2, 3])) == 3,
            "tracer_enabled": not handler.tracer.disabled,
            "botocore_patched_for_xray": "aws_xray_sdk.ext.botocore.patch" in sys.modules,
            "status": {"bad_body": bad_body["statusCode"], "unknown_route": unknown_route["statusCode"]},
            "scan_result_refuses_other_events": scan_result_refuses_other_events,
        }
    )
)
