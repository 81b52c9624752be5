"""Upload one file to the upload API and print what it stored.

    python -m tools.dev.upload lamp.png --product-id p-1 --product-name "Desk lamp" --price 29.99
    python -m tools.dev.upload lamp.png ... --outputs outputs.json       # cdk deploy --outputs-file
    python -m tools.dev.upload lamp.png ... --url https://{id}.execute-api.{region}.amazonaws.com/dev/upload

Two paths, chosen by size. A file of at most 4 MiB goes inline: base64 in `fileContent`, and the
API's 201 body is printed. A larger one (or any, with --direct) goes straight to S3: the client
computes its SHA-256 reading it in chunks, POSTs `fileSize` and `checksumSha256`, then streams the
file with the presigned PUT of the API's 202 (progress on stderr when it is a terminal). Against a
local server (its outputs file names AwsEndpointUrl) it then waits for the item and prints it;
against a deployment it prints the 202 body and the key: the item is written once S3 reports
the object, and this client does not read the table.

The target is the UploadEndpoint of the outputs file (`make local` writes local-outputs.json,
the default) or --url. A target that is not on a loopback address is signed with SigV4
(service execute-api) using the default AWS credential chain (environment, profile, SSO,
instance role), as the API's IAM authorization requires; the local server checks no signature.
The S3 PUT carries no credentials: the presigned URL is its authorization.

Exit status: 0 the API answered 2xx (and a direct upload was stored), 1 the API or S3 answered an
error (status, message and each field error are printed to stderr) or the item did not appear in
time, 2 the request could not be made.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import httpx

from tools.common.sigv4 import SigV4, region_of
from tools.dev.upload import direct
from tools.dev.upload.request import RequestError, Upload, body, direct_body
from tools.pipeline_checks.verify.target import SetupError, is_loopback, target_from_outputs

DEFAULT_OUTPUTS = Path("local-outputs.json")
TIMEOUT_S = 60.0  # API Gateway gives up at 29 s; a 4 MiB body on a slow link needs the rest


class ClientError(Exception):
    """The upload could not be attempted: no target, no credentials. Exit status 2."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.dev.upload",
        description=__doc__.split("\n\n")[0],
        epilog="Exit status: 0 stored, 1 the API or S3 answered an error (or no item in time), "
        "2 the request could not be made.",
    )
    parser.add_argument(
        "file", type=Path, help="the file to upload: inline up to 4 MiB, straight to S3 above (up to 5 GiB)"
    )
    parser.add_argument("--product-id", required=True, help="productId, e.g. p-1")
    parser.add_argument("--product-name", required=True, help="productName, e.g. 'Desk lamp'")
    parser.add_argument(
        "--price", required=True, help="price as a JSON number, sent exactly as typed (e.g. 29.99)"
    )
    parser.add_argument(
        "--content-type", help="the file's MIME type (default: the API's application/octet-stream)"
    )
    parser.add_argument("--file-name", help="fileName to store (default: the file's own name)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--outputs",
        type=Path,
        help="outputs file with an UploadEndpoint (make local, cdk deploy --outputs-file; "
        f"default {DEFAULT_OUTPUTS})",
    )
    where.add_argument(
        "--url",
        help="the upload endpoint, e.g. https://ID.execute-api.REGION.amazonaws.com/dev/upload "
        "(or the stage URL ending in /)",
    )
    parser.add_argument("--stack", help="which stack of the outputs file, if it has several")
    parser.add_argument(
        "--region", help="region to sign for (default: the one in the URL, else your profile's)"
    )
    parser.add_argument(
        "--no-sign", action="store_true", help="never sign (an API deployed with apiAuth: none)"
    )
    parser.add_argument(
        "--direct", action="store_true", help="send the file straight to S3 even if it would fit inline"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="local server, direct path: how long to wait for the item (default 60)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser.parse_args(argv)


def endpoint(args: argparse.Namespace) -> str:
    return resolve(args)[0]


def resolve(args: argparse.Namespace) -> tuple[str, dict[str, str]]:
    """The upload endpoint, and the outputs it came from (none for --url)."""
    if args.url:
        # The stage URL (the ApiUrl output, ending in "/") names the API; its endpoint is under it.
        return (f"{args.url}upload" if str(args.url).endswith("/") else str(args.url)), {}
    try:
        target = target_from_outputs(args.outputs or DEFAULT_OUTPUTS, args.stack)
        return target.upload_endpoint, dict(target.outputs)
    except SetupError as error:
        hint = " (start `make local`, or pass --outputs FILE or --url URL)" if not args.outputs else ""
        raise ClientError(f"{error}{hint}") from None


def auth_for(url: str, region: str | None, no_sign: bool) -> httpx.Auth | None:
    """SigV4 with the default credential chain for anything off loopback; nothing for the local server."""
    if no_sign or is_loopback(url):
        return None
    import boto3  # only a signed upload needs it

    session = boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise ClientError(
            "no AWS credentials to sign with: configure the default chain (aws configure, AWS_PROFILE, "
            "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), or pass --no-sign for an API without IAM auth"
        )
    signing_region = region or region_of(url) or session.region_name
    if not signing_region:
        raise ClientError(f"cannot tell the region of {url}: pass --region")
    return SigV4(credentials, signing_region)


def report(response: httpx.Response, out: TextIO, err: TextIO) -> int:
    """Print the answer: the 2xx body on `out`; otherwise status, message and field errors on `err`."""
    try:
        document: Any = response.json()
    except ValueError:
        document = None
    if response.is_success:
        print(json.dumps(document, indent=2) if document is not None else response.text, file=out)
        return 0
    message = document.get("message") if isinstance(document, dict) else None
    print(f"upload failed: HTTP {response.status_code}: {message or response.text.strip()}", file=err)
    for error in document.get("errors", []) if isinstance(document, dict) else []:
        print(f"  - {error}", file=err)
    return 1


def main(argv: Sequence[str] | None = None, transport: httpx.BaseTransport | None = None) -> int:
    args = parse_args(argv)
    upload = Upload(
        args.file, args.product_id, args.product_name, args.price, args.file_name, args.content_type
    )
    url = "the API"
    try:
        url, outputs = resolve(args)
        auth = auth_for(url, args.region, args.no_sign)
        with httpx.Client(auth=auth, timeout=TIMEOUT_S, transport=transport) as client:
            if (
                not args.direct
                and upload.path.is_file()
                and upload.path.stat().st_size <= direct.INLINE_LIMIT_BYTES
            ):
                response = client.post(url, content=body(upload), headers=JSON)
                return report(response, sys.stdout, sys.stderr)
            size, sha256 = direct.file_digest(upload.path)
            response = client.post(url, content=direct_body(upload, size, sha256), headers=JSON)
        if response.status_code != 202:
            return report(response, sys.stdout, sys.stderr)
        return send_direct(args, upload, response.json(), size, outputs, transport)
    except (RequestError, ClientError) as error:
        print(f"upload: {error}", file=sys.stderr)
        return 2
    except httpx.HTTPError as error:
        print(f"upload: no answer from {url}: {error}", file=sys.stderr)
        return 2


JSON = {"Content-Type": "application/json"}


def send_direct(
    args: argparse.Namespace,
    upload: Upload,
    accepted: dict[str, Any],
    size: int,
    outputs: dict[str, str],
    transport: httpx.BaseTransport | None,
) -> int:
    """PUT the file to the 202's URL; then the item (local server) or the 202 body (deployment)."""
    show_progress = not args.quiet and sys.stderr.isatty()
    progress = direct.Progress(size, sys.stderr if show_progress else None)
    # No API credentials on this request: the presigned URL is its whole authorization.
    with httpx.Client(timeout=httpx.Timeout(TIMEOUT_S, write=None), transport=transport) as s3:
        put = direct.put_file(s3, accepted["upload"], upload.path, size, progress)
    if not put.is_success:
        print(f"upload failed: S3 refused the file: {direct.s3_refusal(put)}", file=sys.stderr)
        return 1
    key = accepted["file"]["key"]
    if "AwsEndpointUrl" not in outputs or "TableName" not in outputs:
        print(json.dumps(accepted, indent=2))
        print(f"sent {size} bytes to {key}; the item is written once S3 reports the object", file=sys.stderr)
        return 0
    item = direct.wait_for_item(outputs, upload.product_id, upload.product_name, key, args.wait)
    if item is None:
        print(f"upload: S3 stored {key} but no item pointed at it within {args.wait:g} s", file=sys.stderr)
        return 1
    print(json.dumps(item, indent=2, default=direct.plain))
    return 0
