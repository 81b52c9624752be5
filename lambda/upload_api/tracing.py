"""What the functions write to logs and traces about an object: never its file name.

An object key is uploads/{productId}/{uuid4}/{fileName}. The file name is the client's own text
(a person's name, a contract's title), and logs and traces are read by more people than the
bucket. Logs carry the key up to the upload's id (`log_key`), which finds the one object under it;
traces carry no object key at all: the X-Ray SDK records the `Key` (and `CopySource`, `Prefix`)
request parameter of S3 calls, and `traces_without_file_names()` takes those out of its parameter list.
"""

from __future__ import annotations

from aws_lambda_powertools import Tracer

# The S3 request parameters the X-Ray SDK would copy into a trace's `aws` metadata that hold keys.
_KEY_PARAMETERS = {"Key", "CopySource", "Prefix"}


def log_key(key: str) -> str:
    """uploads/{productId}/{uuid4}/: the object's key without the file name."""
    return key.rsplit("/", 1)[0] + "/" if key.count("/") >= 3 else key


def traces_without_file_names() -> Tracer:
    """Powertools' tracer of the AWS SDK, its S3 subsegments without object keys."""
    traced = Tracer(patch_modules=["botocore"])
    if not traced.disabled:
        _drop_s3_key_parameters()
    return traced


def _drop_s3_key_parameters() -> None:
    # Imported only when tracing is on: the botocore patch has imported it already by then.
    from aws_xray_sdk.ext import boto_utils

    for operation in boto_utils.whitelist["services"]["s3"]["operations"].values():
        kept = [p for p in operation.get("request_parameters", []) if p not in _KEY_PARAMETERS]
        if "request_parameters" in operation:
            operation["request_parameters"] = kept
