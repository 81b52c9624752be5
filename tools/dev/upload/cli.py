"""Upload one file to the upload API and print what it answered.

    python -m tools.dev.upload lamp.png --product-id p-1 --product-name "Desk lamp" --price 29.99
    python -m tools.dev.upload lamp.png ... --outputs outputs.json       # cdk deploy --outputs-file
    python -m tools.dev.upload lamp.png ... --url https://{id}.execute-api.{region}.amazonaws.com/dev/upload

The target is the UploadEndpoint of the outputs file (`make local` writes local-outputs.json,
the default) or --url. A target that is not on a loopback address is signed with SigV4
(service execute-api) using the default AWS credential chain (environment, profile, SSO,
instance role), as the API's IAM authorization requires; the local server checks no signature.

Exit status: 0 the API answered 2xx (its body is printed), 1 it answered an error (status,
message and each field error are printed to stderr), 2 the request could not be made.
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
from tools.dev.upload.request import RequestError, Upload, body
from tools.pipeline_checks.verify.target import SetupError, is_loopback, target_from_outputs

DEFAULT_OUTPUTS = Path("local-outputs.json")
TIMEOUT_S = 60.0  # API Gateway gives up at 29 s; a 4 MiB body on a slow link needs the rest


class ClientError(Exception):
    """The upload could not be attempted: no target, no credentials. Exit status 2."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.dev.upload",
        description=__doc__.split("\n\n")[0],
        epilog="Exit status: 0 stored (2xx), 1 the API answered an error, 2 the request could not be made.",
    )
    parser.add_argument("file", type=Path, help="the file to upload (at most 4 MiB)")
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
    return parser.parse_args(argv)


def endpoint(args: argparse.Namespace) -> str:
    if args.url:
        # The stage URL (the ApiUrl output, ending in "/") names the API; its endpoint is under it.
        return f"{args.url}upload" if str(args.url).endswith("/") else str(args.url)
    try:
        return target_from_outputs(args.outputs or DEFAULT_OUTPUTS, args.stack).upload_endpoint
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
    try:
        content = body(upload)
        url = endpoint(args)
        auth = auth_for(url, args.region, args.no_sign)
        with httpx.Client(auth=auth, timeout=TIMEOUT_S, transport=transport) as client:
            response = client.post(url, content=content, headers={"Content-Type": "application/json"})
    except (RequestError, ClientError) as error:
        print(f"upload: {error}", file=sys.stderr)
        return 2
    except httpx.HTTPError as error:
        print(f"upload: no answer from {url}: {error}", file=sys.stderr)
        return 2
    return report(response, sys.stdout, sys.stderr)
