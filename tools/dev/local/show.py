"""What a running `make local` stored: every object version in its bucket and every item in its table.

    python -m tools.dev.local.show --outputs local-outputs.json    (what `make local-show` runs)

It reads the outputs file the server wrote (BucketName, TableName, AwsEndpointUrl) and asks the
emulated AWS with the local account's dummy credentials, so it can reach nothing else. One JSON
object a line: first the objects (key, version, size, content type, encryption), then the items.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
REGION = "us-east-1"


def local_outputs(path: Path) -> Mapping[str, str]:
    """The one stack in a `make local` outputs file; exits with one line if there is none."""
    try:
        stacks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SystemExit(f"local-show: cannot read {path} ({error}): is `make local` running?") from None
    for outputs in stacks.values():
        if {"BucketName", "TableName", "AwsEndpointUrl"} <= outputs.keys():
            return dict(outputs)
    raise SystemExit(f"local-show: {path} is not a `make local` outputs file (no AwsEndpointUrl)")


def aws_cli_commands(outputs: Mapping[str, str]) -> list[str]:
    """The same look with the AWS CLI, for the banner and docs/local-mode.md."""
    prefix = (
        f"AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={REGION} "
        f"aws --endpoint-url {outputs['AwsEndpointUrl']}"
    )
    return [
        f"{prefix} s3api list-object-versions --bucket {outputs['BucketName']}",
        f"{prefix} dynamodb scan --table-name {outputs['TableName']}",
    ]


def stored(outputs: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    """One record per object version, then one per table item."""
    import boto3
    from boto3.dynamodb.types import TypeDeserializer

    session = boto3.Session(**DUMMY_CREDENTIALS, region_name=REGION)
    endpoint = outputs["AwsEndpointUrl"]
    s3 = session.client("s3", endpoint_url=endpoint)
    bucket = outputs["BucketName"]
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            head = s3.head_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
            yield {
                "bucket": bucket,
                "key": version["Key"],
                "versionId": version["VersionId"],
                "latest": version["IsLatest"],
                "size": version["Size"],
                "contentType": head.get("ContentType"),
                "encryption": head.get("ServerSideEncryption"),
                "kmsKey": head.get("SSEKMSKeyId"),
            }
    deserialize = TypeDeserializer().deserialize
    table = outputs["TableName"]
    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page.get("Items", []):
            yield {"table": table, "item": {name: deserialize(value) for name, value in item.items()}}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: printed as written (29.99 stays 29.99)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(str(value))
    raise TypeError(f"not JSON: {type(value).__name__}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.dev.local.show", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--outputs", type=Path, default=Path("local-outputs.json"), help="the outputs file `make local` wrote"
    )
    args = parser.parse_args(argv)
    outputs = local_outputs(args.outputs)
    count = 0
    for record in stored(outputs):
        print(json.dumps(record, default=_plain, sort_keys=True))
        count += 1
    if not count:
        print(f"nothing stored yet in {outputs['BucketName']} or {outputs['TableName']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
